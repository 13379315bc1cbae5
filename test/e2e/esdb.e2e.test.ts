// keyward on EventStoreDB (the test emulator): started as an operator starts it, and when
// the server goes away in the middle of a burst of commands: commands answer UNAVAILABLE and
// record nothing, keyward keeps serving, and once the server is back every command retried
// with its commandId is recorded once and reaches the projections once.
import { randomUUID } from 'node:crypto';
import { connect, JSONCodec } from 'nats';
import { expect, it } from 'vitest';
import { SealingKey } from '../../src/crypto.js';
import { KEYS_BUCKET, kvKey } from '../../src/keys/kv.js';
import { EsdbEventStore } from '../../src/store/esdb/esdb-store.js';
import { withCleanups } from '../support/cleanups.js';
import { startEsdbEmulator } from '../support/esdb-emulator/index.js';
import { ok, startKeyward, type Answer } from '../support/keyward.js';
import { startNatsServer } from '../support/nats-server.js';
import { startProcess } from '../support/service-process.js';

const admin = { userId: 'ada', role: 'admin' };
const INSTANCE = 'orders-db';
const USERS = 200;

const cleanups = withCleanups();

it('the emulator stopped and restarted in the middle of a burst: each command recorded once, each event applied once', async () => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.dispose());
  const emulator = await startEsdbEmulator();
  cleanups.push(() => emulator.dispose());
  const kw = await startKeyward(nats.url, { store: EsdbEventStore.open({ connectionString: emulator.url, resubscribeMs: 20 }) });
  cleanups.push(() => kw.stop());
  const applied: string[] = [];
  kw.ctx.projector.onApplied((e) => applied.push(e.id));

  ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: INSTANCE, databaseAccount: { username: 'proxy_acct', password: 'pw' } }));
  const commandIds = Array.from({ length: USERS }, () => randomUUID());
  const authorize = (i: number): Promise<Answer> =>
    kw.request('cmd.authorize', { commandId: commandIds[i], actor: admin, instanceId: INSTANCE, userId: `user-${i}`, policy: { type: 'system' } });

  const codes = new Map<string, number>();
  let stopped = false;
  const burst = Array.from({ length: USERS }, async (_, i) => {
    if (i === USERS / 2 && !stopped) {
      stopped = true;
      await emulator.stop();
      setTimeout(() => void emulator.start(), 500);
    }
    const answer = await authorize(i);
    const code = answer.ok ? 'ok' : (answer.error?.code ?? '?');
    codes.set(code, (codes.get(code) ?? 0) + 1);
  });
  await Promise.all(burst);
  // Only successes and UNAVAILABLE: nothing else is a fair answer to a server going away;
  // and the server did go away in the middle of it.
  expect([...codes.keys()].every((c) => c === 'ok' || c === 'UNAVAILABLE')).toBe(true);
  expect(codes.get('UNAVAILABLE') ?? 0).toBeGreaterThan(0);

  // Callers retry with their commandId, as API.md tells them to.
  for (let i = 0; i < USERS; i++) {
    for (let attempt = 0; ; attempt++) {
      const answer = await authorize(i);
      if (answer.ok) break;
      expect(answer.error?.code).toBe('UNAVAILABLE');
      if (attempt > 100) throw new Error(`user-${i} never recorded`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const reader = EsdbEventStore.open({ connectionString: emulator.url });
  cleanups.push(() => reader.close());
  const recorded = [];
  for await (const e of reader.readAll()) recorded.push(e);
  const grants = recorded.filter((e) => e.type === 'AccessGranted');
  expect(grants).toHaveLength(USERS);
  expect(new Set(grants.map((e) => e.streamId)).size).toBe(USERS);

  for (let i = 0; i < 200 && applied.length < recorded.length; i++) await new Promise((r) => setTimeout(r, 25));
  expect(applied).toHaveLength(recorded.length);
  expect(new Set(applied).size).toBe(recorded.length);
  expect(ok(await kw.request('query.grants', { actor: admin, instanceId: INSTANCE, limit: 500 })).items).toHaveLength(USERS);
}, 120_000);

it('npm start with KEYWARD_STORE=esdb://…: serves on EventStoreDB, and its log names the server without the password', async () => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.dispose());
  const emulator = await startEsdbEmulator();
  cleanups.push(() => emulator.dispose());
  const connectionString = emulator.url.replace('esdb://', 'esdb://admin:Ch4ngeit-pw@');
  const stdout: string[] = [];
  const service = startProcess(
    { KEYWARD_STORE: connectionString, KEYWARD_NATS_URL: nats.url, KEYWARD_MASTER_KEY: SealingKey.generate().exportBase64(), KEYWARD_PROXY_KEY: SealingKey.generate().exportBase64() },
    stdout,
  );
  cleanups.push(async () => {
    service.child.kill('SIGKILL');
    await service.exited;
  });
  await service.serving;
  const nc = await connect({ servers: nats.url });
  cleanups.push(() => nc.close());
  const json = JSONCodec<{ ok: boolean; result?: Record<string, unknown> }>();
  const ask = async (subject: string, body: unknown) => json.decode((await nc.request(`keyward.${subject}`, JSONCodec().encode(body), { timeout: 10_000 })).data);
  expect((await ask('cmd.proxy.enable', { actor: admin, instanceId: INSTANCE, databaseAccount: { username: 'proxy_acct', password: 'pw' } })).ok).toBe(true);
  const granted = await ask('cmd.authorize', { actor: admin, instanceId: INSTANCE, userId: 'bob', policy: { type: 'system' } });
  expect(granted.ok).toBe(true);

  const reader = EsdbEventStore.open({ connectionString: emulator.url });
  cleanups.push(() => reader.close());
  expect((await reader.readStream(`grant-${INSTANCE}:bob`)).map((e) => e.type)).toEqual(['AccessGranted']);
  // The relay in that process follows EventStoreDB too: the key reaches proxy nodes' bucket.
  const kv = await nc.jetstream().views.kv(KEYS_BUCKET);
  const state = async () => (await kv.get(kvKey(INSTANCE, String(granted.result?.accessId))))?.json<{ state: string }>().state;
  for (let i = 0; i < 200 && (await state()) !== 'active'; i++) await new Promise((r) => setTimeout(r, 25));
  expect(await state()).toBe('active');
  const serving = stdout.find((l) => l.includes('keyward is serving')) ?? '';
  expect(serving).toContain(`esdb://127.0.0.1:${emulator.port}`);
  expect([...stdout, ...service.stderr].join('\n')).not.toContain('Ch4ngeit-pw');
}, 60_000);
