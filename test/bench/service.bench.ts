// keyward as its callers see it: requests over a real nats-server to keyward in this process
// on a real SQLite file (synchronous=FULL), each figure beside a bare NATS request/reply echo
// on the same server in the same run, so the ratio says what keyward adds to a round trip.
//
//   npm run bench -- service
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from 'nats';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import { ExpectedRevision } from '../../src/store/types.js';
import { startKeyward, type Keyward } from '../support/keyward.js';
import { startNatsServer } from '../support/nats-server.js';
import { fmt, fmtMs, latencyReport, percentile, pool, report, steady, timed, type Send } from './report.js';

const RATE = 200;
const STEADY_SECONDS = 5;
const IN_FLIGHT = 64;
const BURST = 4000;
const WARM_UP = 200;
const APPENDS = 1000;
/** No timing loop runs longer than this, however slow the machine. */
const LOOP_LIMIT_MS = 60_000;

const PREFIX = 'keyward';
const ECHO_SUBJECT = 'bench.echo';
const INSTANCE = 'orders-db';
const admin = { userId: 'ada', role: 'admin' };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const authorizeBody = (userId: string) => ({ actor: admin, instanceId: INSTANCE, userId, policy: { type: 'system' } });

const keywardSend = (nc: NatsConnection, subject: string, body: (i: number) => object): Send => async (i) => {
  const msg = await nc.request(`${PREFIX}.${subject}`, encoder.encode(JSON.stringify(body(i))), { timeout: 5000 });
  const answer = JSON.parse(decoder.decode(msg.data)) as { ok: boolean; error?: { code: string; message: string } };
  if (!answer.ok) throw new Error(`${subject} ${i}: ${answer.error?.code ?? '?'} ${answer.error?.message ?? ''}`);
};

// The echo carries an authorize request's body, so both sides move the same bytes out.
const echoSend = (nc: NatsConnection): Send => async (i) => {
  const data = encoder.encode(JSON.stringify(authorizeBody(`e-${i}`)));
  const msg = await nc.request(ECHO_SUBJECT, data, { timeout: 5000 });
  if (msg.data.length !== data.length) throw new Error(`echo ${i}: ${msg.data.length} bytes back, ${data.length} sent`);
};

/** `inFlight` callers, each awaiting its answer before sending the next, until `count` are done. */
const burst = async (send: Send, count: number, inFlight: number): Promise<{ done: number; seconds: number }> => {
  let done = 0;
  const seconds = await timed(count, async () => {
    done = await pool(count, inFlight, send, performance.now() + LOOP_LIMIT_MS);
  });
  return { done, seconds };
};

/** p50 (ms) of one durable append: one event, sequential, synchronous=FULL, on its own file. */
const appendP50 = async (): Promise<number> => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-'));
  const store = SqliteEventStore.open({ path: join(dir, 'keyward.db'), synchronous: 'FULL' });
  try {
    const data = { instanceId: INSTANCE, userId: 'user-0000', accessId: 'A'.repeat(24), viewedBy: 'ada', viewedAt: '2026-12-04T10:00:00.000Z' };
    const metadata = { commandId: 'c-1', correlationId: 'c-1', causationId: 'c-1', actor: admin, occurredAt: '2026-12-04T10:00:00.000Z', prevHash: null };
    const times: number[] = [];
    const deadline = performance.now() + LOOP_LIMIT_MS;
    for (let i = 0; i < APPENDS && performance.now() < deadline; i++) {
      const start = performance.now();
      await store.append(`grant-b:a${i}`, [{ id: randomUUID(), type: 'AccessKeyViewed', data, metadata }], ExpectedRevision.noStream);
      times.push(performance.now() - start);
    }
    return percentile(times, 0.5);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
};

const measure = async (kw: Keyward, echo: Send): Promise<void> => {
  const authorize = (tag: string) => keywardSend(kw.client, 'cmd.authorize', (i) => authorizeBody(`${tag}-${i}`));
  const owner = { userId: 'olivia', role: 'user' };
  await keywardSend(kw.client, 'cmd.proxy.enable', () => ({ actor: owner, instanceId: INSTANCE, databaseAccount: { username: 'keyward_proxy', password: 'proxy-pass-9' } }))(0);

  // Connections, JIT and SQLite's page cache settle before anything counts.
  for (let i = 0; i < WARM_UP; i++) {
    await echo(i);
    await authorize('w')(i);
  }

  const echoMs = await steady(echo, RATE, STEADY_SECONDS);
  const authorizeMs = await steady(authorize('s'), RATE, STEADY_SECONDS);
  // Grants made by the steady authorize run, so every query finds one.
  const grantMs = await steady(keywardSend(kw.client, 'query.grant', (i) => ({ actor: admin, instanceId: INSTANCE, userId: `s-${i % authorizeMs.length}` })), RATE, STEADY_SECONDS);
  const appendMs = await appendP50();

  const echoName = `NATS echo, ${RATE}/s, ${echoMs.length}`;
  latencyReport('keyward over NATS, round trips at a steady rate (SQLite synchronous=FULL)', [
    { name: `authorize command, ${RATE}/s, ${authorizeMs.length}`, ms: authorizeMs, baselineName: echoName, baselineMs: echoMs },
    { name: `grant query, ${RATE}/s, ${grantMs.length}`, ms: grantMs, baselineName: echoName, baselineMs: echoMs },
  ]);
  const echoP50 = percentile(echoMs, 0.5);
  const authorizeP50 = percentile(authorizeMs, 0.5);
  const aim = 3 * (echoP50 + appendMs);
  process.stdout.write(
    `one durable append (store.append, 1 event, sequential, own file): p50 ${fmtMs(appendMs)}\n` +
      `aim: authorize p50 <= 3 x (echo p50 ${fmtMs(echoP50)} + append p50 ${fmtMs(appendMs)}) = ${fmtMs(aim)}: ` +
      `${authorizeP50 <= aim ? 'met' : 'NOT met'} (${fmtMs(authorizeP50)}, ${(authorizeP50 / aim).toFixed(2)} of the aim)\n`,
  );

  const echoBurst = await burst(echo, BURST, IN_FLIGHT);
  const authorizeBurst = await burst(authorize('b'), BURST, IN_FLIGHT);
  // Should the time limit cut a run short, the rates still compare like with like.
  const baselineSeconds = (echoBurst.seconds * authorizeBurst.done) / echoBurst.done;
  report('keyward over NATS, throughput', [
    { name: `authorize command, ${IN_FLIGHT} in flight`, count: authorizeBurst.done, seconds: authorizeBurst.seconds, baselineName: `NATS echo, ${IN_FLIGHT} in flight`, baselineSeconds },
  ]);
  const rate = authorizeBurst.done / authorizeBurst.seconds;
  process.stdout.write(`aim: at least 2,000 commands/s: ${rate >= 2000 ? 'met' : 'NOT met'} (${fmt(rate)}/s over ${fmt(authorizeBurst.done)} commands)\n`);
};

export const serviceBench = async (): Promise<void> => {
  const nats = await startNatsServer();
  let kw: Keyward | undefined;
  let responder: NatsConnection | undefined;
  try {
    kw = await startKeyward(nats.url, PREFIX);
    // The echo answers on a connection of its own, as keyward's service does.
    responder = await connect({ servers: nats.url });
    responder.subscribe(ECHO_SUBJECT, {
      callback: (err, msg) => {
        if (err === null) msg.respond(msg.data);
      },
    });
    await responder.flush();
    await measure(kw, echoSend(kw.client));
  } finally {
    try {
      await responder?.close();
      await kw?.stop();
    } finally {
      await nats.dispose();
    }
  }
};
