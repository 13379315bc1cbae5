// A proxy node: watches the keys of the instances it serves in the KV bucket, keeps them in
// memory and answers verifications from there (DESIGN.md, "Proxy nodes" and "Delivery to proxy
// nodes"). It fails closed: `not-ready` until the first load is done, `stale` once it may have
// missed changes (NATS lost, or a watch failed) for longer than the staleness bound.
//
// Every (re)connection reloads the watched keys from scratch rather than trusting the ordered
// consumer to resume: after a server restart nats.js only notices the lost consumer after two
// missed idle heartbeats (10 s), and a reload gives a definite "caught up again". Staleness
// counts from when the client notices the loss: at once when the server goes away, within two
// pings (stalenessMs / 4 each, on a connection of our own) when the network silently drops.
import { hostname } from 'node:os';
import { connect, Events, type KvEntry, type NatsConnection } from 'nats';
import { InstanceId } from '../../domain/index.js';
import { KEYS_BUCKET } from '../keys/kv.js';
import { defaultNodeId, enforcementSubject, NODE_ID, type EnforcementReport } from './enforcement.js';
import { KeyCache } from './key-cache.js';
import { mysqlNativeProof, secretProof, type Proof } from './proofs.js';
import { Refusal, type Invalidated, type Outcome, type ProxyNode, type ProxyNodeLogger, type ProxyNodeOptions, type VerifyResult } from './types.js';
import { watchKeys, type KeyWatch } from './watch.js';

export class ProxyNodeError extends Error {
  override readonly name = 'ProxyNodeError';
}

const DEFAULT_SERVERS = 'nats://127.0.0.1:4222';
const DEFAULT_PREFIX = 'keyward';
const DEFAULT_STALENESS_MS = 30_000;
const DEFAULT_HEARTBEAT_MS = 10_000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;
const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

const SILENT: ProxyNodeLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// Unreferenced: a pending retry must not keep a closed node's process alive.
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

const checkOptions = (options: ProxyNodeOptions): void => {
  const { instances, prefix, nodeId, stalenessMs, heartbeatMs } = options;
  if (instances !== 'all' && (instances.length === 0 || !instances.every((i) => InstanceId.is(i)))) {
    throw new ProxyNodeError('instances must be "all" or a non-empty list of instanceIds ([A-Za-z0-9_-]{1,64})');
  }
  if (prefix !== undefined && !PREFIX.test(prefix)) throw new ProxyNodeError('prefix must be subject tokens of A–Z, a–z, 0–9, _ or - joined by dots');
  if (nodeId !== undefined && !NODE_ID.test(nodeId)) throw new ProxyNodeError('nodeId must be 1–64 characters of A–Z, a–z, 0–9, _ or -');
  for (const [name, ms] of [['stalenessMs', stalenessMs], ['heartbeatMs', heartbeatMs]] as const) {
    if (ms !== undefined && !(Number.isInteger(ms) && ms > 0)) throw new ProxyNodeError(`${name} must be a positive whole number of milliseconds`);
  }
};

export const startProxyNode = (options: ProxyNodeOptions): ProxyNode => {
  checkOptions(options);
  const served = options.instances === 'all' ? 'all' : [...new Set(options.instances)];
  const servedSet = new Set(served === 'all' ? [] : served);
  const filters = served === 'all' ? ['>'] : served.map((instanceId) => `${instanceId}.>`);
  const nodeId = options.nodeId ?? defaultNodeId(hostname(), process.pid);
  const subject = enforcementSubject(options.prefix ?? DEFAULT_PREFIX, nodeId);
  const stalenessMs = options.stalenessMs ?? DEFAULT_STALENESS_MS;
  const clock = options.clock ?? Date.now;
  const log = options.logger ?? SILENT;

  const listeners = new Set<(event: Invalidated) => void>();
  const verifications = Object.fromEntries(['ok', ...Object.values(Refusal)].map((o) => [o, 0])) as Record<Outcome, number>;
  const stats = { ignoredAfterRevoke: 0, unusableValues: 0, invalidations: 0, resyncs: 0 };
  /** Per watched filter, the highest KV revision applied: what heartbeats report. */
  const revisions = new Map<string, number>();

  let nc: NatsConnection | undefined;
  // An object, not a `let`: it changes across awaits, which narrowing cannot see.
  const life = { closed: false };
  let connected = false;
  let loadedOnce = false;
  let generation = 0;
  let watches: KeyWatch[] = [];
  /** Since when changes may have been missed; cleared only by a complete reload. */
  let outOfStepSince: number | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;

  const cache = new KeyCache(options.proxyKey, clock, {
    invalidated: (event) => {
      stats.invalidations++;
      log.info({ ...event }, 'proxy node: key invalidated');
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (e) {
          log.error({ err: messageOf(e) }, 'proxy node: an invalidated listener threw');
        }
      }
    },
    unsealFailed: (instanceId, accessId) => {
      stats.unusableValues++;
      log.error({ instanceId, accessId }, 'proxy node: the database password does not open with this proxy key (is KEYWARD_PROXY_KEY the relay\'s?)');
    },
  });

  let resolveReady: () => void = () => undefined;
  let rejectReady: (e: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // A caller that never awaits `ready` must not see an unhandled rejection on close.
  ready.catch(() => undefined);

  const isStale = (): boolean => outOfStepSince !== undefined && clock() - outOfStepSince > stalenessMs;

  const publish = (report: EnforcementReport): void => {
    if (nc === undefined || !connected) return;
    try {
      nc.publish(subject, JSON.stringify(report));
    } catch (e) {
      log.warn({ err: messageOf(e) }, 'proxy node: an enforcement report was not sent');
    }
  };

  const heartbeat = (): void => {
    publish({
      kind: 'heartbeat',
      nodeId,
      instances: served,
      keys: cache.size,
      ready: loadedOnce,
      stale: isStale(),
      kvRevisions: Object.fromEntries(revisions),
      sentAt: new Date(clock()).toISOString(),
    });
  };
  const heartbeats = setInterval(heartbeat, options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  heartbeats.unref();

  const applyEntry = (filter: string, gen: number, entry: KvEntry): void => {
    // A stopped watch may still hand over what it had queued.
    if (gen !== generation) return;
    revisions.set(filter, Math.max(revisions.get(filter) ?? 0, entry.revision));
    const applied = cache.apply({ key: entry.key, revision: entry.revision, operation: entry.operation, value: entry.value }, gen);
    switch (applied.kind) {
      case 'revoked':
        // The tombstones of the first load are keys this node never accepted.
        if (loadedOnce) {
          const { instanceId, accessId } = applied;
          publish({ kind: 'applied', nodeId, instanceId, accessId, state: 'revoked', kvRevision: entry.revision, appliedAt: new Date(clock()).toISOString() });
        }
        return;
      case 'ignored-after-revoke':
        stats.ignoredAfterRevoke++;
        log.warn({ key: entry.key, kvRevision: entry.revision }, 'proxy node: an active value for a revoked AccessID was ignored (a writer that lags behind)');
        return;
      case 'unusable':
        stats.unusableValues++;
        log.warn({ key: entry.key, kvRevision: entry.revision }, 'proxy node: a KV value does not decode; the key is refused');
        return;
      case 'unchanged':
      case 'active':
      case 'deleted':
        return;
      default: {
        const _exhaustive: never = applied;
        return _exhaustive;
      }
    }
  };

  const caughtUp = (gen: number): void => {
    cache.sweep(gen);
    outOfStepSince = undefined;
    if (!loadedOnce) {
      loadedOnce = true;
      resolveReady();
      log.info({ nodeId, instances: served, keys: cache.size }, 'proxy node: ready');
    } else {
      log.info({ nodeId, keys: cache.size }, 'proxy node: caught up with KV again');
    }
    heartbeat();
  };

  const watchFailed = (gen: number, filter: string, error: unknown): void => {
    if (life.closed || gen !== generation) return;
    log.warn({ filter, err: messageOf(error) }, 'proxy node: a watch failed; reloading');
    outOfStepSince ??= clock();
    clearTimeout(resyncTimer);
    resyncTimer = setTimeout(resync, RETRY_MIN_MS);
  };

  // Retries until the bucket exists and NATS answers: a node may start before the relay.
  const startWatch = async (conn: NatsConnection, filter: string, gen: number, loaded: () => void): Promise<void> => {
    for (let delay = RETRY_MIN_MS; gen === generation && !conn.isClosed(); delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        // bindOnly: the relay creates the bucket with its settings; a node never does.
        const kv = await conn.jetstream().views.kv(KEYS_BUCKET, { bindOnly: true });
        const watch = await watchKeys(kv, filter, {
          entry: (entry) => {
            applyEntry(filter, gen, entry);
          },
          loaded,
          failed: (error) => {
            watchFailed(gen, filter, error);
          },
        });
        // close() moves the generation on too.
        if (gen !== generation) watch.stop();
        else watches.push(watch);
        return;
      } catch (e) {
        log.warn({ filter, err: messageOf(e), retryInMs: delay }, 'proxy node: cannot watch the keys yet');
        await sleep(delay);
      }
    }
  };

  const resync = (): void => {
    if (life.closed || nc === undefined || nc.isClosed()) return;
    clearTimeout(resyncTimer);
    const gen = ++generation;
    stats.resyncs++;
    for (const watch of watches) watch.stop();
    watches = [];
    let waiting = filters.length;
    const loaded = (): void => {
      if (gen === generation && --waiting === 0) caughtUp(gen);
    };
    for (const filter of filters) void startWatch(nc, filter, gen, loaded);
  };

  const follow = async (conn: NatsConnection): Promise<void> => {
    for await (const status of conn.status()) {
      if (life.closed) return;
      if (status.type === Events.Disconnect) {
        connected = false;
        outOfStepSince ??= clock();
        log.warn({ nodeId }, 'proxy node: NATS connection lost; answering from memory until the staleness bound');
      } else if (status.type === Events.Reconnect) {
        connected = true;
        log.info({ nodeId }, 'proxy node: NATS reconnected; reloading the keys');
        resync();
      }
    }
  };

  void (async () => {
    try {
      const conn =
        options.connection ??
        (await connect({
          ...options.natsAuth,
          servers: typeof options.servers === 'object' ? [...options.servers] : (options.servers ?? DEFAULT_SERVERS),
          name: `keyward-proxy-node ${nodeId}`,
          waitOnFirstConnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          pingInterval: Math.max(1000, Math.floor(stalenessMs / 4)),
          maxPingOut: 2,
        }));
      if (life.closed) {
        if (options.connection === undefined) await conn.close();
        return;
      }
      nc = conn;
      connected = !conn.isClosed();
      void follow(conn);
      void conn.closed().then(() => {
        connected = false;
        outOfStepSince ??= clock();
        if (!life.closed) log.error({ nodeId }, 'proxy node: the NATS connection closed for good; the node turns stale');
      });
      resync();
    } catch (e) {
      log.error({ nodeId, err: messageOf(e) }, 'proxy node: cannot connect to NATS');
      rejectReady(new ProxyNodeError(`cannot connect to NATS: ${messageOf(e)}`, { cause: e }));
    }
  })();

  const answer = (instanceId: string, accessId: string, proof: () => Proof): VerifyResult => {
    const result: VerifyResult =
      served !== 'all' && !servedSet.has(instanceId)
        ? { ok: false, reason: Refusal.INSTANCE_NOT_SERVED }
        : !loadedOnce || life.closed
          ? { ok: false, reason: Refusal.NOT_READY }
          : isStale()
            ? { ok: false, reason: Refusal.STALE }
            : cache.verify(instanceId, accessId, proof());
    verifications[result.ok ? 'ok' : result.reason]++;
    return result;
  };

  return {
    nodeId,
    ready,
    verify: (instanceId, accessId, accessSecret) => answer(instanceId, accessId, () => secretProof(accessSecret)),
    verifyMysqlNative: (instanceId, accessId, salt, scramble) => answer(instanceId, accessId, () => mysqlNativeProof(salt, scramble)),
    onInvalidated: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    metrics: () => ({
      keys: cache.size,
      activeKeys: cache.activeCount,
      ready: loadedOnce && !life.closed,
      connected,
      stale: isStale(),
      verifications: { ...verifications },
      ...stats,
    }),
    close: async () => {
      if (life.closed) return;
      life.closed = true;
      generation++;
      clearInterval(heartbeats);
      clearTimeout(resyncTimer);
      for (const watch of watches) watch.stop();
      watches = [];
      cache.dispose();
      rejectReady(new ProxyNodeError('the proxy node was closed before it was ready'));
      if (nc !== undefined && options.connection === undefined) await nc.close();
    },
  };
};
