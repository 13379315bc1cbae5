import { describe, expect, it } from 'vitest';
import { GRANT_EVENT_TYPES, PROXY_EVENT_TYPES, TICKET_EVENT_TYPES, type EventType } from '../../../domain/index.js';
import { keyIndexProjection, PROJECTIONS, replay, type Projection } from '../../../projections/index.js';
import { accessGranted, carol, later, newKey, OTHER_INSTANCE, PROXY_ACCOUNT, proxyDisabled, proxyEnabled, sealedAccount } from '../../support/fixtures.js';
import {
  accessKeyExpired,
  accessKeyRotated,
  accessKeyViewed,
  accessRevoked,
  recorder,
  ticketApproved,
  ticketRejected,
  ticketSubmitted,
  viewJson,
  type RecordedEvent,
} from '../../support/recorded.js';

const ALL_TYPES: readonly string[] = [...PROXY_EVENT_TYPES, ...GRANT_EVENT_TYPES, ...TICKET_EVENT_TYPES];
const EVENT_TYPES: readonly EventType[] = [
  'ProxyEnabled',
  'ProxyDisabled',
  'AccessGranted',
  'AccessKeyRotated',
  'AccessKeyViewed',
  'AccessRevoked',
  'AccessKeyExpired',
  'TicketSubmitted',
  'TicketApproved',
  'TicketRejected',
];

/** A history that touches every event type, custom accounts and sealed values included. */
const history = () => {
  const [k1, k2, k3, k4, k5, k6] = [newKey(), newKey(), newKey(), newKey(), newKey(), newKey()];
  const custom = sealedAccount('carol_rw', 'carol-password');
  const ticketAccount = sealedAccount('dave_ro', 'dave-password');
  const store = recorder();
  store.record(
    proxyEnabled(),
    proxyEnabled({ instanceId: OTHER_INSTANCE }),
    accessGranted(k1, { policy: { type: 'rotate', intervalSeconds: 3600, overlapSeconds: 300 }, rotatesAt: later(3600) }),
    accessKeyViewed(k1),
    accessKeyRotated(k1, k2, { rotatedAt: later(3600), previousNotAfter: later(3900), rotatesAt: later(7200), reason: 'scheduled' }),
    accessGranted(k3, { userId: carol.userId, databaseAccount: { kind: 'custom', ...custom }, policy: { type: 'expire', expiresAt: later(600) }, notAfter: later(600) }),
    accessKeyExpired(k3, { userId: carol.userId, expiredAt: later(600) }),
    ticketSubmitted('t-1', { requesterId: 'dave', databaseAccount: ticketAccount }),
    accessGranted(k4, { userId: 'dave', databaseAccount: { kind: 'custom', ...ticketAccount }, origin: { type: 'ticket', ticketId: 't-1', approvedBy: 'olivia' } }),
    ticketApproved('t-1', k4.accessId, { requesterId: 'dave' }),
    ticketSubmitted('t-2', { requesterId: 'erin' }),
    ticketRejected('t-2', { requesterId: 'erin' }),
    accessGranted(k5, { instanceId: OTHER_INSTANCE }),
    accessRevoked(k5, 'recycle', { instanceId: OTHER_INSTANCE }),
    accessRevoked(k5, 'release', { instanceId: OTHER_INSTANCE, revokedAt: later(700) }),
    proxyDisabled({ disabledAt: later(8000) }),
    accessGranted(k6, { userId: 'frank', grantedAt: later(7990) }),
  );
  return { store, keys: [k1, k2, k3, k4, k5, k6], passwords: [custom.passwordSealed, ticketAccount.passwordSealed, PROXY_ACCOUNT.passwordSealed] };
};

const run = <View>(projection: Projection<View>, events: readonly RecordedEvent[]): string => viewJson(replay(projection, events));

describe('The projections', () => {
  it('are registered once each, with the event types they handle', () => {
    expect(PROJECTIONS.map((p) => p.name)).toEqual(['proxies', 'grants', 'tickets', 'key-index', 'schedule', 'access']);
    expect([...EVENT_TYPES].sort()).toEqual([...ALL_TYPES].sort());
    for (const projection of PROJECTIONS) {
      expect(projection.handles.length).toBeGreaterThan(0);
      for (const type of projection.handles) expect(EVENT_TYPES).toContain(type);
    }
    const covered = new Set(PROJECTIONS.flatMap((p) => [...p.handles]));
    expect([...covered].sort()).toEqual([...EVENT_TYPES].sort());
  });

  describe('when given a history that touches every event type', () => {
    it('change nothing for the event types they do not handle', () => {
      const { store } = history();
      for (const projection of PROJECTIONS) {
        const ignored = store.events.filter((e) => !(projection.handles as readonly string[]).includes(e.type));
        expect(ignored.length, projection.name).toBeGreaterThan(0);
        expect(run(projection, ignored), projection.name).toBe(run(projection, []));
      }
    });

    it('hold no AccessSecret, and only the key index holds database passwords', () => {
      const { store, keys, passwords } = history();
      for (const projection of PROJECTIONS) {
        const json = run(projection, store.events);
        expect(json, projection.name).toMatch(/orders-db/);
        for (const key of keys) expect(json, projection.name).not.toContain(key.secretSealed);
        expect(json, projection.name).not.toContain('secretSealed');
        for (const password of passwords) {
          if (projection.name !== 'key-index') expect(json, projection.name).not.toContain(password);
        }
      }
      const keyIndex = run(keyIndexProjection, store.events);
      expect(keyIndex).toContain(passwords[0]);
      expect(keyIndex).toContain(passwords[1]);
    });

    it('build the same view from a history delivered twice, and from two replays', () => {
      const { store } = history();
      for (const projection of PROJECTIONS) {
        const once = run(projection, store.events);
        expect(run(projection, [...store.events, ...store.events]), projection.name).toBe(once);
        expect(run(projection, store.events), projection.name).toBe(once);
      }
    });
  });
});
