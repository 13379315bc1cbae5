import { describe, expect, it } from 'vitest';
import type { EnableProxy } from '../../domain/index.js';
import { admin, bob, dba, INSTANCE, later, owner, PROXY_ACCOUNT, proxyDisabled, proxyEnabled, system, T0 } from '../support/fixtures.js';
import { given } from '../support/spec.js';

const enable = (actor = owner): EnableProxy => ({
  type: 'EnableProxy',
  actor,
  instanceId: INSTANCE,
  databaseAccount: PROXY_ACCOUNT,
  endpoints: [{ kind: 'private', host: '10.0.0.5', port: 3306 }],
});
const disable = (actor = admin) => ({ type: 'DisableProxy' as const, actor, instanceId: INSTANCE });

describe('Proxy', () => {
  describe('when no proxy is enabled for the instance', () => {
    it('any role may enable it and becomes its owner', () => {
      for (const actor of [owner, admin, dba]) {
        given()
          .when(enable(actor))
          .then(
            proxyEnabled({
              ownerId: actor.userId,
              endpoints: [{ kind: 'private', host: '10.0.0.5', port: 3306 }],
            }),
          );
      }
    });

    it('keyward itself does not enable proxies', () => {
      given().when(enable(system)).thenFails('FORBIDDEN');
    });

    it('cannot be disabled', () => {
      given().when(disable()).thenFails('NOT_FOUND');
    });
  });

  describe('when the proxy is enabled', () => {
    it('cannot be enabled twice', () => {
      given(proxyEnabled()).when(enable()).thenFails('CONFLICT', /already enabled/);
    });

    it('admin, dba and the owner may disable it', () => {
      for (const actor of [admin, dba, owner]) {
        given(proxyEnabled())
          .when(disable(actor), { now: later(60) })
          .then(proxyDisabled({ disabledBy: actor.userId, disabledAt: later(60) }));
      }
    });

    it('a regular user who does not own it may not disable it', () => {
      given(proxyEnabled()).when(disable(bob)).thenFails('FORBIDDEN');
    });
  });

  describe('when the proxy is disabled', () => {
    it('cannot be disabled again', () => {
      given(proxyEnabled(), proxyDisabled()).when(disable()).thenFails('CONFLICT', /already disabled/);
    });

    it('may be enabled again, as a new epoch owned by whoever enables it', () => {
      const outcome = given(proxyEnabled(), proxyDisabled()).when(enable(bob), { now: later(7200) });
      outcome.then(
        proxyEnabled({ ownerId: bob.userId, epoch: 2, enabledAt: later(7200), endpoints: [{ kind: 'private', host: '10.0.0.5', port: 3306 }] }),
      );
    });
  });

  it('records the enable time from the context clock, not from the command', () => {
    const outcome = given().when(enable(), { now: T0 });
    expect(outcome.result).toMatchObject({ right: [{ data: { enabledAt: T0 } }] });
  });
});
