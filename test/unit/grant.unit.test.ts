import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { issueKey } from '../../src/crypto.js';
import type { AccessKeyRotated, Actor, Authorize, Policy, Revoke, RotateKey } from '../../domain/index.js';
import {
  accessGranted,
  admin,
  bob,
  carol,
  dba,
  INSTANCE,
  later,
  masterKey,
  newKey,
  owner,
  proxyDisabled,
  proxyEnabled,
  sealedAccount,
  system,
  T0,
} from '../support/fixtures.js';
import { given } from '../support/spec.js';

const authorize = (actor: Actor = admin, over: Partial<Authorize> = {}): Authorize => ({
  type: 'Authorize',
  actor,
  instanceId: INSTANCE,
  userId: bob.userId,
  databaseAccount: null,
  policy: { type: 'system' },
  ...over,
});
const rotate = (actor: Actor = bob, overlapSeconds = 0): RotateKey => ({ type: 'RotateKey', actor, instanceId: INSTANCE, userId: bob.userId, overlapSeconds });
const view = (actor: Actor = bob) => ({ type: 'ViewKey' as const, actor, instanceId: INSTANCE, userId: bob.userId });
const revoke = (mode: Revoke['mode'], actor: Actor = admin): Revoke => ({ type: 'Revoke', actor, instanceId: INSTANCE, userId: bob.userId, mode });
const rotateOnSchedule = (dueAt: string, actor: Actor = system) => ({ type: 'RotateOnSchedule' as const, actor, instanceId: INSTANCE, userId: bob.userId, dueAt });
const expire = (actor: Actor = system) => ({ type: 'ExpireKey' as const, actor, instanceId: INSTANCE, userId: bob.userId });

const firstKey = newKey();
const granted = accessGranted(firstKey);
const revokedAt = later(600);
const recycled = { type: 'AccessRevoked' as const, data: { instanceId: INSTANCE, userId: bob.userId, accessId: firstKey.accessId, mode: 'recycle' as const, revokedBy: admin.userId, revokedAt } };
const released = { ...recycled, data: { ...recycled.data, mode: 'release' as const } };

const rotated = (key = newKey(), over: Partial<AccessKeyRotated['data']> = {}): AccessKeyRotated => ({
  type: 'AccessKeyRotated',
  data: {
    instanceId: INSTANCE,
    userId: bob.userId,
    accessId: key.accessId,
    secretSealed: key.secretSealed,
    verifiers: key.verifiers,
    previousAccessId: firstKey.accessId,
    previousNotAfter: later(60),
    notAfter: null,
    rotatesAt: null,
    reason: 'manual',
    rotatedBy: bob.userId,
    rotatedAt: later(60),
    ...over,
  },
});

describe('Authorize', () => {
  describe('when the proxy is enabled and the user holds no access', () => {
    it('admin, dba and the proxy owner may authorize one user, with the proxy account by default', () => {
      for (const actor of [admin, dba, owner]) {
        const key = newKey();
        given(proxyEnabled())
          .when(authorize(actor), { newKey: key })
          .then(accessGranted(key, { origin: { type: 'direct', by: actor.userId }, grantedBy: actor.userId }));
      }
    });

    it('a regular user who does not own the proxy may not authorize anyone, themself included', () => {
      given(proxyEnabled()).when(authorize(bob)).thenFails('FORBIDDEN');
      given(proxyEnabled()).when(authorize(carol)).thenFails('FORBIDDEN');
    });

    it('records a custom account with its password sealed, never in plaintext', () => {
      const account = sealedAccount('report_reader', 'S3cret-report-pass');
      const key = newKey();
      const outcome = given(proxyEnabled()).when(authorize(admin, { databaseAccount: account }), { newKey: key });
      outcome.then(accessGranted(key, { databaseAccount: { kind: 'custom', username: 'report_reader', passwordSealed: account.passwordSealed } }));
      expect(JSON.stringify(outcome.result)).not.toContain('S3cret-report-pass');
      expect(masterKey.unseal(account.passwordSealed).reveal()).toBe('S3cret-report-pass');
    });

    it('records the sealed secret and its verifiers, never the AccessSecret itself', () => {
      const { key, secret } = issueKey(masterKey);
      const outcome = given(proxyEnabled()).when(authorize(), { newKey: key });
      const json = JSON.stringify(outcome.result);
      expect(json).toContain(key.secretSealed);
      expect(json).not.toContain(secret.reveal());
    });
  });

  describe('the security policy', () => {
    const at = (policy: Policy) => given(proxyEnabled()).when(authorize(admin, { policy }), { now: T0 });

    it('system: no rotation, no expiry', () => {
      expect(at({ type: 'system' }).result).toMatchObject({ right: [{ data: { notAfter: null, rotatesAt: null } }] });
    });

    it('rotate: the next rotation is one interval from now', () => {
      expect(at({ type: 'rotate', intervalSeconds: 3600 }).result).toMatchObject({ right: [{ data: { notAfter: null, rotatesAt: later(3600) } }] });
    });

    it('expire: the pair stops working at the given time', () => {
      expect(at({ type: 'expire', expiresAt: later(86400) }).result).toMatchObject({ right: [{ data: { notAfter: later(86400), rotatesAt: null } }] });
    });

    it('expire: a time that is not in the future is refused, naming the field', () => {
      for (const expiresAt of [T0, later(-1)]) {
        const error = at({ type: 'expire', expiresAt }).thenFails('VALIDATION');
        expect(error.details).toEqual([{ path: 'policy.expiresAt', message: 'must be in the future' }]);
        expect(error.message).toBe('policy.expiresAt: must be in the future');
      }
    });
  });

  describe('when the user already holds active access', () => {
    it('is a conflict', () => {
      given(proxyEnabled(), granted).when(authorize()).thenFails('CONFLICT', /already holds an active AccessKey pair/);
    });
  });

  describe('when the user held access that ended', () => {
    it('after recycle, after release or after expiry, the user may be authorized again', () => {
      const expiring = accessGranted(firstKey, { policy: { type: 'expire', expiresAt: later(60) }, notAfter: later(60) });
      for (const history of [[granted, recycled], [granted, recycled, released], [granted, released], [expiring]]) {
        const key = newKey();
        given(proxyEnabled(), ...history)
          .when(authorize(), { newKey: key, now: later(3600) })
          .then(accessGranted(key, { grantedAt: later(3600) }));
      }
    });

    it('after the proxy was disabled and enabled again, the grant belongs to the new epoch', () => {
      const key = newKey();
      given(proxyEnabled(), granted, proxyDisabled(), proxyEnabled({ epoch: 2, enabledAt: later(7200) }))
        .when(authorize(), { newKey: key, now: later(7300) })
        .then(accessGranted(key, { proxyEpoch: 2, grantedAt: later(7300) }));
    });
  });

  describe('when there is no usable proxy', () => {
    it('no proxy for the instance: not found', () => {
      given().when(authorize()).thenFails('NOT_FOUND', /no proxy/);
    });

    it('a disabled proxy: conflict', () => {
      given(proxyEnabled(), proxyDisabled()).when(authorize()).thenFails('CONFLICT', /disabled/);
    });
  });
});

describe('RotateKey (Update)', () => {
  describe('when the grant is active', () => {
    it('the user themself, an admin or a dba may rotate; the previous pair is invalid at once', () => {
      for (const actor of [bob, admin, dba]) {
        const key = newKey();
        given(proxyEnabled(), granted)
          .when(rotate(actor), { newKey: key, now: later(60) })
          .then(rotated(key, { rotatedBy: actor.userId, previousNotAfter: later(60) }));
      }
    });

    it('a regular user who owns the proxy may not rotate another user’s key', () => {
      given(proxyEnabled(), granted).when(rotate(owner)).thenFails('FORBIDDEN');
      given(proxyEnabled(), granted).when(rotate(carol)).thenFails('FORBIDDEN');
    });

    it('an overlap keeps the previous pair working for that long', () => {
      const key = newKey();
      given(proxyEnabled(), granted)
        .when(rotate(bob, 300), { newKey: key, now: later(60) })
        .then(rotated(key, { previousNotAfter: later(360) }));
    });

    it('a rotate policy moves the next scheduled rotation to one interval after this one', () => {
      const policy: Policy = { type: 'rotate', intervalSeconds: 3600 };
      const key = newKey();
      given(proxyEnabled(), accessGranted(firstKey, { policy, rotatesAt: later(3600) }))
        .when(rotate(), { newKey: key, now: later(60) })
        .then(rotated(key, { rotatesAt: later(3660) }));
    });

    it('an expire policy keeps the grant’s expiry time for the new pair', () => {
      const key = newKey();
      given(proxyEnabled(), accessGranted(firstKey, { policy: { type: 'expire', expiresAt: later(86400) }, notAfter: later(86400) }))
        .when(rotate(), { newKey: key, now: later(60) })
        .then(rotated(key, { notAfter: later(86400) }));
    });

    it('each rotation replaces the pair made by the one before', () => {
      const second = newKey();
      const third = newKey();
      given(proxyEnabled(), granted, rotated(second))
        .when(rotate(), { newKey: third, now: later(120) })
        .then(rotated(third, { previousAccessId: second.accessId, previousNotAfter: later(120), rotatedAt: later(120) }));
    });
  });

  describe('when the grant is not active', () => {
    it('revoked, expired, or its proxy disabled: conflict', () => {
      given(proxyEnabled(), granted, recycled).when(rotate()).thenFails('CONFLICT', /revoked/);
      given(proxyEnabled(), accessGranted(firstKey, { notAfter: later(60) })).when(rotate(), { now: later(60) }).thenFails('CONFLICT', /expired/);
      given(proxyEnabled(), granted, proxyDisabled()).when(rotate(), { now: later(7200) }).thenFails('CONFLICT', /revoked/);
    });

    it('released or never granted: not found', () => {
      given(proxyEnabled(), granted, released).when(rotate()).thenFails('NOT_FOUND');
      given(proxyEnabled()).when(rotate()).thenFails('NOT_FOUND');
    });
  });
});

describe('RotateOnSchedule', () => {
  const policy: Policy = { type: 'rotate', intervalSeconds: 3600, overlapSeconds: 120 };
  const scheduled = accessGranted(firstKey, { policy, rotatesAt: later(3600) });

  it('when due, keyward rotates with the policy’s overlap and schedules the next one an interval after the due time', () => {
    const key = newKey();
    given(proxyEnabled(), scheduled)
      .when(rotateOnSchedule(later(3600)), { newKey: key, now: later(3601) })
      .then(rotated(key, { reason: 'scheduled', rotatedBy: system.userId, rotatedAt: later(3601), previousNotAfter: later(3721), rotatesAt: later(7200) }));
  });

  it('a rotation due while keyward was down for several intervals is made once, and the next one keeps the cadence', () => {
    const key = newKey();
    given(proxyEnabled(), scheduled)
      .when(rotateOnSchedule(later(3600)), { newKey: key, now: later(3600 * 5.5) })
      .then(rotated(key, { reason: 'scheduled', rotatedBy: system.userId, rotatedAt: later(3600 * 5.5), previousNotAfter: later(3600 * 5.5 + 120), rotatesAt: later(3600 * 6) }));
  });

  it('at the very next point of the cadence, the next rotation is a whole interval later', () => {
    const key = newKey();
    given(proxyEnabled(), scheduled)
      .when(rotateOnSchedule(later(3600)), { newKey: key, now: later(7200) })
      .then(rotated(key, { reason: 'scheduled', rotatedBy: system.userId, rotatedAt: later(7200), previousNotAfter: later(7320), rotatesAt: later(10800) }));
  });

  it('only keyward itself rotates on schedule', () => {
    given(proxyEnabled(), scheduled).when(rotateOnSchedule(later(3600), admin), { now: later(3601) }).thenFails('FORBIDDEN');
  });

  it('before the due time: conflict', () => {
    given(proxyEnabled(), scheduled).when(rotateOnSchedule(later(3600)), { now: later(3599) }).thenFails('CONFLICT', /not due/);
  });

  it('a due time that a manual rotation moved, or a second scheduler already served, does nothing', () => {
    const manual = rotated(newKey(), { rotatesAt: later(3660) });
    given(proxyEnabled(), scheduled, manual).when(rotateOnSchedule(later(3600)), { now: later(3601) }).thenNothing();
  });

  it('a revoked grant, or one whose proxy was disabled, is not rotated', () => {
    given(proxyEnabled(), scheduled, recycled).when(rotateOnSchedule(later(3600)), { now: later(3601) }).thenNothing();
    given(proxyEnabled(), scheduled, proxyDisabled({ disabledAt: later(1800) })).when(rotateOnSchedule(later(3600)), { now: later(3601) }).thenNothing();
  });
});

describe('ViewKey', () => {
  describe('when the grant is active', () => {
    it('the user themself, an admin or a dba may view it, and the view is recorded', () => {
      for (const actor of [bob, admin, dba]) {
        given(proxyEnabled(), granted)
          .when(view(actor), { now: later(5) })
          .then({ type: 'AccessKeyViewed', data: { instanceId: INSTANCE, userId: bob.userId, accessId: firstKey.accessId, viewedBy: actor.userId, viewedAt: later(5) } });
      }
    });

    it('a regular user who owns the proxy may not see another user’s secret', () => {
      given(proxyEnabled(), granted).when(view(owner)).thenFails('FORBIDDEN');
      given(proxyEnabled(), granted).when(view(carol)).thenFails('FORBIDDEN');
    });
  });

  it('a revoked key is not shown; a released or unknown grant is not found', () => {
    given(proxyEnabled(), granted, recycled).when(view()).thenFails('CONFLICT');
    given(proxyEnabled(), granted, released).when(view()).thenFails('NOT_FOUND');
    given(proxyEnabled()).when(view()).thenFails('NOT_FOUND');
  });
});

describe('Revoke', () => {
  describe('when the grant is active', () => {
    it('recycle or release, by an admin, a dba or the user themself', () => {
      for (const actor of [admin, dba, bob]) {
        for (const mode of ['recycle', 'release'] as const) {
          given(proxyEnabled(), granted)
            .when(revoke(mode, actor), { now: revokedAt })
            .then({ type: 'AccessRevoked', data: { ...recycled.data, mode, revokedBy: actor.userId } });
        }
      }
    });

    it('a regular user who owns the proxy may not revoke another user’s key', () => {
      given(proxyEnabled(), granted).when(revoke('recycle', owner)).thenFails('FORBIDDEN');
      given(proxyEnabled(), granted).when(revoke('release', carol)).thenFails('FORBIDDEN');
    });
  });

  describe('when the grant was recycled', () => {
    it('recycling again is a conflict', () => {
      given(proxyEnabled(), granted, recycled).when(revoke('recycle')).thenFails('CONFLICT', /already revoked/);
    });

    it('it may still be released, which takes it out of the listings', () => {
      given(proxyEnabled(), granted, recycled)
        .when(revoke('release'), { now: revokedAt })
        .then(released);
    });
  });

  describe('when the grant was released', () => {
    it('there is nothing left to revoke', () => {
      given(proxyEnabled(), granted, released).when(revoke('release')).thenFails('NOT_FOUND');
      given(proxyEnabled(), granted, released).when(revoke('recycle')).thenFails('NOT_FOUND');
    });
  });

  describe('when the grant expired', () => {
    it('it may be recycled or released', () => {
      const expiring = accessGranted(firstKey, { notAfter: later(60) });
      given(proxyEnabled(), expiring).when(revoke('recycle'), { now: revokedAt }).then(recycled);
      given(proxyEnabled(), expiring).when(revoke('release'), { now: revokedAt }).then(released);
    });
  });

  describe('when the proxy was disabled', () => {
    it('the grant is already revoked, and may be released', () => {
      given(proxyEnabled(), granted, proxyDisabled()).when(revoke('recycle')).thenFails('CONFLICT', /already revoked/);
      given(proxyEnabled(), granted, proxyDisabled()).when(revoke('release'), { now: revokedAt }).then(released);
    });
  });
});

describe('ExpireKey', () => {
  const expiring = accessGranted(firstKey, { policy: { type: 'expire', expiresAt: later(3600) }, notAfter: later(3600) });
  const expired = { type: 'AccessKeyExpired' as const, data: { instanceId: INSTANCE, userId: bob.userId, accessId: firstKey.accessId, expiredAt: later(3600) } };

  it('at or after the expiry time, keyward records the expiry at that time', () => {
    given(proxyEnabled(), expiring).when(expire(), { now: later(3600) }).then(expired);
    given(proxyEnabled(), expiring).when(expire(), { now: later(99999) }).then(expired);
  });

  it('before the expiry time, or without one: conflict', () => {
    given(proxyEnabled(), expiring).when(expire(), { now: later(3599) }).thenFails('CONFLICT', /does not expire until/);
    given(proxyEnabled(), granted).when(expire(), { now: later(3600) }).thenFails('CONFLICT', /no expiry/);
  });

  it('an expiry already recorded, or a grant revoked first, gets nothing more', () => {
    given(proxyEnabled(), expiring, expired).when(expire(), { now: later(3601) }).thenNothing();
    given(proxyEnabled(), expiring, recycled).when(expire(), { now: later(3601) }).thenNothing();
    given(proxyEnabled(), expiring, proxyDisabled({ disabledAt: later(1800) })).when(expire(), { now: later(3601) }).thenNothing();
  });

  it('only keyward itself records expiries', () => {
    given(proxyEnabled(), expiring).when(expire(admin), { now: later(3600) }).thenFails('FORBIDDEN');
  });
});

describe('error messages', () => {
  it('never carry a sealed value or a verifier', () => {
    const outcomes = [
      given(proxyEnabled(), granted).when(authorize()),
      given(proxyEnabled(), granted).when(rotate(owner)),
      given(proxyEnabled(), granted, recycled).when(view()),
      given(proxyEnabled(), granted, recycled).when(revoke('recycle')),
    ];
    for (const { result } of outcomes) {
      expect(E.isLeft(result)).toBe(true);
      const text = JSON.stringify(E.isLeft(result) ? { message: result.left.message, details: result.left.details } : null);
      for (const leak of [firstKey.secretSealed, firstKey.verifiers.sha256, firstKey.verifiers.mysqlNative]) expect(text).not.toContain(leak);
    }
  });
});

describe('keyward itself', () => {
  it('rotates on schedule and records expiries, but neither views, rotates by hand nor revokes', () => {
    given(proxyEnabled(), granted).when(view(system)).thenFails('FORBIDDEN');
    given(proxyEnabled(), granted).when(rotate(system)).thenFails('FORBIDDEN');
    given(proxyEnabled(), granted).when(revoke('recycle', system)).thenFails('FORBIDDEN');
    given(proxyEnabled()).when(authorize(system)).thenFails('FORBIDDEN');
  });
});
