import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/app/routes.js';

describe('the routes of the service', () => {
  it('are exactly the subjects of API.md and the one added since, each once', () => {
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
        // added with the relay (API.md allows adding)
        'query.enforcement',
      ].sort(),
    );
  });
});
