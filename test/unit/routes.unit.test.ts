import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/app/routes.js';

describe('the routes of the service', () => {
  it('are exactly the subjects of API.md, each once', () => {
    expect(ROUTES.map((r) => `${r.kind}.${r.name}`).sort()).toEqual(
      [
        'cmd.proxy.enable',
        'cmd.proxy.disable',
        'cmd.authorize',
        'cmd.rotate',
        'cmd.revoke',
        'cmd.ticket.submit',
        'cmd.ticket.approve',
        'cmd.ticket.reject',
        'query.key',
        'query.grant',
        'query.grants',
        'query.proxies',
        'query.tickets',
        'query.access-at',
      ].sort(),
    );
  });
});
