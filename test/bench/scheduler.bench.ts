// The scheduler under its heaviest load: 10,000 grants whose rotation falls due at the same
// instant, in keyward with its relay, over a real nats-server and a real SQLite file
// (synchronous=FULL). Two questions, each answered beside a baseline from the same run:
//   - do callers' commands keep their latency while the batch runs? (authorize at a steady
//     rate during the batch, against the same stream with the scheduler idle)
//   - how fast is the batch? (the scheduled rotations, against the same 10,000 rotations
//     made by hand through the same command path, as many in flight as the scheduler uses)
// once for each number of commands the scheduler keeps in flight, its default among them.
//
//   npm run bench -- scheduler
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Secret } from '../../domain/index.js';
import { authorize, enableProxy, rotate } from '../../src/app/commands.js';
import { SealingKey } from '../../src/crypto.js';
import { DEFAULT_CONCURRENCY } from '../../src/scheduler/scheduler.js';
import { startKeyward, type Keyward } from '../support/keyward.js';
import { ManualClock } from '../support/manual-clock.js';
import { startNatsServer } from '../support/nats-server.js';
import { fmt, latencyReport, pool, report, steady, timed, type LatencyRow, type Row, type Send } from './report.js';

const GRANTS = 10_000;
const RATE = 200;
const IDLE_SECONDS = 5;
const CONCURRENCIES = [...new Set([1, DEFAULT_CONCURRENCY, 4])].sort((a, b) => a - b);
const INTERVAL = 3600;
const INSTANCE = 'orders-db';
const admin = { userId: 'ada', role: 'admin' as const };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const authorizeOverNats = (kw: Keyward, tag: string): Send => async (i) => {
  const body = { actor: admin, instanceId: INSTANCE, userId: `${tag}-${i}`, policy: { type: 'system' } };
  const msg = await kw.client.request(`keyward.cmd.authorize`, encoder.encode(JSON.stringify(body)), { timeout: 10_000 });
  const answer = JSON.parse(decoder.decode(msg.data)) as { ok: boolean; error?: { code: string; message: string } };
  if (!answer.ok) throw new Error(`authorize ${tag}-${i}: ${answer.error?.code ?? '?'} ${answer.error?.message ?? ''}`);
};

/** Until the relay has carried everything recorded so far to KV, so one phase's work does not spill into the next. */
const relayCaughtUp = async (kw: Keyward): Promise<void> => {
  const { relay } = kw;
  const last = await kw.ctx.store.lastPosition();
  if (relay === undefined || last === undefined) return;
  for (let at = relay.position(); at === undefined || kw.ctx.store.comparePositions(at, last) < 0; at = relay.position()) await sleep(20);
};

const run = async (concurrency: number): Promise<{ latency: LatencyRow; batch: Row }> => {
  const nats = await startNatsServer();
  const clock = new ManualClock(new Date().toISOString());
  let kw: Keyward | undefined;
  try {
    kw = await startKeyward(nats.url, { clock, proxyKey: SealingKey.generate(), schedulerConcurrency: concurrency });
    const ctx = kw.ctx;
    await enableProxy(ctx, { actor: admin, instanceId: INSTANCE, databaseAccount: { username: 'keyward_proxy', password: new Secret('proxy-pass-9') } });
    process.stdout.write(`scheduler, ${concurrency} in flight: authorizing ${fmt(GRANTS)} users on an hourly rotation, then the batch…\n`);
    await pool(GRANTS, 64, (i) => authorize(ctx, { actor: admin, instanceId: INSTANCE, userId: `u-${i}`, policy: { type: 'rotate', intervalSeconds: INTERVAL } }));
    for (let i = 0; i < 200; i++) await authorizeOverNats(kw, 'warm')(i);

    // Baseline throughput: the same rotations by hand. Each moves its grant's next rotation an
    // interval from now, and the clock has not moved, so all 10,000 still fall due together.
    const manualSeconds = await timed(GRANTS, async () => {
      await pool(GRANTS, concurrency, (i) => rotate(ctx, { actor: admin, instanceId: INSTANCE, userId: `u-${i}` }));
    });
    await relayCaughtUp(kw);

    const idleMs = await steady(authorizeOverNats(kw, 'idle'), RATE, IDLE_SECONDS);

    clock.advance(INTERVAL);
    const start = performance.now();
    const batch = (kw.scheduler ?? { idle: () => Promise.reject(new Error('no scheduler')) }).idle().then(() => performance.now() - start);
    const duringMs = await steady(authorizeOverNats(kw, 'during'), RATE, 600, batch);
    const batchSeconds = (await batch) / 1000;
    return {
      latency: { name: `${concurrency} in flight: during the batch, ${duringMs.length}`, ms: duringMs, baselineName: `scheduler idle, ${idleMs.length}`, baselineMs: idleMs },
      batch: { name: `${concurrency} in flight: ${fmt(GRANTS)} scheduled rotations`, count: GRANTS, seconds: batchSeconds, baselineName: `the same by hand, ${concurrency} in flight`, baselineSeconds: manualSeconds },
    };
  } finally {
    try {
      await kw?.stop();
    } finally {
      await nats.dispose();
    }
  }
};

export const schedulerBench = async (): Promise<void> => {
  process.stdout.write('\n');
  const results = [];
  for (const concurrency of CONCURRENCIES) results.push(await run(concurrency));
  latencyReport(`scheduler: authorize over NATS at ${RATE}/s while ${fmt(GRANTS)} scheduled rotations run (relay on, SQLite FULL; default ${DEFAULT_CONCURRENCY} in flight)`, results.map((r) => r.latency));
  report('scheduler: the batch', results.map((r) => r.batch));
};
