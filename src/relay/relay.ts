// The relay: follows the event store, keeps the active-key index, mirrors it into the NATS
// KV bucket proxy nodes watch, and publishes every domain event to JetStream. DESIGN.md,
// "Delivery to proxy nodes".
import * as E from 'fp-ts/lib/Either.js';
import { Events, JSONCodec, nanos, StorageType, type JetStreamManager, type KV, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { withoutSealed, type DomainEvent, type Recorded } from '../../domain/index.js';
import { initialKeyIndex, evolveKeyIndex } from '../../projections/key-index.js';
import { type KeyEntry, type KeyIndexView } from '../../projections/index.js';
import type { SealingKey } from '../crypto.js';
import { KEYS_BUCKET, KeyValue, kvKey } from '../keys/kv.js';
import { decodeRecorded } from '../store/recorded.js';
import type { EventStore, Subscription } from '../store/types.js';
import { mayReplace } from './kv-rules.js';

export const EVENTS_STREAM = 'KEYWARD_EVENTS';
/** Long enough to cover a relay restart: a republished event within it is dropped by id. */
const DUPLICATE_WINDOW_MS = 10 * 60_000;

export interface RelayOptions {
  readonly store: EventStore;
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly masterKey: SealingKey;
  /** Seals database passwords for proxy nodes: they can open these, never event-store secrets. */
  readonly proxyKey: SealingKey;
  readonly log: Logger;
  /** JetStream replicas for the stream and the bucket: 1 on one server, 3 in a cluster. */
  readonly replicas?: number;
}

export interface Relay {
  /** Resolves once the first reconciliation is done: KV matches the store as it was then. */
  readonly ready: Promise<void>;
  /** The store position of the last event handled. */
  position(): string | undefined;
  reconcile(): Promise<void>;
  stop(): Promise<void>;
}

const json = JSONCodec();

/**
 * A file-backed stream with a dedupe window that takes `subject`: created if missing (another
 * process may create it at the same moment; then its stream is ours too), or given the subject
 * if it exists (one NATS account serving keyward under two prefixes: the one stream takes both).
 */
export const ensureStream = async (jsm: JetStreamManager, name: string, subject: string, replicas = 1): Promise<void> => {
  const info = await jsm.streams.info(name).catch(() => undefined);
  if (info === undefined) {
    await jsm.streams
      .add({ name, subjects: [subject], storage: StorageType.File, num_replicas: replicas, duplicate_window: nanos(DUPLICATE_WINDOW_MS) })
      .catch(async (e: unknown) => {
        if ((await jsm.streams.info(name).catch(() => undefined)) === undefined) throw e;
      });
  } else if (!info.config.subjects.includes(subject)) {
    await jsm.streams.update(name, { ...info.config, subjects: [...info.config.subjects, subject] });
  }
};

export const ensureJetStream = async (nc: NatsConnection, prefix: string, replicas = 1): Promise<{ jsm: JetStreamManager; kv: KV }> => {
  const jsm = await nc.jetstreamManager();
  // Events are the audit trail of every consumer.
  await ensureStream(jsm, EVENTS_STREAM, `${prefix}.events.>`, replicas);
  // History 1: proxy nodes need the current value of each key, and tombstones stay forever.
  const kv = await nc.jetstream().views.kv(KEYS_BUCKET, { history: 1, storage: StorageType.File, replicas });
  return { jsm, kv };
};

export const startRelay = (options: RelayOptions): Relay => {
  const { store, nc, prefix, masterKey, proxyKey, log } = options;
  let index: KeyIndexView = initialKeyIndex();
  let position: string | undefined;
  let subscription: Subscription | undefined;
  let stopped = false;
  // A function: stop() flips it while the loops below are suspended.
  const isStopped = (): boolean => stopped;
  // One chain for every write, so KV and the stream see changes in store order.
  let chain: Promise<void> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const next = chain.then(work);
    chain = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  };
  const resealed = new Map<string, string>();

  const toValue = (entry: KeyEntry): KeyValue => {
    if (entry.state === 'revoked') {
      const { accessId, instanceId, userId, reason, at, position: p } = entry;
      return { state: 'revoked', accessId, instanceId, userId, reason, at, position: p };
    }
    const masterSealed = entry.databaseAccount.passwordSealed;
    let passwordSealed = resealed.get(masterSealed);
    if (passwordSealed === undefined) {
      passwordSealed = proxyKey.seal(masterKey.unseal(masterSealed));
      resealed.set(masterSealed, passwordSealed);
    }
    const { accessId, instanceId, userId, verifiers, notAfter, issuedAt, position: p } = entry;
    return { state: 'active', accessId, instanceId, userId, verifiers, databaseAccount: { username: entry.databaseAccount.username, passwordSealed }, notAfter, issuedAt, position: p };
  };

  let kvPromise: Promise<{ jsm: JetStreamManager; kv: KV }> | undefined;
  const jetstream = (): Promise<{ jsm: JetStreamManager; kv: KV }> => {
    kvPromise ??= ensureJetStream(nc, prefix, options.replicas).catch((e: unknown) => {
      kvPromise = undefined; // asked again on the next attempt
      throw e;
    });
    return kvPromise;
  };

  // What this relay last wrote or read for each key, at which KV revision (value undefined:
  // unreadable, to be replaced). A write builds on it without reading first: the
  // compare-and-set refuses it if anyone wrote since, and then the key is read and decided
  // again. Saves a round trip on most revocations.
  const lastSeen = new Map<string, { readonly revision: number; readonly value: KeyValue | undefined }>();

  /** Writes one key under the rules of kv-rules.ts, retrying when another writer got in first. */
  const write = async (kv: KV, entry: KeyEntry): Promise<void> => {
    const key = kvKey(entry.instanceId, entry.accessId);
    const desired = toValue(entry);
    let current = lastSeen.get(key);
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        if (current === undefined) {
          lastSeen.set(key, { revision: await kv.create(key, json.encode(desired)), value: desired });
          return;
        }
        const existing = current.value;
        if (existing !== undefined && (!mayReplace(existing, desired, (a, b) => store.comparePositions(a, b)) || sameValue(existing, desired))) return;
        lastSeen.set(key, { revision: await kv.update(key, json.encode(desired), current.revision), value: desired });
        return;
      } catch (e) {
        // Another writer changed the key (or it already existed, or NATS did not answer in
        // time): read it, decide again.
        if (attempt === 9) throw e;
        log.debug({ key, attempt, err: e instanceof Error ? e.message : String(e) }, 'relay write refused or unanswered; reading the key again');
        const read = await kv.get(key);
        if (read === null || read.operation !== 'PUT') {
          current = undefined;
          lastSeen.delete(key);
        } else {
          const decoded = KeyValue.decode(read.json());
          current = { revision: read.revision, value: E.isRight(decoded) ? decoded.right : undefined };
          lastSeen.set(key, current);
        }
      }
    }
  };

  /** Equal but for the sealing, which differs on every seal (random IV). */
  const sameValue = (a: KeyValue, b: KeyValue): boolean => {
    if (a.state !== 'active' || b.state !== 'active') return JSON.stringify(a) === JSON.stringify(b);
    const strip = (v: typeof a) => ({ ...v, databaseAccount: { username: v.databaseAccount.username } });
    if (JSON.stringify(strip(a)) !== JSON.stringify(strip(b))) return false;
    try {
      return proxyKey.unseal(a.databaseAccount.passwordSealed).reveal() === proxyKey.unseal(b.databaseAccount.passwordSealed).reveal();
    } catch {
      return false;
    }
  };

  const publish = async (jsm: JetStreamManager, event: Recorded<DomainEvent>): Promise<void> => {
    const payload = {
      id: event.id,
      type: event.type,
      streamId: event.streamId,
      revision: event.revision,
      position: event.position,
      occurredAt: event.metadata.occurredAt,
      data: withoutSealed(event.data),
      metadata: event.metadata,
    };
    await jsm.jetstream().publish(`${prefix}.events.${event.data.instanceId}.${event.type}`, json.encode(payload), { msgID: event.id });
  };

  const lastPublished = async (jsm: JetStreamManager): Promise<string | undefined> => {
    const info = await jsm.streams.info(EVENTS_STREAM);
    if (info.state.last_seq === 0) return undefined;
    const msg = await jsm.streams.getMessage(EVENTS_STREAM, { seq: info.state.last_seq });
    return (msg.json<{ position?: string }>()).position;
  };

  /** The whole bucket against the index: missing keys added, anything stale brought forward. */
  const reconcile = (): Promise<void> =>
    serially(async () => {
      const { kv } = await jetstream();
      const known = new Set<string>();
      for (const entry of index.entries.values()) {
        known.add(kvKey(entry.instanceId, entry.accessId));
        await write(kv, entry);
      }
      // A key KV holds as active that the store never issued (written by hand, or from a store
      // that was replaced) is not valid: proxy nodes must refuse it.
      // Listed in full first: reading values while the listing is still open stops it early.
      const keys: string[] = [];
      for await (const key of await kv.keys()) keys.push(key);
      for (const key of keys) {
        if (known.has(key)) continue;
        const current = await kv.get(key);
        if (current === null || current.operation !== 'PUT') continue;
        const value = KeyValue.decode(current.json());
        // A key from a later position than this relay has reached was written by another relay
        // that is ahead: not unknown, only not yet seen here.
        const ahead = E.isRight(value) && value.right.state === 'active' && (position === undefined || store.comparePositions(value.right.position, position) > 0);
        if (E.isRight(value) && value.right.state === 'active' && !ahead) {
          const { accessId, instanceId, userId } = value.right;
          await kv.update(key, json.encode({ state: 'revoked', accessId, instanceId, userId, reason: 'unknown-to-store', at: new Date().toISOString() } satisfies KeyValue), current.revision);
          log.warn({ key }, 'KV held an active key the event store never issued; marked revoked');
        }
      }
    });

  /**
   * Applies the event to the index once, then writes and publishes what it changed, trying
   * again until NATS takes it: an event is never skipped, and writing it twice is harmless.
   */
  const handle = async (event: Recorded<DomainEvent>, publishIt: boolean, writeIt: boolean): Promise<void> => {
    index = evolveKeyIndex(index, event);
    const changed = [...index.changed];
    for (let attempt = 0; !isStopped(); attempt++) {
      try {
        await serially(async () => {
          const { jsm, kv } = await jetstream();
          if (writeIt) {
            for (const accessId of changed) {
              // Changed again by a later event since: that event's handling writes it.
              const entry = index.entries.get(accessId);
              if (entry?.position === event.position) await write(kv, entry);
            }
          }
          if (publishIt) await publish(jsm, event);
        });
        break;
      } catch (e) {
        log.warn({ position: event.position, attempt, err: e instanceof Error ? e.message : String(e) }, 'relay could not deliver a change yet; trying again');
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
      }
    }
    position = event.position;
  };

  const ready = (async () => {
    const { jsm } = await jetstream();
    const published = await lastPublished(jsm);
    // Catch up: the index from the whole history; events the stream lacks are published.
    for await (const stored of store.readAll()) {
      const event = decodeRecorded(stored);
      if (published === undefined || store.comparePositions(event.position, published) > 0) {
        await handle(event, true, false);
      } else {
        index = evolveKeyIndex(index, event);
        position = event.position;
      }
    }
    await reconcile();
    subscription = store.subscribe(position === undefined ? {} : { after: position });
    void (async () => {
      for await (const stored of subscription) await handle(decodeRecorded(stored), true, true);
    })().catch((e: unknown) => {
      if (!isStopped()) log.error({ err: e instanceof Error ? e.message : String(e) }, 'relay stopped following the store');
    });
    void (async () => {
      for await (const status of nc.status()) {
        // What was written while NATS was away may be lost or stale: compare everything again.
        if (status.type === Events.Reconnect && !isStopped()) {
          await reconcile().catch((e: unknown) => {
            log.error({ err: String(e) }, 'reconcile after reconnect failed');
          });
        }
      }
    })();
  })();

  return {
    ready,
    position: () => position,
    reconcile,
    stop: async () => {
      stopped = true;
      await subscription?.close();
      await chain;
    },
  };
};
