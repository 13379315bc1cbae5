import { describe, expect, it } from 'vitest';
import type { DomainEvent, Policy } from '../../../domain/index.js';
import { dueAt, nextDueAt, replay, scheduleProjection } from '../../../projections/index.js';
import { accessGranted, carol, INSTANCE, later, newKey, OTHER_INSTANCE, proxyDisabled, proxyEnabled } from '../../support/fixtures.js';
import { accessKeyExpired, accessKeyRotated, accessKeyViewed, accessRevoked, recorder } from '../../support/recorded.js';

const build = (...events: DomainEvent[]) => {
  const store = recorder();
  return { store, view: replay(scheduleProjection, store.record(...events)) };
};

const ROTATE_HOURLY: Policy = { type: 'rotate', intervalSeconds: 3600 };
const rotating = (rotatesAt: string) => ({ policy: ROTATE_HOURLY, rotatesAt });
const expiring = (expiresAt: string) => ({ policy: { type: 'expire', expiresAt } as const, notAfter: expiresAt });

describe('Schedule', () => {
  describe('when grants with rotations and expiries are active', () => {
    const setup = () => {
      const [bobKey, carolKey] = [newKey(), newKey()];
      return {
        bobKey,
        carolKey,
        ...build(
          proxyEnabled(),
          proxyEnabled({ instanceId: OTHER_INSTANCE }),
          accessGranted(bobKey, rotating(later(3600))),
          accessGranted(carolKey, { userId: carol.userId, ...expiring(later(1800)) }),
          accessGranted(newKey(), { userId: 'dave' }),
          accessGranted(newKey(), { instanceId: OTHER_INSTANCE, ...rotating(later(3600)) }),
        ),
      };
    };

    it('gives what is due at a time, earliest first, and nothing before', () => {
      const { view } = setup();
      expect(dueAt(view, later(1799))).toEqual([]);
      expect(dueAt(view, later(1800))).toEqual([{ kind: 'expire', instanceId: INSTANCE, userId: carol.userId, dueAt: later(1800) }]);
      expect(dueAt(view, later(4000))).toEqual([
        { kind: 'expire', instanceId: INSTANCE, userId: carol.userId, dueAt: later(1800) },
        { kind: 'rotate', instanceId: OTHER_INSTANCE, userId: 'bob', dueAt: later(3600) },
        { kind: 'rotate', instanceId: INSTANCE, userId: 'bob', dueAt: later(3600) },
      ]);
      expect(nextDueAt(view)).toBe(later(1800));
    });

    it('moves a rotation to the rotatesAt of the new key; a view of the key changes nothing', () => {
      const { view, store, bobKey } = setup();
      replay(scheduleProjection, store.record(accessKeyViewed(bobKey), accessKeyRotated(bobKey, newKey(), { rotatedAt: later(3600), rotatesAt: later(7200), reason: 'scheduled' })), view);
      expect(dueAt(view, later(7199)).filter((d) => d.instanceId === INSTANCE && d.userId === 'bob')).toEqual([]);
      expect(dueAt(view, later(7200)).filter((d) => d.instanceId === INSTANCE && d.userId === 'bob')).toEqual([
        { kind: 'rotate', instanceId: INSTANCE, userId: 'bob', dueAt: later(7200) },
      ]);
    });

    it('drops a grant once it is revoked, released or expired', () => {
      const { view, store, bobKey, carolKey } = setup();
      replay(scheduleProjection, store.record(accessRevoked(bobKey, 'recycle'), accessKeyExpired(carolKey, { userId: carol.userId, expiredAt: later(1800) })), view);
      expect(dueAt(view, later(99_999)).map((d) => `${d.instanceId}/${d.userId}`)).toEqual([`${OTHER_INSTANCE}/bob`]);
      replay(scheduleProjection, store.record(accessRevoked(bobKey, 'release', { instanceId: OTHER_INSTANCE })), view);
      expect(dueAt(view, later(99_999))).toEqual([]);
      expect(nextDueAt(view)).toBeNull();
    });

    it('schedules a grant again when its user is authorized again after a release', () => {
      const { view, store, bobKey } = setup();
      replay(scheduleProjection, store.record(accessRevoked(bobKey, 'release', { revokedAt: later(100) }), accessGranted(newKey(), rotating(later(3800)))), view);
      expect(dueAt(view, later(3800)).filter((d) => d.instanceId === INSTANCE && d.kind === 'rotate')).toEqual([
        { kind: 'rotate', instanceId: INSTANCE, userId: 'bob', dueAt: later(3800) },
      ]);
    });
  });

  describe('when the proxy is disabled', () => {
    it('drops every grant of the instance, keeps the others, and schedules nothing born under the disabled epoch', () => {
      const { view, store } = build(
        proxyEnabled(),
        proxyEnabled({ instanceId: OTHER_INSTANCE }),
        accessGranted(newKey(), rotating(later(3600))),
        accessGranted(newKey(), { instanceId: OTHER_INSTANCE, ...expiring(later(900)) }),
        proxyDisabled({ disabledAt: later(100) }),
      );
      replay(scheduleProjection, store.record(accessGranted(newKey(), { userId: 'dave', ...rotating(later(3700)) })), view);
      expect(dueAt(view, later(99_999))).toEqual([{ kind: 'expire', instanceId: OTHER_INSTANCE, userId: 'bob', dueAt: later(900) }]);

      replay(scheduleProjection, store.record(proxyEnabled({ epoch: 2, enabledAt: later(200) }), accessGranted(newKey(), { userId: 'erin', proxyEpoch: 2, ...rotating(later(3800)) })), view);
      expect(dueAt(view, later(99_999)).map((d) => d.userId)).toEqual(['bob', 'erin']);
    });
  });

  describe('when events are delivered again', () => {
    it('does not schedule a revoked grant again', () => {
      const key = newKey();
      const { view, store } = build(proxyEnabled(), accessGranted(key, rotating(later(3600))), accessRevoked(key, 'recycle'));
      replay(scheduleProjection, store.events, view);
      expect(dueAt(view, later(99_999))).toEqual([]);
    });
  });
});
