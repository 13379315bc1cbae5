import { describe, expect, it } from 'vitest';
import type { DomainEvent, IssuedKey } from '../../../domain/index.js';
import { isKeyValidAt, keyEntry, keyIndexProjection, keysOfInstance, replay, type KeyEntry, type KeyIndexView } from '../../../projections/index.js';
import { accessGranted, carol, INSTANCE, later, newKey, OTHER_INSTANCE, PROXY_ACCOUNT, proxyDisabled, proxyEnabled, sealedAccount, T0 } from '../../support/fixtures.js';
import { accessKeyExpired, accessKeyRotated, accessRevoked, recorder, viewJson, type RecordedEvent } from '../../support/recorded.js';

const build = (...events: DomainEvent[]) => {
  const store = recorder();
  const recorded = store.record(...events);
  return { store, recorded, view: replay(keyIndexProjection, recorded) };
};

const entry = (view: KeyIndexView, key: IssuedKey): KeyEntry => {
  const found = keyEntry(view, key.accessId);
  if (found === undefined) throw new Error(`no entry for ${key.accessId}`);
  return found;
};

const positionOf = (recorded: readonly RecordedEvent[], type: DomainEvent['type'], nth = 0): string => {
  const event = recorded.filter((e) => e.type === type)[nth];
  if (event === undefined) throw new Error(`no ${type} #${nth}`);
  return event.position;
};

describe('Key index', () => {
  describe('when a user is authorized', () => {
    it('holds an active entry with the verifiers and the proxy account of the enablement', () => {
      const k1 = newKey();
      const { view, recorded } = build(proxyEnabled(), accessGranted(k1, { grantedAt: later(10) }));
      expect(entry(view, k1)).toEqual({
        state: 'active',
        accessId: k1.accessId,
        instanceId: INSTANCE,
        userId: 'bob',
        verifiers: k1.verifiers,
        databaseAccount: { username: PROXY_ACCOUNT.username, passwordSealed: PROXY_ACCOUNT.passwordSealed },
        notAfter: null,
        issuedAt: later(10),
        position: positionOf(recorded, 'AccessGranted'),
      });
      expect(isKeyValidAt(entry(view, k1), later(10_000_000))).toBe(true);
    });

    it('gives a custom account its own sealed password', () => {
      const k1 = newKey();
      const custom = sealedAccount('bob_ro', 'bob-password');
      const { view } = build(proxyEnabled(), accessGranted(k1, { databaseAccount: { kind: 'custom', ...custom } }));
      expect(entry(view, k1)).toMatchObject({ state: 'active', databaseAccount: custom });
    });

    it('gives the proxy account of the current enablement after a re-enable', () => {
      const k1 = newKey();
      const second = sealedAccount('keyward_proxy2', 'second-password');
      const { view } = build(
        proxyEnabled(),
        proxyDisabled(),
        proxyEnabled({ epoch: 2, databaseAccount: second, enabledAt: later(7200) }),
        accessGranted(k1, { proxyEpoch: 2, grantedAt: later(7300) }),
      );
      expect(entry(view, k1)).toMatchObject({ state: 'active', databaseAccount: { username: 'keyward_proxy', passwordSealed: second.passwordSealed } });
    });
  });

  describe('when keys are rotated without overlap', () => {
    it('revokes each replaced key at its rotation and keeps only the newest active', () => {
      const [k1, k2, k3] = [newKey(), newKey(), newKey()];
      const { view, recorded } = build(
        proxyEnabled(),
        accessGranted(k1),
        accessKeyRotated(k1, k2, { rotatedAt: later(100) }),
        accessKeyRotated(k2, k3, { rotatedAt: later(200) }),
      );
      expect(entry(view, k1)).toEqual({
        state: 'revoked',
        accessId: k1.accessId,
        instanceId: INSTANCE,
        userId: 'bob',
        reason: 'rotated',
        at: later(100),
        position: positionOf(recorded, 'AccessKeyRotated', 0),
      });
      expect(entry(view, k2)).toMatchObject({ state: 'revoked', reason: 'rotated', at: later(200), position: positionOf(recorded, 'AccessKeyRotated', 1) });
      expect(entry(view, k3)).toMatchObject({ state: 'active', issuedAt: later(200), verifiers: k3.verifiers });
      expect(keysOfInstance(view, INSTANCE).filter((e) => e.state === 'active').map((e) => e.accessId)).toEqual([k3.accessId]);
    });
  });

  describe('when keys are rotated with an overlap', () => {
    it('keeps the previous key until previousNotAfter, then a later rotation cuts it at once', () => {
      const [k1, k2, k3] = [newKey(), newKey(), newKey()];
      const { view, recorded, store } = build(
        proxyEnabled(),
        accessGranted(k1),
        accessKeyRotated(k1, k2, { rotatedAt: later(100), previousNotAfter: later(400) }),
      );
      expect(entry(view, k1)).toMatchObject({ state: 'active', notAfter: later(400), position: positionOf(recorded, 'AccessKeyRotated') });
      expect(isKeyValidAt(entry(view, k1), later(399))).toBe(true);
      expect(isKeyValidAt(entry(view, k1), later(400))).toBe(false);

      replay(keyIndexProjection, store.record(accessKeyRotated(k2, k3, { rotatedAt: later(200), previousNotAfter: later(500) })), view);
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'rotated', at: later(200) });
      expect(entry(view, k2)).toMatchObject({ state: 'active', notAfter: later(500) });
      expect(entry(view, k3)).toMatchObject({ state: 'active', notAfter: null });
    });

    it('never lets the previous key outlive the grant’s notAfter', () => {
      const [k1, k2] = [newKey(), newKey()];
      const expiresAt = later(300);
      const { view } = build(
        proxyEnabled(),
        accessGranted(k1, { policy: { type: 'expire', expiresAt }, notAfter: expiresAt }),
        accessKeyRotated(k1, k2, { rotatedAt: later(100), previousNotAfter: later(1000), notAfter: expiresAt }),
      );
      expect(entry(view, k1)).toMatchObject({ state: 'active', notAfter: expiresAt });
    });

    it('revokes the current and the overlapping key together on a revoke', () => {
      const [k1, k2] = [newKey(), newKey()];
      const { view } = build(
        proxyEnabled(),
        accessGranted(k1),
        accessKeyRotated(k1, k2, { rotatedAt: later(100), previousNotAfter: later(400) }),
        accessRevoked(k2, 'recycle', { revokedAt: later(150) }),
      );
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'recycled', at: later(150) });
      expect(entry(view, k2)).toMatchObject({ state: 'revoked', reason: 'recycled', at: later(150) });
    });
  });

  describe('when a grant is recycled, then released', () => {
    it('keeps the first revocation as it was', () => {
      const k1 = newKey();
      const { view, recorded } = build(
        proxyEnabled(),
        accessGranted(k1),
        accessRevoked(k1, 'recycle', { revokedAt: later(100) }),
        accessRevoked(k1, 'release', { revokedAt: later(200) }),
      );
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'recycled', at: later(100), position: positionOf(recorded, 'AccessRevoked', 0) });
    });
  });

  describe('when a user is authorized again', () => {
    it('after a release, the new key is active and the old one stays revoked', () => {
      const [k1, k2] = [newKey(), newKey()];
      const { view } = build(
        proxyEnabled(),
        accessGranted(k1),
        accessRevoked(k1, 'release', { revokedAt: later(100) }),
        accessGranted(k2, { grantedAt: later(200) }),
      );
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'released', at: later(100) });
      expect(entry(view, k2)).toMatchObject({ state: 'active', issuedAt: later(200) });
    });

    it('after a recycle, the new key is active and the old one stays revoked', () => {
      const [k1, k2] = [newKey(), newKey()];
      const { view } = build(proxyEnabled(), accessGranted(k1), accessRevoked(k1, 'recycle', { revokedAt: later(100) }), accessGranted(k2, { grantedAt: later(200) }));
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'recycled' });
      expect(entry(view, k2)).toMatchObject({ state: 'active' });
    });

    it('after an expiry nobody recorded, the old key is tombstoned as expired at its notAfter', () => {
      const [k1, k2] = [newKey(), newKey()];
      const expiresAt = later(300);
      const { view } = build(
        proxyEnabled(),
        accessGranted(k1, { policy: { type: 'expire', expiresAt }, notAfter: expiresAt }),
        accessGranted(k2, { grantedAt: later(500) }),
      );
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'expired', at: expiresAt });
      expect(entry(view, k2)).toMatchObject({ state: 'active' });
    });
  });

  describe('when a key expires', () => {
    it('is invalid from its notAfter on, before any event says so', () => {
      const k1 = newKey();
      const expiresAt = later(300);
      const { view } = build(proxyEnabled(), accessGranted(k1, { policy: { type: 'expire', expiresAt }, notAfter: expiresAt }));
      expect(entry(view, k1)).toMatchObject({ state: 'active', notAfter: expiresAt });
      expect(isKeyValidAt(entry(view, k1), later(299))).toBe(true);
      expect(isKeyValidAt(entry(view, k1), expiresAt)).toBe(false);
    });

    it('is revoked as expired when AccessKeyExpired is recorded', () => {
      const k1 = newKey();
      const expiresAt = later(300);
      const { view } = build(
        proxyEnabled(),
        accessGranted(k1, { policy: { type: 'expire', expiresAt }, notAfter: expiresAt }),
        accessKeyExpired(k1, { expiredAt: expiresAt }),
      );
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'expired', at: expiresAt });
    });
  });

  describe('when the proxy is disabled', () => {
    const setup = () => {
      const [bob1, bob2, carol1, other] = [newKey(), newKey(), newKey(), newKey()];
      const built = build(
        proxyEnabled(),
        proxyEnabled({ instanceId: OTHER_INSTANCE }),
        accessGranted(bob1),
        accessKeyRotated(bob1, bob2, { rotatedAt: later(100), previousNotAfter: later(5000) }),
        accessGranted(carol1, { userId: carol.userId }),
        accessGranted(other, { instanceId: OTHER_INSTANCE }),
        proxyDisabled({ disabledAt: later(200) }),
      );
      return { ...built, bob1, bob2, carol1, other };
    };

    it('revokes every active key of the instance, the overlapping one included, and no other', () => {
      const { view, recorded, bob1, bob2, carol1, other } = setup();
      const at = positionOf(recorded, 'ProxyDisabled');
      for (const key of [bob1, bob2, carol1]) expect(entry(view, key)).toMatchObject({ state: 'revoked', reason: 'proxy-disabled', at: later(200), position: at });
      expect(entry(view, other)).toMatchObject({ state: 'active', instanceId: OTHER_INSTANCE });
    });

    it('revokes from birth an AccessGranted of the disabled epoch recorded after the disable', () => {
      const { view, store } = setup();
      const late = newKey();
      replay(keyIndexProjection, store.record(accessGranted(late, { userId: 'dave', grantedAt: later(150) })), view);
      expect(entry(view, late)).toMatchObject({ state: 'revoked', reason: 'proxy-disabled', at: later(150) });
    });

    it('revokes from birth the new key of a rotation recorded after the disable', () => {
      const { view, store, bob2 } = setup();
      const k3 = newKey();
      replay(keyIndexProjection, store.record(accessKeyRotated(bob2, k3, { rotatedAt: later(190) })), view);
      expect(entry(view, k3)).toMatchObject({ state: 'revoked', reason: 'proxy-disabled' });
      expect(entry(view, bob2)).toMatchObject({ state: 'revoked', reason: 'proxy-disabled', at: later(200) });
    });

    it('after a re-enable with epoch 2, keys of epoch 2 work and a stale epoch-1 grant does not', () => {
      const { view, store, bob2 } = setup();
      const [fresh, stale] = [newKey(), newKey()];
      replay(
        keyIndexProjection,
        store.record(
          proxyEnabled({ epoch: 2, enabledAt: later(300) }),
          accessGranted(fresh, { proxyEpoch: 2, grantedAt: later(400) }),
          accessGranted(stale, { userId: 'dave', proxyEpoch: 1, grantedAt: later(410) }),
        ),
        view,
      );
      expect(entry(view, fresh)).toMatchObject({ state: 'active' });
      expect(entry(view, stale)).toMatchObject({ state: 'revoked', reason: 'proxy-disabled', at: later(410) });
      expect(entry(view, bob2)).toMatchObject({ state: 'revoked', reason: 'proxy-disabled', at: later(200) });
    });
  });

  describe('the invariant: a revoked key never becomes active again', () => {
    it('holds when the AccessGranted of a revoked key is delivered again', () => {
      const k1 = newKey();
      const { view, recorded } = build(proxyEnabled(), accessGranted(k1), accessRevoked(k1, 'recycle', { revokedAt: later(100) }));
      const granted = recorded.find((e) => e.type === 'AccessGranted');
      if (granted === undefined) throw new Error('no AccessGranted');
      replay(keyIndexProjection, [granted], view);
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'recycled', at: later(100) });
    });

    it('holds when a later AccessGranted carries the revoked accessId again', () => {
      const k1 = newKey();
      const { view, store } = build(proxyEnabled(), accessGranted(k1), accessRevoked(k1, 'release', { revokedAt: later(100) }));
      replay(keyIndexProjection, store.record(accessGranted(k1, { grantedAt: later(200) })), view);
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'released', at: later(100) });
    });

    it('holds when a rotation names a revoked key as its new one', () => {
      const [k1, k2] = [newKey(), newKey()];
      const { view, store } = build(proxyEnabled(), accessGranted(k1), accessKeyRotated(k1, k2, { rotatedAt: later(100) }));
      const k3 = newKey();
      replay(keyIndexProjection, store.record(accessKeyRotated(k2, k3, { rotatedAt: later(200) }), accessKeyRotated(k3, k1, { rotatedAt: later(300) })), view);
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'rotated', at: later(100) });
    });

    it('holds when a stale ProxyEnabled of the disabled epoch is recorded again', () => {
      const [k1, k2] = [newKey(), newKey()];
      const { view, store } = build(proxyEnabled(), accessGranted(k1), proxyDisabled({ disabledAt: later(100) }));
      replay(keyIndexProjection, store.record(proxyEnabled(), accessGranted(k2, { userId: carol.userId, grantedAt: later(200) })), view);
      expect(entry(view, k1)).toMatchObject({ state: 'revoked', reason: 'proxy-disabled' });
      expect(entry(view, k2)).toMatchObject({ state: 'revoked', reason: 'proxy-disabled' });
    });

    it('holds when the whole history is delivered twice', () => {
      const [k1, k2, k3] = [newKey(), newKey(), newKey()];
      const { view, recorded } = build(
        proxyEnabled(),
        accessGranted(k1),
        accessKeyRotated(k1, k2, { rotatedAt: later(100), previousNotAfter: later(400) }),
        accessRevoked(k2, 'release', { revokedAt: later(150) }),
        accessGranted(k3, { grantedAt: later(200) }),
      );
      const once = viewJson(view);
      replay(keyIndexProjection, recorded, view);
      expect(viewJson(view)).toBe(once);
      expect(keysOfInstance(view, INSTANCE).map((e) => [e.accessId, e.state])).toEqual([
        [k1.accessId, 'revoked'],
        [k2.accessId, 'revoked'],
        [k3.accessId, 'active'],
      ]);
    });
  });

  describe('what it holds', () => {
    it('names, after each event, exactly the keys that event changed', () => {
      const [k1, k2, k3, k4, k5, k6] = [newKey(), newKey(), newKey(), newKey(), newKey(), newKey()];
      const store = recorder();
      const recorded = store.record(
        proxyEnabled(),
        accessGranted(k1),
        accessGranted(k4, { userId: carol.userId }),
        accessKeyRotated(k1, k2, { rotatedAt: later(100), previousNotAfter: later(400) }),
        accessKeyRotated(k2, k3, { rotatedAt: later(200), previousNotAfter: later(200) }),
        accessKeyExpired(k4, { expiredAt: later(250) }),
        accessRevoked(k3, 'recycle', { revokedAt: later(300) }),
        accessGranted(k5, { grantedAt: later(400) }),
        accessGranted(k6, { userId: carol.userId, grantedAt: later(450) }),
        proxyDisabled({ disabledAt: later(500) }),
        accessGranted(newKey(), { userId: 'dave', grantedAt: later(600) }),
      );
      const view = keyIndexProjection.initial();
      let atDisable: string[] = [];
      for (const event of recorded) {
        keyIndexProjection.evolve(view, event);
        const changedHere = [...view.entries.values()].filter((e) => e.position === event.position).map((e) => e.accessId);
        expect([...view.changed].sort(), event.type).toEqual(changedHere.sort());
        if (event.type === 'ProxyDisabled') atDisable = [...view.changed].sort();
      }
      // A disable ends every live key of the instance at once; the grant after it is revoked from birth.
      expect(atDisable).toEqual([k5.accessId, k6.accessId].sort());
      expect(view.changed).toHaveLength(1);
    });

    it('lists an instance’s keys, tombstones included, and nothing of other instances', () => {
      const [k1, k2, other] = [newKey(), newKey(), newKey()];
      const { view } = build(
        proxyEnabled(),
        proxyEnabled({ instanceId: OTHER_INSTANCE }),
        accessGranted(k1),
        accessRevoked(k1, 'release'),
        accessGranted(k2, { userId: carol.userId }),
        accessGranted(other, { instanceId: OTHER_INSTANCE }),
      );
      expect(keysOfInstance(view, INSTANCE).map((e) => e.accessId)).toEqual([k1.accessId, k2.accessId]);
      expect(keysOfInstance(view, 'nowhere')).toEqual([]);
      expect(keyEntry(view, 'NoSuchAccessId0000000000')).toBeUndefined();
    });

    it('never holds an AccessSecret, sealed or not', () => {
      const [k1, k2] = [newKey(), newKey()];
      const { view } = build(proxyEnabled(), accessGranted(k1, { grantedAt: T0 }), accessKeyRotated(k1, k2, { previousNotAfter: later(3600) }));
      const json = viewJson(view);
      expect(json).toContain(k2.accessId);
      expect(json).toContain(PROXY_ACCOUNT.passwordSealed);
      expect(json).not.toContain(k1.secretSealed);
      expect(json).not.toContain(k2.secretSealed);
      expect(json).not.toContain('secretSealed');
    });
  });
});
