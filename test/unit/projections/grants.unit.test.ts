import { describe, expect, it } from 'vitest';
import { DomainError, type DomainEvent, type Policy } from '../../../domain/index.js';
import { getGrant, grantsProjection, listGrants, replay, type Grant, type GrantsView } from '../../../projections/index.js';
import { accessGranted, admin, carol, INSTANCE, later, newKey, OTHER_INSTANCE, owner, proxyDisabled, proxyEnabled, sealedAccount, T0 } from '../../support/fixtures.js';
import { accessKeyExpired, accessKeyRotated, accessKeyViewed, accessRevoked, recorder, viewJson } from '../../support/recorded.js';

const build = (...events: DomainEvent[]) => {
  const store = recorder();
  return { store, view: replay(grantsProjection, store.record(...events)) };
};

const grantOf = (view: GrantsView, userId = 'bob', now = later(60)): Grant => {
  const grant = getGrant(view, INSTANCE, userId, now);
  if (grant === undefined) throw new Error(`no grant for ${userId}`);
  return grant;
};

const ROTATE_HOURLY: Policy = { type: 'rotate', intervalSeconds: 3600 };
const expiring = (expiresAt: string) => ({ policy: { type: 'expire', expiresAt } as const, notAfter: expiresAt });

describe('Grants', () => {
  describe('when a user is authorized', () => {
    it('shows the grant as API.md describes it, without secrets and without revokedAt', () => {
      const k1 = newKey();
      const { view } = build(proxyEnabled(), accessGranted(k1, { policy: ROTATE_HOURLY, rotatesAt: later(3600) }));
      const grant = grantOf(view);
      expect(grant).toEqual({
        instanceId: INSTANCE,
        userId: 'bob',
        status: 'active',
        accessId: k1.accessId,
        policy: ROTATE_HOURLY,
        databaseAccount: { username: 'keyward_proxy', custom: false },
        origin: { type: 'direct', by: admin.userId },
        notAfter: null,
        rotatesAt: later(3600),
        grantedAt: T0,
        grantedBy: admin.userId,
        version: 0,
      });
      expect('revokedAt' in grant).toBe(false);
    });

    it('names a custom account by its user name only', () => {
      const custom = sealedAccount('bob_ro', 'bob-password');
      const { view } = build(proxyEnabled(), accessGranted(newKey(), { databaseAccount: { kind: 'custom', ...custom } }));
      expect(grantOf(view).databaseAccount).toEqual({ username: 'bob_ro', custom: true });
      expect(viewJson(view)).not.toContain(custom.passwordSealed);
    });

    it('knows nobody else', () => {
      const { view } = build(proxyEnabled(), accessGranted(newKey()));
      expect(getGrant(view, INSTANCE, carol.userId, T0)).toBeUndefined();
      expect(getGrant(view, OTHER_INSTANCE, 'bob', T0)).toBeUndefined();
    });
  });

  describe('when the key is rotated and viewed', () => {
    it('follows the newest key through a chain of rotations, with and without overlap', () => {
      const [k1, k2, k3, k4] = [newKey(), newKey(), newKey(), newKey()];
      const { view } = build(
        proxyEnabled(),
        accessGranted(k1, { policy: ROTATE_HOURLY, rotatesAt: later(3600) }),
        accessKeyRotated(k1, k2, { rotatedAt: later(3600), rotatesAt: later(7200), reason: 'scheduled' }),
        accessKeyRotated(k2, k3, { rotatedAt: later(4000), previousNotAfter: later(4300), rotatesAt: later(7600) }),
        accessKeyViewed(k3, { viewedAt: later(4100) }),
        accessKeyRotated(k3, k4, { rotatedAt: later(4200), rotatesAt: later(7800) }),
      );
      expect(grantOf(view, 'bob', later(4200))).toMatchObject({ status: 'active', accessId: k4.accessId, rotatesAt: later(7800), grantedAt: T0, version: 4 });
    });
  });

  describe('when the key is past its notAfter', () => {
    it('shows the grant expired at query time, before AccessKeyExpired is recorded', () => {
      const { view } = build(proxyEnabled(), accessGranted(newKey(), expiring(later(300))));
      expect(grantOf(view, 'bob', later(299)).status).toBe('active');
      expect(grantOf(view, 'bob', later(300))).toMatchObject({ status: 'expired', rotatesAt: null });
      expect(listGrants(view, { instanceId: INSTANCE, status: 'active' }, later(300)).items).toEqual([]);
      expect(listGrants(view, { instanceId: INSTANCE, status: 'expired' }, later(300)).items.map((g) => g.userId)).toEqual(['bob']);
    });

    it('shows the grant expired once AccessKeyExpired is recorded', () => {
      const k1 = newKey();
      const { view } = build(proxyEnabled(), accessGranted(k1, expiring(later(300))), accessKeyExpired(k1, { expiredAt: later(300) }));
      expect(grantOf(view, 'bob', later(100))).toMatchObject({ status: 'expired', rotatesAt: null, version: 1 });
    });
  });

  describe('when the grant is recycled, then released', () => {
    it('is listed as revoked after the recycle and not at all after the release', () => {
      const k1 = newKey();
      const { view, store } = build(proxyEnabled(), accessGranted(k1, { policy: ROTATE_HOURLY, rotatesAt: later(3600) }), accessRevoked(k1, 'recycle', { revokedAt: later(100) }));
      expect(grantOf(view)).toMatchObject({ status: 'revoked', revokedAt: later(100), rotatesAt: null, accessId: k1.accessId, version: 1 });
      expect(listGrants(view, { instanceId: INSTANCE, status: 'revoked' }, later(200)).items.map((g) => g.userId)).toEqual(['bob']);

      replay(grantsProjection, store.record(accessRevoked(k1, 'release', { revokedAt: later(200) })), view);
      expect(getGrant(view, INSTANCE, 'bob', later(300))).toBeUndefined();
      expect(listGrants(view, { instanceId: INSTANCE }, later(300)).items).toEqual([]);
    });
  });

  describe('when a user is authorized again', () => {
    it('after a release, shows the new grant with the stream’s revision as version', () => {
      const [k1, k2] = [newKey(), newKey()];
      const { view } = build(
        proxyEnabled(),
        accessGranted(k1),
        accessRevoked(k1, 'release', { revokedAt: later(100) }),
        accessGranted(k2, { grantedAt: later(200), grantedBy: owner.userId, origin: { type: 'ticket', ticketId: 't-1', approvedBy: owner.userId } }),
      );
      const grant = grantOf(view, 'bob', later(300));
      expect(grant).toMatchObject({ status: 'active', accessId: k2.accessId, grantedAt: later(200), grantedBy: owner.userId, version: 2 });
      expect(grant.origin).toEqual({ type: 'ticket', ticketId: 't-1', approvedBy: owner.userId });
      expect('revokedAt' in grant).toBe(false);
    });

    it('after a recycle, shows the new grant active', () => {
      const [k1, k2] = [newKey(), newKey()];
      const { view } = build(proxyEnabled(), accessGranted(k1), accessRevoked(k1, 'recycle', { revokedAt: later(100) }), accessGranted(k2, { grantedAt: later(200) }));
      expect(grantOf(view, 'bob', later(300))).toMatchObject({ status: 'active', accessId: k2.accessId, version: 2 });
      expect('revokedAt' in grantOf(view, 'bob', later(300))).toBe(false);
    });
  });

  describe('when the proxy is disabled', () => {
    const setup = () =>
      build(
        proxyEnabled(),
        proxyEnabled({ instanceId: OTHER_INSTANCE }),
        accessGranted(newKey(), { policy: ROTATE_HOURLY, rotatesAt: later(3600) }),
        accessGranted(newKey(), { userId: carol.userId, ...expiring(later(100)) }),
        accessGranted(newKey(), { instanceId: OTHER_INSTANCE }),
        proxyDisabled({ disabledAt: later(200) }),
      );

    it('revokes every grant of the instance at disabledAt, an expired-by-time one included, and no other', () => {
      const { view } = setup();
      expect(grantOf(view, 'bob', later(300))).toMatchObject({ status: 'revoked', revokedAt: later(200), rotatesAt: null, version: 0 });
      expect(grantOf(view, carol.userId, later(300))).toMatchObject({ status: 'revoked', revokedAt: later(200) });
      expect(getGrant(view, OTHER_INSTANCE, 'bob', later(300))?.status).toBe('active');
    });

    it('revokes from birth an AccessGranted of the disabled epoch recorded after the disable', () => {
      const { view, store } = setup();
      replay(grantsProjection, store.record(accessGranted(newKey(), { userId: 'dave', grantedAt: later(150), policy: ROTATE_HOURLY, rotatesAt: later(3750) })), view);
      expect(grantOf(view, 'dave', later(300))).toMatchObject({ status: 'revoked', revokedAt: later(150), rotatesAt: null });
    });

    it('keeps a revoked grant revoked when a racing AccessKeyExpired arrives', () => {
      const k1 = newKey();
      const { view } = build(proxyEnabled(), accessGranted(k1, expiring(later(300))), proxyDisabled({ disabledAt: later(200) }), accessKeyExpired(k1, { expiredAt: later(300) }));
      expect(grantOf(view, 'bob', later(400))).toMatchObject({ status: 'revoked', revokedAt: later(200) });
    });

    it('keeps the disable as the revocation when a recycle decided before it is recorded after it', () => {
      const k1 = newKey();
      const { view } = build(proxyEnabled(), accessGranted(k1), proxyDisabled({ disabledAt: later(200) }), accessRevoked(k1, 'recycle', { revokedAt: later(190) }));
      expect(grantOf(view, 'bob', later(400))).toMatchObject({ status: 'revoked', revokedAt: later(200), version: 1 });
    });

    it('after a re-enable with epoch 2, old grants stay revoked, new ones are active and stale ones are revoked', () => {
      const { view, store } = setup();
      replay(
        grantsProjection,
        store.record(
          proxyEnabled({ epoch: 2, enabledAt: later(300) }),
          accessGranted(newKey(), { userId: 'erin', proxyEpoch: 2, grantedAt: later(400) }),
          accessGranted(newKey(), { userId: 'dave', proxyEpoch: 1, grantedAt: later(410) }),
        ),
        view,
      );
      expect(listGrants(view, { instanceId: INSTANCE }, later(500)).items.map((g) => [g.userId, g.status])).toEqual([
        ['bob', 'revoked'],
        ['carol', 'revoked'],
        ['dave', 'revoked'],
        ['erin', 'active'],
      ]);
    });
  });

  describe('when grants are listed page by page', () => {
    const users = ['eve', 'bob', 'dan', 'ann', 'cid'];
    const keys = users.map(() => newKey());
    const setup = () => build(proxyEnabled(), ...users.map((userId, i) => accessGranted(keys[i] ?? newKey(), { userId })));

    it('gives them sorted by userId, with a cursor to the next page until the last', () => {
      const { view } = setup();
      const first = listGrants(view, { instanceId: INSTANCE, limit: 2 }, T0);
      expect(first.items.map((g) => g.userId)).toEqual(['ann', 'bob']);
      expect(first.nextCursor).not.toBeNull();
      const second = listGrants(view, { instanceId: INSTANCE, limit: 2, cursor: first.nextCursor ?? '' }, T0);
      expect(second.items.map((g) => g.userId)).toEqual(['cid', 'dan']);
      const third = listGrants(view, { instanceId: INSTANCE, limit: 2, cursor: second.nextCursor ?? '' }, T0);
      expect(third).toMatchObject({ nextCursor: null });
      expect(third.items.map((g) => g.userId)).toEqual(['eve']);
      expect(listGrants(view, { instanceId: INSTANCE }, T0)).toMatchObject({ nextCursor: null });
    });

    it('continues after the last item given even if that grant left the listing meanwhile', () => {
      const { view, store } = setup();
      const first = listGrants(view, { instanceId: INSTANCE, limit: 2 }, T0);
      replay(grantsProjection, store.record(accessRevoked(keys[1] ?? newKey(), 'release', { revokedAt: later(10) })), view);
      const next = listGrants(view, { instanceId: INSTANCE, limit: 2, cursor: first.nextCursor ?? '' }, later(20));
      expect(next.items.map((g) => g.userId)).toEqual(['cid', 'dan']);
    });

    it('refuses a cursor it did not give out, as a VALIDATION error', () => {
      const { view } = setup();
      for (const cursor of ['%%%', 'Ym9i!', btoa('not an id.')]) {
        expect(() => listGrants(view, { instanceId: INSTANCE, cursor }, T0)).toThrow(DomainError);
      }
      const refusal = (() => {
        try {
          listGrants(view, { instanceId: INSTANCE, cursor: '%%%' }, T0);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(refusal).toMatchObject({ code: 'VALIDATION', details: [{ path: 'cursor' }] });
    });
  });

  it('holds no sealed value in its view', () => {
    const [k1, k2] = [newKey(), newKey()];
    const { view } = build(proxyEnabled(), accessGranted(k1), accessKeyRotated(k1, k2));
    const json = viewJson(view);
    expect(json).toContain(k2.accessId);
    for (const sealed of [k1.secretSealed, k2.secretSealed]) expect(json).not.toContain(sealed);
    expect(json).not.toMatch(/secretSealed|passwordSealed/);
  });
});
