import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../../domain/index.js';
import { accessAt, accessDuring, accessProjection, replay } from '../../../projections/index.js';
import { accessGranted, carol, INSTANCE, later, newKey, OTHER_INSTANCE, proxyDisabled, proxyEnabled, T0 } from '../../support/fixtures.js';
import { accessKeyExpired, accessKeyRotated, accessRevoked, recorder } from '../../support/recorded.js';

const build = (...events: DomainEvent[]) => {
  const store = recorder();
  return { store, view: replay(accessProjection, store.record(...events)) };
};

const holders = (items: readonly { userId: string; accessId: string }[]) => items.map((i) => `${i.userId}:${i.accessId}`);

describe('Access intervals', () => {
  describe('when keys are rotated', () => {
    const [k1, k2, k3, k4] = [newKey(), newKey(), newKey(), newKey()];
    const setup = () =>
      build(
        proxyEnabled(),
        accessGranted(k1),
        accessKeyRotated(k1, k2, { rotatedAt: later(100) }),
        accessKeyRotated(k2, k3, { rotatedAt: later(200), previousNotAfter: later(500) }),
        accessKeyRotated(k3, k4, { rotatedAt: later(300), previousNotAfter: later(600) }),
      );

    it('ends a replaced key at the rotation, or at previousNotAfter with an overlap, cut short by the next rotation', () => {
      const { view } = setup();
      expect(accessDuring(view, { instanceId: INSTANCE, from: T0, to: later(10_000) })).toEqual([
        { userId: 'bob', accessId: k1.accessId, from: T0, to: later(100) },
        { userId: 'bob', accessId: k2.accessId, from: later(100), to: later(300) },
        { userId: 'bob', accessId: k3.accessId, from: later(200), to: later(600) },
        { userId: 'bob', accessId: k4.accessId, from: later(300), to: null },
      ]);
    });

    it('answers who held a valid key at a moment, the end being exclusive', () => {
      const { view } = setup();
      expect(accessAt(view, { instanceId: INSTANCE, at: later(99) }).map((i) => i.accessId)).toEqual([k1.accessId]);
      expect(accessAt(view, { instanceId: INSTANCE, at: later(100) }).map((i) => i.accessId)).toEqual([k2.accessId]);
      expect(accessAt(view, { instanceId: INSTANCE, at: later(250) }).map((i) => i.accessId)).toEqual([k2.accessId, k3.accessId]);
      expect(accessAt(view, { instanceId: INSTANCE, at: later(600) }).map((i) => i.accessId)).toEqual([k4.accessId]);
      expect(accessAt(view, { instanceId: INSTANCE, at: later(-1) })).toEqual([]);
    });
  });

  describe('when a grant is revoked, released and granted again', () => {
    it('ends the current and the overlapping key at the revoke, and opens the new grant’s key', () => {
      const [k1, k2, k3] = [newKey(), newKey(), newKey()];
      const { view } = build(
        proxyEnabled(),
        accessGranted(k1),
        accessKeyRotated(k1, k2, { rotatedAt: later(100), previousNotAfter: later(400) }),
        accessRevoked(k2, 'recycle', { revokedAt: later(200) }),
        accessRevoked(k2, 'release', { revokedAt: later(300) }),
        accessGranted(k3, { grantedAt: later(500) }),
      );
      expect(accessDuring(view, { instanceId: INSTANCE, from: T0, to: later(1000) }).map((i) => [i.accessId, i.to])).toEqual([
        [k1.accessId, later(200)],
        [k2.accessId, later(200)],
        [k3.accessId, null],
      ]);
      expect(accessAt(view, { instanceId: INSTANCE, at: later(400) })).toEqual([]);
    });
  });

  describe('when a key expires', () => {
    it('ends at notAfter without any event, and AccessKeyExpired does not move it', () => {
      const k1 = newKey();
      const expiresAt = later(300);
      const { view, store } = build(proxyEnabled(), accessGranted(k1, { policy: { type: 'expire', expiresAt }, notAfter: expiresAt }));
      expect(accessAt(view, { instanceId: INSTANCE, at: later(299) }).map((i) => i.to)).toEqual([expiresAt]);
      expect(accessAt(view, { instanceId: INSTANCE, at: expiresAt })).toEqual([]);
      replay(accessProjection, store.record(accessKeyExpired(k1, { expiredAt: later(900) })), view);
      expect(accessDuring(view, { instanceId: INSTANCE, from: T0, to: later(1000) }).map((i) => i.to)).toEqual([expiresAt]);
    });
  });

  describe('when the proxy is disabled', () => {
    it('ends every key of the instance at disabledAt, counts a key granted after the disable as never valid, and opens epoch 2 keys', () => {
      const [bob1, bob2, carol1, other, late, fresh] = [newKey(), newKey(), newKey(), newKey(), newKey(), newKey()];
      const { view } = build(
        proxyEnabled(),
        proxyEnabled({ instanceId: OTHER_INSTANCE }),
        accessGranted(bob1),
        accessKeyRotated(bob1, bob2, { rotatedAt: later(100), previousNotAfter: later(5000) }),
        accessGranted(carol1, { userId: carol.userId, grantedAt: later(50) }),
        accessGranted(other, { instanceId: OTHER_INSTANCE }),
        proxyDisabled({ disabledAt: later(200) }),
        accessGranted(late, { userId: 'dave', grantedAt: later(150) }),
        proxyEnabled({ epoch: 2, enabledAt: later(300) }),
        accessGranted(fresh, { userId: 'erin', proxyEpoch: 2, grantedAt: later(400) }),
      );
      expect(accessDuring(view, { instanceId: INSTANCE, from: T0, to: later(10_000) }).map((i) => [i.userId, i.accessId, i.to])).toEqual([
        ['bob', bob1.accessId, later(200)],
        ['bob', bob2.accessId, later(200)],
        ['carol', carol1.accessId, later(200)],
        ['erin', fresh.accessId, null],
      ]);
      expect(holders(accessAt(view, { instanceId: INSTANCE, at: later(175) }))).toEqual([`bob:${bob1.accessId}`, `bob:${bob2.accessId}`, `carol:${carol1.accessId}`]);
      expect(accessAt(view, { instanceId: OTHER_INSTANCE, at: later(10_000) }).map((i) => i.accessId)).toEqual([other.accessId]);
    });
  });

  describe('when asked about one user', () => {
    it('gives only that user’s intervals, sorted by from', () => {
      const [b1, b2, c1] = [newKey(), newKey(), newKey()];
      const { view } = build(
        proxyEnabled(),
        accessGranted(c1, { userId: carol.userId }),
        accessGranted(b1),
        accessRevoked(b1, 'release', { revokedAt: later(100) }),
        accessGranted(b2, { grantedAt: later(200) }),
      );
      expect(accessDuring(view, { instanceId: INSTANCE, from: T0, to: later(300), userId: 'bob' }).map((i) => i.accessId)).toEqual([b1.accessId, b2.accessId]);
      expect(accessDuring(view, { instanceId: INSTANCE, from: later(100), to: later(200), userId: 'bob' })).toEqual([]);
      expect(accessAt(view, { instanceId: INSTANCE, at: later(50), userId: carol.userId }).map((i) => i.accessId)).toEqual([c1.accessId]);
    });
  });

  describe('when events are delivered again', () => {
    it('keeps every interval as it was', () => {
      const [k1, k2] = [newKey(), newKey()];
      const { view, store } = build(proxyEnabled(), accessGranted(k1), accessRevoked(k1, 'release', { revokedAt: later(100) }));
      replay(accessProjection, store.record(accessGranted(k2, { grantedAt: later(200) })), view);
      replay(accessProjection, store.events, view);
      expect(accessDuring(view, { instanceId: INSTANCE, from: T0, to: later(1000) }).map((i) => [i.accessId, i.from, i.to])).toEqual([
        [k1.accessId, T0, later(100)],
        [k2.accessId, later(200), null],
      ]);
    });
  });
});
