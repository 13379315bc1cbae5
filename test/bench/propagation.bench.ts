// Revocation reaching the proxy nodes: from the revoke command's reply to the last of 8 proxy
// nodes refusing the key, beside a bare KV put reaching 8 plain watchers in the same run (the
// floor: what NATS itself takes to carry one change to 8 readers). Then one node's verify
// throughput and its memory with 100,000 keys cached. Everything runs in this process (keyward,
// the relay, the nodes, the watchers) against one nats-server on 127.0.0.1.
//
//   npm run bench -- propagation
import { createHash, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, KvWatchInclude, StorageType, type KV, type NatsConnection } from 'nats';
import { Secret } from '../../domain/index.js';
import { generateAccessId, generateAccessSecret, SealingKey, verifiersOf } from '../../src/crypto.js';
import { KEYS_BUCKET, KeyValue, kvKey, type ActiveKeyValue } from '../../src/keys/kv.js';
import { createLogger } from '../../src/log.js';
import { startProxyNode, type ProxyNode } from '../../src/proxy-node/index.js';
import { startRelay } from '../../src/relay/relay.js';
import { startKeyward } from '../support/keyward.js';
import { startNatsServer } from '../support/nats-server.js';
import { fmt, fmtMs, percentile, report, table } from './report.js';

const NODES = 8;
const REVOCATIONS = 1000;
const WARM_UP = 50;
const AUTHORIZE_IN_FLIGHT = 16;
const CACHED_KEYS = 100_000;
const PUT_IN_FLIGHT = 512;
const VERIFY_SECONDS = 2;
/** No sample waits longer than this for its arrivals. */
const SAMPLE_TIMEOUT_MS = 5000;
/** No loop runs longer than this, however slow the machine. */
const LOOP_LIMIT_MS = 120_000;

const PREFIX = 'keyward';
const INSTANCE = 'orders-db';
/** The verify-throughput node's instance, written straight into KV: the relay never sees it. */
const VERIFY_INSTANCE = 'bench-verify';
const FLOOR_BUCKET = 'bench-floor';
const admin = { userId: 'ada', role: 'admin' };
const owner = { userId: 'olivia', role: 'user' };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const silent = createLogger({ level: 'silent' });

interface Pair {
  readonly userId: string;
  readonly accessId: string;
  readonly secret: string;
}

/**
 * Last started, first stopped; every step runs even when one before it fails. Failures are
 * printed, not thrown: called from `finally`, a throw would hide the error that got us there.
 */
class Resources {
  readonly #stops: (() => Promise<unknown>)[] = [];

  add<T>(resource: T, stop: (r: T) => Promise<unknown>): T {
    this.#stops.push(() => stop(resource));
    return resource;
  }

  async close(): Promise<void> {
    for (const stop of this.#stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (e) {
        process.stderr.write(`propagation bench: cleanup failed: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  }
}

/**
 * When each of `count` readers saw a key change. The expectation is set before the change is
 * made, so a reader that sees it before the writer's acknowledgement is still counted.
 */
class Arrivals {
  readonly #waiting = new Map<string, { readonly times: number[]; readonly count: number; readonly done: () => void }>();

  expect(key: string, count: number): Promise<number[]> {
    const times: number[] = [];
    const arrived = new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new Error(`${key}: ${times.length} of ${count} readers saw the change within ${SAMPLE_TIMEOUT_MS} ms`));
      }, SAMPLE_TIMEOUT_MS);
      this.#waiting.set(key, {
        times,
        count,
        done: () => {
          clearTimeout(timer);
          this.#waiting.delete(key);
          resolve(times);
        },
      });
    });
    // Awaited only after the change is acknowledged; a timeout before then must not go unhandled.
    arrived.catch(() => undefined);
    return arrived;
  }

  arrive(key: string, at: number): void {
    const waiting = this.#waiting.get(key);
    if (waiting === undefined) return;
    waiting.times.push(at);
    if (waiting.times.length === waiting.count) waiting.done();
  }
}

const request = async (nc: NatsConnection, subject: string, body: object): Promise<Record<string, unknown>> => {
  const msg = await nc.request(`${PREFIX}.${subject}`, encoder.encode(JSON.stringify(body)), { timeout: SAMPLE_TIMEOUT_MS });
  const answer = JSON.parse(decoder.decode(msg.data)) as { ok: boolean; result?: Record<string, unknown>; error?: { code: string; message: string } };
  if (!answer.ok || answer.result === undefined) throw new Error(`${subject}: ${answer.error?.code ?? '?'} ${answer.error?.message ?? ''}`);
  return answer.result;
};

const authorizeAll = async (nc: NatsConnection, userIds: readonly string[]): Promise<Pair[]> => {
  const pairs: Pair[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: AUTHORIZE_IN_FLIGHT }, async () => {
      while (next < userIds.length) {
        const userId = userIds[next++] ?? '';
        const result = await request(nc, 'cmd.authorize', { actor: admin, instanceId: INSTANCE, userId, policy: { type: 'system' } });
        const { accessId, accessSecret } = result;
        if (typeof accessId !== 'string' || typeof accessSecret !== 'string') throw new Error(`authorize ${userId}: no pair in the reply`);
        pairs.push({ userId, accessId, secret: accessSecret });
      }
    }),
  );
  return pairs;
};

const untilAllAccept = async (nodes: readonly ProxyNode[], pairs: readonly Pair[]): Promise<void> => {
  const deadline = performance.now() + LOOP_LIMIT_MS;
  for (;;) {
    let refused = 0;
    for (const node of nodes) for (const p of pairs) if (!node.verify(INSTANCE, p.accessId, p.secret).ok) refused++;
    if (refused === 0) return;
    if (performance.now() > deadline) throw new Error(`${refused} verifications still refused after ${LOOP_LIMIT_MS} ms`);
    await sleep(20);
  }
};

/** Calls `seen` with the arrival time of every change to `key` after the watch starts. */
const watchChanges = async (kv: KV, key: string, seen: (key: string, at: number) => void): Promise<void> => {
  const it = await kv.watch({ key, include: KvWatchInclude.UpdatesOnly });
  void (async () => {
    for await (const entry of it) seen(entry.key, performance.now());
  })();
};

interface Figures {
  /** Clamped at 0, as the aims count them. */
  readonly revokeMs: number[];
  readonly directMs: number[];
  readonly floorMs: number[];
  /** Signed, from the revoke reply: where the time goes. */
  readonly roundTripMs: number[];
  readonly firstNodeMs: number[];
  readonly lastNodeMs: number[];
  /** What the relay does per changed key (read, then compare-and-set), bare, on the floor bucket. */
  readonly getUpdateMs: number[];
  /** Samples where every reader had the change before the writer's reply or ack arrived. */
  early: { revoke: number; direct: number; floor: number };
}

/** An active value as the relay writes it, for a pair the bench makes itself. */
const activeValue = (instanceId: string, accessId: string, userId: string, secret: Secret, passwordSealed: string, issuedAt: string): ActiveKeyValue => ({
  state: 'active',
  accessId,
  instanceId,
  userId,
  verifiers: verifiersOf(secret),
  databaseAccount: { username: 'keyward_proxy', passwordSealed },
  notAfter: null,
  issuedAt,
  position: '1',
});

const propagation = async (url: string): Promise<Figures> => {
  const res = new Resources();
  try {
    const kw = res.add(await startKeyward(url, PREFIX), (k) => k.stop());
    const proxyKey = SealingKey.generate();
    // The relay writes KV on a connection of its own, as a separate relay process would.
    const relayNc = res.add(await connect({ servers: url }), (nc) => nc.close());
    const relay = res.add(startRelay({ store: kw.ctx.store, nc: relayNc, prefix: PREFIX, masterKey: kw.ctx.masterKey, proxyKey, log: silent }), (r) => r.stop());
    await relay.ready;

    await request(kw.client, 'cmd.proxy.enable', { actor: owner, instanceId: INSTANCE, databaseAccount: { username: 'keyward_proxy', password: 'proxy-pass-9' } });
    const nodes = Array.from({ length: NODES }, (_, n) => res.add(startProxyNode({ instances: [INSTANCE], proxyKey, servers: url, nodeId: `bench-node-${n}` }), (node) => node.close()));
    await Promise.all(nodes.map((n) => n.ready));

    const userIds = Array.from({ length: WARM_UP + REVOCATIONS }, (_, i) => `u-${String(i).padStart(5, '0')}`);
    const byUser = new Map((await authorizeAll(kw.client, userIds)).map((p) => [p.userId, p]));
    const pairs = userIds.map((u) => byUser.get(u)).filter((p) => p !== undefined);

    // Keys written straight into KV, as the relay would: revoking them the same way measures
    // the nodes alone, with keyward and the relay out of the path. The relay reconciles (and
    // would revoke keys the store never issued) only on start and reconnect, neither of which
    // happens here.
    const directNc = res.add(await connect({ servers: url }), (nc) => nc.close());
    const directKv = await directNc.jetstream().views.kv(KEYS_BUCKET, { bindOnly: true });
    const passwordSealed = proxyKey.seal(new Secret('proxy-pass-9'));
    const issuedAt = new Date().toISOString();
    const direct = await Promise.all(
      userIds.map(async (_, i) => {
        const secret = generateAccessSecret();
        const value = activeValue(INSTANCE, generateAccessId(), `d-${String(i).padStart(5, '0')}`, secret, passwordSealed, issuedAt);
        await directKv.put(kvKey(INSTANCE, value.accessId), JSON.stringify(KeyValue.encode(value)));
        return { userId: value.userId, accessId: value.accessId, secret: secret.reveal() };
      }),
    );
    await untilAllAccept(nodes, [...pairs, ...direct]);

    const nodeArrivals = new Arrivals();
    for (const node of nodes) node.onInvalidated((e) => { nodeArrivals.arrive(e.accessId, performance.now()); });

    // The floor: a bucket made like the keys bucket, one writer and 8 watchers, each on its own connection.
    const floorNc = res.add(await connect({ servers: url }), (nc) => nc.close());
    const floorKv = await floorNc.jetstream().views.kv(FLOOR_BUCKET, { history: 1, storage: StorageType.File });
    const floorArrivals = new Arrivals();
    for (let w = 0; w < NODES; w++) {
      const nc = res.add(await connect({ servers: url }), (c) => c.close());
      await watchChanges(await nc.jetstream().views.kv(FLOOR_BUCKET, { bindOnly: true }), '>', (key, at) => { floorArrivals.arrive(key, at); });
    }

    /** Every node's invalidation time for the pair, once each has also refused it. */
    const refusedByAll = async (arrived: Promise<number[]>, pair: Pair): Promise<number[]> => {
      const times = await arrived;
      for (const node of nodes) {
        const verdict = node.verify(INSTANCE, pair.accessId, pair.secret);
        if (verdict.ok || verdict.reason !== 'revoked') throw new Error(`${node.nodeId} reported ${pair.accessId} invalidated but answers ${JSON.stringify(verdict)}`);
      }
      return times;
    };

    /** Signed: from the put's ack to the last watcher seeing the value. */
    const floorSample = async (i: number): Promise<number> => {
      const key = `k${i}`;
      const arrived = floorArrivals.expect(key, NODES);
      await floorKv.put(key, encoder.encode(String(i)));
      const acked = performance.now();
      return Math.max(...(await arrived)) - acked;
    };

    const getUpdateSample = async (i: number): Promise<number> => {
      const start = performance.now();
      const current = await floorKv.get(`k${i}`);
      if (current === null) throw new Error(`floor key k${i} is missing`);
      await floorKv.update(`k${i}`, encoder.encode(`${i} revoked`), current.revision);
      return performance.now() - start;
    };

    /** Signed: from the put's ack to the last node refusing the key. */
    const directSample = async (pair: Pair): Promise<number> => {
      const arrived = nodeArrivals.expect(pair.accessId, NODES);
      const revoked: KeyValue = { state: 'revoked', accessId: pair.accessId, instanceId: INSTANCE, userId: pair.userId, reason: 'recycled', at: new Date().toISOString(), position: '1' };
      await directKv.put(kvKey(INSTANCE, pair.accessId), JSON.stringify(KeyValue.encode(revoked)));
      const acked = performance.now();
      return Math.max(...(await refusedByAll(arrived, pair))) - acked;
    };

    /** Signed times from the revoke reply, and the round trip. */
    const revocationSample = async (pair: Pair): Promise<{ roundTrip: number; first: number; last: number }> => {
      const atNodes = nodeArrivals.expect(pair.accessId, NODES);
      const sent = performance.now();
      const msg = await kw.client.request(`${PREFIX}.cmd.revoke`, encoder.encode(JSON.stringify({ actor: admin, instanceId: INSTANCE, userId: pair.userId, mode: 'recycle' })), { timeout: SAMPLE_TIMEOUT_MS });
      const replied = performance.now();
      const answer = JSON.parse(decoder.decode(msg.data)) as { ok: boolean; result?: { accessId?: string } };
      if (!answer.ok || answer.result?.accessId !== pair.accessId) throw new Error(`revoke ${pair.userId}: ${decoder.decode(msg.data)}`);
      const times = await refusedByAll(atNodes, pair);
      return { roundTrip: replied - sent, first: Math.min(...times) - replied, last: Math.max(...times) - replied };
    };

    // Connections, JIT and both buckets settle before anything counts.
    for (let i = 0; i < WARM_UP; i++) {
      const [pair, directPair] = [pairs[i], direct[i]];
      if (pair === undefined || directPair === undefined) throw new Error(`pair ${i} is missing`);
      await floorSample(-1 - i);
      await getUpdateSample(-1 - i);
      await directSample(directPair);
      await revocationSample(pair);
    }
    const f: Figures = { revokeMs: [], directMs: [], floorMs: [], roundTripMs: [], firstNodeMs: [], lastNodeMs: [], getUpdateMs: [], early: { revoke: 0, direct: 0, floor: 0 } };
    // A reader can have a change before the writer hears back (the relay, for one, may write KV
    // before keyward's reply is on its way, since the reply first waits for keyward's own
    // projections). For the caller that is a delay of 0, never less: clamped, and counted.
    const clamped = (signed: number, kind: keyof Figures['early']): number => {
      if (signed <= 0) f.early[kind]++;
      return Math.max(0, signed);
    };
    // Interleaved, so all of them see the same machine: the same GC, page cache and CPU clock.
    const deadline = performance.now() + LOOP_LIMIT_MS;
    for (let i = WARM_UP; i < pairs.length && performance.now() < deadline; i++) {
      const [pair, directPair] = [pairs[i], direct[i]];
      if (pair === undefined || directPair === undefined) throw new Error(`pair ${i} is missing`);
      f.floorMs.push(clamped(await floorSample(i), 'floor'));
      f.getUpdateMs.push(await getUpdateSample(i));
      f.directMs.push(clamped(await directSample(directPair), 'direct'));
      const r = await revocationSample(pair);
      f.revokeMs.push(clamped(r.last, 'revoke'));
      f.roundTripMs.push(r.roundTrip);
      f.firstNodeMs.push(r.first);
      f.lastNodeMs.push(r.last);
    }
    return f;
  } finally {
    await res.close();
  }
};

const printPropagation = (f: Figures): void => {
  const row = (ms: readonly number[]) => [fmtMs(percentile(ms, 0.5)), fmtMs(percentile(ms, 0.99)), fmtMs(Math.max(...ms))];
  const p99 = percentile(f.revokeMs, 0.99);
  const floorP99 = percentile(f.floorMs, 0.99);
  const floorName = `KV put ack -> last of ${NODES} watchers`;
  const ratio = (ms: readonly number[]) => `${(percentile(ms, 0.99) / floorP99).toFixed(2)}x`;
  table(
    `revocation propagation to ${NODES} proxy nodes, ${fmt(f.revokeMs.length)} revocations one at a time (0 when every reader had it before the reply/ack)`,
    ['measured', 'p50', 'p99', 'max', 'baseline (same run)', 'p50', 'p99', 'max', 'ratio (p99)'],
    [
      [`revoke reply -> last of ${NODES} nodes refuses`, ...row(f.revokeMs), floorName, ...row(f.floorMs), ratio(f.revokeMs)],
      [`KV put ack (revoked value, no keyward/relay) -> last node refuses`, ...row(f.directMs), floorName, ...row(f.floorMs), ratio(f.directMs)],
    ],
    4,
  );
  const twice = 2 * floorP99;
  const verdict = (met: boolean, limit: number) => (met ? 'met' : `NOT met, ${fmtMs(p99 - limit)} over (${(p99 / limit).toFixed(2)} of the aim)`);
  const line = (label: string, ms: readonly number[]) => `  ${label.padEnd(52)}p50 ${fmtMs(percentile(ms, 0.5))}, p99 ${fmtMs(percentile(ms, 0.99))}\n`;
  const n = fmt(f.revokeMs.length);
  process.stdout.write(
    `aim: revoke p99 < 2 x floor p99 (${fmtMs(twice)}): ${verdict(p99 < twice, twice)}\n` +
      `aim: revoke p99 < 10 ms: ${verdict(p99 < 10, 10)}\n` +
      `counted as 0, every reader ahead of the reply/ack: revoke ${fmt(f.early.revoke)} of ${n}, direct ${fmt(f.early.direct)} of ${n}, floor ${fmt(f.early.floor)} of ${n}\n` +
      `where the time goes, from the moment the revoke reply arrives (negative: before it):\n` +
      line('revoke round trip (send -> reply, not counted)', f.roundTripMs) +
      line(`first of ${NODES} nodes refuses`, f.firstNodeMs) +
      line(`last of ${NODES} nodes refuses (all share this thread)`, f.lastNodeMs) +
      line('bare kv.get + kv.update, as the relay writes a key', f.getUpdateMs),
  );
};

const heap = (): { used: number; buffers: number } => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { used: m.heapUsed, buffers: m.arrayBuffers };
};

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** How many times `step(i)` runs in about `seconds`, i cycling over `n`. */
const loop = (seconds: number, n: number, step: (i: number) => boolean): { count: number; seconds: number } => {
  const start = performance.now();
  const end = start + seconds * 1000;
  let count = 0;
  let now = start;
  while (now < end) {
    // The clock is read once per 1,024 calls so it costs nothing beside them.
    for (let k = 0; k < 1024; k++, count++) if (!step(count % n)) throw new Error(`call ${count} failed`);
    now = performance.now();
  }
  return { count, seconds: (now - start) / 1000 };
};

const verifyThroughput = async (url: string): Promise<void> => {
  const res = new Resources();
  try {
    const proxyKey = SealingKey.generate();
    // As the relay writes them: one proxy account, its password sealed once and shared.
    const passwordSealed = proxyKey.seal(new Secret('proxy-pass-9'));
    const issuedAt = new Date().toISOString();
    const accessIds: string[] = [];
    const secrets: string[] = [];
    const sha256: Buffer[] = [];
    for (let i = 0; i < CACHED_KEYS; i++) {
      const secret = generateAccessSecret();
      accessIds.push(generateAccessId());
      secrets.push(secret.reveal());
      sha256.push(Buffer.from(verifiersOf(secret).sha256, 'hex'));
    }

    const nc = res.add(await connect({ servers: url }), (c) => c.close());
    const kv = await nc.jetstream().views.kv(KEYS_BUCKET, { history: 1, storage: StorageType.File });
    const valueOf = (i: number): ActiveKeyValue => activeValue(VERIFY_INSTANCE, accessIds[i] ?? '', `v-${i}`, new Secret(secrets[i] ?? ''), passwordSealed, issuedAt);
    for (let from = 0; from < CACHED_KEYS; from += PUT_IN_FLIGHT) {
      const puts: Promise<number>[] = [];
      for (let i = from; i < Math.min(from + PUT_IN_FLIGHT, CACHED_KEYS); i++) {
        const value = valueOf(i);
        puts.push(kv.put(kvKey(VERIFY_INSTANCE, value.accessId), JSON.stringify(KeyValue.encode(value))));
      }
      await Promise.all(puts);
    }

    // The bench's own arrays exist already, so the difference is the node's alone.
    const before = heap();
    const loadStart = performance.now();
    const node = res.add(startProxyNode({ instances: [VERIFY_INSTANCE], proxyKey, servers: url, nodeId: 'bench-verify' }), (n) => n.close());
    await node.ready;
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const loaded = heap();
    if (node.metrics().activeKeys !== CACHED_KEYS) throw new Error(`the node holds ${node.metrics().activeKeys} active keys, not ${CACHED_KEYS}`);
    // The first accepted verification of a key unseals its password and keeps it.
    for (let i = 0; i < CACHED_KEYS; i++) if (!node.verify(VERIFY_INSTANCE, accessIds[i] ?? '', secrets[i] ?? '').ok) throw new Error(`key ${i} refused`);
    const verified = heap();

    const verify = (i: number) => node.verify(VERIFY_INSTANCE, accessIds[i] ?? '', secrets[i] ?? '').ok;
    const bare = (i: number) => timingSafeEqual(createHash('sha256').update(secrets[i] ?? '', 'utf8').digest(), sha256[i] ?? Buffer.alloc(32));
    loop(0.2, CACHED_KEYS, verify);
    loop(0.2, CACHED_KEYS, bare);
    const v = loop(VERIFY_SECONDS, CACHED_KEYS, verify);
    const b = loop(VERIFY_SECONDS, CACHED_KEYS, bare);
    report(`proxy node verify, one thread, ${fmt(CACHED_KEYS)} keys cached, valid pairs (${fmt(v.count)} calls)`, [
      // Scaled to the same count, so both rates compare like with like.
      { name: 'node.verify(instance, accessId, secret)', count: v.count, seconds: v.seconds, baselineName: 'sha256 + timingSafeEqual', baselineSeconds: (b.seconds * v.count) / b.count },
    ]);
    const grown = (after: { used: number; buffers: number }) => {
      const used = after.used - before.used;
      const buffers = after.buffers - before.buffers;
      return `heap used +${mb(used)} (${fmt(used / CACHED_KEYS)} bytes/key), ArrayBuffers outside the heap +${mb(buffers)} (${fmt(buffers / CACHED_KEYS)} bytes/key)`;
    };
    process.stdout.write(
      `memory of ${fmt(CACHED_KEYS)} cached keys, one node (${globalThis.gc === undefined ? 'NO gc() before each reading: run with --expose-gc' : 'gc() before each reading'}):\n` +
        `  ${`after the first load (${loadSeconds.toFixed(1)} s)`.padEnd(57)}${grown(loaded)}\n` +
        `  ${'after each key verified once (passwords unsealed, kept)'.padEnd(57)}${grown(verified)}\n`,
    );
  } finally {
    await res.close();
  }
};

export const propagationBench = async (): Promise<void> => {
  const nats = await startNatsServer();
  try {
    const started = performance.now();
    printPropagation(await propagation(nats.url));
    await verifyThroughput(nats.url);
    process.stdout.write(`propagation bench: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    await nats.dispose();
  }
};
