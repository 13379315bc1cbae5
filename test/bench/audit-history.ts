// A recorded history of 1,000,000 events for the auditors' benchmark, written with the
// store's append (the command path would take minutes to make it), event by event as the
// deciders would record them:
//   - 20 instances, each enabled once (ProxyEnabled);
//   - 49,999 users spread over them, each: authorized (AccessGranted, hourly rotation),
//     rotated 10 times (AccessKeyRotated, one hour apart, the last with 5 minutes of
//     overlap), their pair viewed 8 times (AccessKeyViewed), then recycled (AccessRevoked):
//     20 events each, 1,000,000 in all.
// Every event carries real metadata with its stream's prevHash chain, so the history is
// one `keyward audit verify` accepts. Keys share one sealed secret (sealing 500,000 of them
// would only slow the generator down); their AccessIDs are all distinct.
import { randomUUID } from 'node:crypto';
import { addSeconds, grantStreamId, proxyStreamId, type DomainEvent, type IssuedKey, type Timestamp } from '../../domain/index.js';
import { generateAccessId, issueKey, SealingKey } from '../../src/crypto.js';
import { eventHash } from '../../src/handling/hash-chain.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import { ExpectedRevision } from '../../src/store/types.js';
import { accessGranted, proxyEnabled } from '../support/fixtures.js';
import { accessKeyRotated, accessKeyViewed, accessRevoked } from '../support/recorded.js';

export const HISTORY_EVENTS = 1_000_000;
export const INSTANCES = 20;
export const HISTORY_START: Timestamp = '2026-01-01T00:00:00.000Z';

const instanceOf = (i: number): string => `db-${i % INSTANCES}`;

const withMetadata = (streamId: string, events: readonly { event: DomainEvent; at: Timestamp; by: string }[]) => {
  let prevHash: string | null = null;
  return events.map(({ event, at, by }, revision) => {
    const commandId = randomUUID();
    const metadata = { commandId, correlationId: commandId, causationId: commandId, actor: { userId: by, role: 'admin' }, occurredAt: at, prevHash };
    prevHash = eventHash({ streamId, revision, type: event.type, data: event.data, metadata });
    return { id: randomUUID(), type: event.type, data: event.data, metadata };
  });
};

const userHistory = (u: number, template: IssuedKey): { streamId: string; events: { event: DomainEvent; at: Timestamp; by: string }[] } => {
  const instanceId = instanceOf(u);
  const userId = `user-${u}`;
  const key = (): IssuedKey => ({ ...template, accessId: generateAccessId() });
  const start = addSeconds(HISTORY_START, u * 60);
  let current = key();
  const events: { event: DomainEvent; at: Timestamp; by: string }[] = [
    { event: accessGranted(current, { instanceId, userId, grantedAt: start, rotatesAt: addSeconds(start, 3600), policy: { type: 'rotate', intervalSeconds: 3600 } }), at: start, by: 'ada' },
  ];
  for (let r = 1; r <= 10; r++) {
    const next = key();
    const rotatedAt = addSeconds(start, 3600 * r);
    const overlap = r === 10 ? 300 : 0;
    events.push({
      event: accessKeyRotated(current, next, { instanceId, userId, rotatedAt, previousNotAfter: addSeconds(rotatedAt, overlap), rotatesAt: addSeconds(rotatedAt, 3600), reason: 'scheduled', rotatedBy: 'keyward' }),
      at: rotatedAt,
      by: 'keyward',
    });
    current = next;
    if (r <= 8) events.push({ event: accessKeyViewed(current, { instanceId, userId, viewedBy: userId, viewedAt: addSeconds(rotatedAt, 60) }), at: addSeconds(rotatedAt, 60), by: userId });
  }
  const revokedAt = addSeconds(start, 3600 * 10 + 1800);
  events.push({ event: accessRevoked(current, 'recycle', { instanceId, userId, revokedAt }), at: revokedAt, by: 'ada' });
  return { streamId: grantStreamId(instanceId, userId), events };
};

/** Writes the history into a new SQLite file; `onProgress` gets the events written so far. */
export const writeHistory = async (path: string, onProgress?: (done: number) => void): Promise<void> => {
  const store = SqliteEventStore.open({ path, synchronous: 'NORMAL' });
  const template = issueKey(SealingKey.generate()).key;
  let written = 0;
  for (let i = 0; i < INSTANCES; i++) {
    const instanceId = instanceOf(i);
    const streamId = proxyStreamId(instanceId);
    await store.append(streamId, withMetadata(streamId, [{ event: proxyEnabled({ instanceId, enabledAt: HISTORY_START }), at: HISTORY_START, by: 'ada' }]), ExpectedRevision.noStream);
    written++;
  }
  const perUser = 20;
  const users = Math.floor((HISTORY_EVENTS - INSTANCES) / perUser);
  for (let u = 0; u < users; u += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, users - u) }, (_, k) => {
        const { streamId, events } = userHistory(u + k, template);
        return store.append(streamId, withMetadata(streamId, events), ExpectedRevision.noStream);
      }),
    );
    written += Math.min(100, users - u) * perUser;
    onProgress?.(written);
  }
  if (written !== HISTORY_EVENTS) throw new Error(`the generator wrote ${written} events, not ${HISTORY_EVENTS}`);
  onProgress?.(HISTORY_EVENTS);
  await store.close();
};
