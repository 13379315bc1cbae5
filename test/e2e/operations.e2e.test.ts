// What operators meet: logs without secrets, a NATS restart, several processes in one queue
// group, and a start without NATS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { describe, expect, it } from 'vitest';
import { SealingKey } from '../../src/crypto.js';
import { KEYS_BUCKET } from '../../src/keys/kv.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import { withCleanups } from '../support/cleanups.js';
import { startProcess } from '../support/service-process.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { ok, startKeyward, type Answer, type Keyward } from '../support/keyward.js';

const admin = { userId: 'ada', role: 'admin' };
const bob = { userId: 'bob', role: 'user' };

const cleanups = withCleanups();

const withNats = async (): Promise<NatsServer> => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.dispose());
  return nats;
};
const withKeyward = async (url: string): Promise<Keyward> => {
  const kw = await startKeyward(url);
  cleanups.push(() => kw.stop());
  return kw;
};

describe('logs', () => {
  it('a full authorize / view / rotate flow logs one line per request and never a secret, password or sealed value', async () => {
    const nats = await withNats();
    const kw = await withKeyward(nats.url);
    ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'proxy', password: 'Pr0xy-password-77' } }));
    const granted = ok(await kw.request('cmd.authorize', { commandId: 'c-1', actor: admin, instanceId: 'orders-db', userId: 'bob', databaseAccount: { username: 'bob_ro', password: 'B0b-password-88' }, policy: { type: 'system' } }));
    const viewed = ok(await kw.request('query.key', { actor: bob, instanceId: 'orders-db', userId: 'bob' }));
    const rotated = ok(await kw.request('cmd.rotate', { actor: bob, instanceId: 'orders-db', userId: 'bob' }));
    const sealed: string[] = [];
    for await (const e of kw.ctx.store.readAll()) {
      JSON.stringify(e.data, (k, v: unknown) => {
        if ((k === 'secretSealed' || k === 'passwordSealed') && typeof v === 'string') sealed.push(v);
        return v;
      });
    }
    const log = kw.logs.join('\n');
    expect(kw.logs.filter((l) => l.includes('"subject"'))).toHaveLength(4);
    for (const secret of [granted.accessSecret, viewed.accessSecret, rotated.accessSecret, 'Pr0xy-password-77', 'B0b-password-88', ...sealed]) {
      expect(typeof secret).toBe('string');
      expect(log).not.toContain(String(secret));
    }
    expect(sealed.length).toBeGreaterThanOrEqual(4);
  });
});

describe('an event store that cannot be reached', () => {
  it('answers UNAVAILABLE (503), says nothing was recorded, and the service stays up', async () => {
    const nats = await withNats();
    const kw = await withKeyward(nats.url);
    ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'p', password: 'q' } }));
    await kw.ctx.store.close();
    const answer = await kw.request('cmd.authorize', { actor: admin, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } });
    expect(answer).toMatchObject({ ok: false, headerCode: '503', error: { code: 'UNAVAILABLE', message: 'the event store cannot be reached; nothing was recorded' } });
    const again = await kw.request('cmd.revoke', { actor: admin, instanceId: 'orders-db', userId: 'bob', mode: 'recycle' });
    expect(again.error?.code).toBe('UNAVAILABLE');
  });
});

describe('a NATS restart', () => {
  it('the service reconnects and later commands succeed', async () => {
    const nats = await withNats();
    const kw = await withKeyward(nats.url);
    ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'p', password: 'q' } }));
    await nats.restart();
    // Both connections reconnect on their own; until they have, a request may time out.
    let answer: Answer | undefined;
    for (let i = 0; i < 50 && answer === undefined; i++) {
      answer = await kw.request('cmd.authorize', { commandId: 'after-restart', actor: admin, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } }).catch(() => undefined);
      if (answer === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ok(answer ?? { ok: false })).toMatchObject({ userId: 'bob' });
    expect(ok(await kw.request('query.grant', { actor: admin, instanceId: 'orders-db', userId: 'bob' }))).toMatchObject({ status: 'active' });
  }, 30_000);
});

describe('two service processes in one queue group', () => {
  it('share a burst of commands: every one answered, recorded exactly once', async () => {
    const nats = await withNats();
    const dir = mkdtempSync(join(tmpdir(), 'keyward-two-'));
    cleanups.push(() => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    });
    const env = { KEYWARD_NATS_URL: nats.url, KEYWARD_STORE: `sqlite:${join(dir, 'keyward.db')}`, KEYWARD_MASTER_KEY: SealingKey.generate().exportBase64(), KEYWARD_PROXY_KEY: SealingKey.generate().exportBase64() };
    const processes = [startProcess(env), startProcess(env)];
    for (const p of processes) {
      cleanups.push(async () => {
        p.child.kill('SIGTERM');
        await p.exited;
      });
    }
    await Promise.all(processes.map((p) => p.serving));

    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const request = async (subject: string, body: unknown): Promise<Answer> =>
      JSON.parse(new TextDecoder().decode((await nc.request(`keyward.${subject}`, JSON.stringify(body), { timeout: 10_000 })).data)) as Answer;

    ok(await request('cmd.proxy.enable', { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'p', password: 'q' } }));
    const users = Array.from({ length: 150 }, (_, i) => `user-${i}`);
    // Each command is sent twice at once, as a caller that retries too early would.
    const answers = await Promise.all(
      users.flatMap((userId) => {
        const body = { commandId: `auth-${userId}`, actor: admin, instanceId: 'orders-db', userId, policy: { type: 'system' } };
        return [request('cmd.authorize', body), request('cmd.authorize', body)];
      }),
    );
    for (const a of answers) ok(a);
    for (let i = 0; i < answers.length; i += 2) expect(answers[i]?.result).toEqual(answers[i + 1]?.result);

    const stats = await nc.services.client().stats('keyward');
    const served: number[] = [];
    for await (const s of stats) served.push(s.endpoints?.reduce((n, e) => n + e.num_requests, 0) ?? 0);
    expect(served).toHaveLength(2);
    for (const n of served) expect(n).toBeGreaterThan(0);

    const store = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
    const granted: string[] = [];
    for await (const e of store.readAll({ categories: ['grant'] })) granted.push((e.metadata as { commandId: string }).commandId);
    await store.close();
    expect(granted.sort()).toEqual(users.map((u) => `auth-${u}`).sort());

    // Both processes run a relay: together they put every key into KV, once, active.
    const kv = await nc.jetstream().views.kv(KEYS_BUCKET);
    let active = 0;
    for (let i = 0; i < 100 && active < users.length; i++) {
      active = 0;
      const keys: string[] = [];
      for await (const key of await kv.keys()) keys.push(key);
      for (const key of keys) if ((await kv.get(key))?.json<{ state: string }>().state === 'active') active++;
      if (active < users.length) await new Promise((r) => setTimeout(r, 100));
    }
    expect(active).toBe(users.length);
  }, 120_000);
});

describe('a running service process', () => {
  it('reports health and metrics over HTTP, and on SIGTERM answers what it took before it exits', async () => {
    const nats = await withNats();
    const dir = mkdtempSync(join(tmpdir(), 'keyward-ops-'));
    cleanups.push(() => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    });
    const lines: string[] = [];
    const p = startProcess({ KEYWARD_NATS_URL: nats.url, KEYWARD_DEV: '1', KEYWARD_STORE: `sqlite:${join(dir, 'keyward.db')}`, KEYWARD_HTTP_PORT: '0' }, lines);
    cleanups.push(async () => {
      p.child.kill('SIGKILL');
      await p.exited;
    });
    await p.serving;
    const port = (JSON.parse(lines.find((l) => l.includes('keyward is serving')) ?? '{}') as { http?: number }).http;
    expect(port).toBeGreaterThan(0);
    const base = `http://127.0.0.1:${String(port)}`;

    const healthz = await fetch(`${base}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.json()).toMatchObject({ status: 'ok', store: 'ok', projections: 'ok', nats: 'connected' });

    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const request = async (subject: string, body: unknown): Promise<Answer> =>
      JSON.parse(new TextDecoder().decode((await nc.request(`keyward.${subject}`, JSON.stringify(body), { timeout: 10_000 })).data)) as Answer;
    ok(await request('cmd.proxy.enable', { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'p', password: 'q' } }));
    await request('cmd.proxy.enable', { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'p', password: 'q' } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('keyward_commands_total{subject="cmd.proxy.enable",outcome="ok"} 1');
    expect(metrics).toContain('keyward_commands_total{subject="cmd.proxy.enable",outcome="CONFLICT"} 1');
    expect(metrics).toMatch(/keyward_command_duration_seconds_count\{subject="cmd.proxy.enable"\} 2/);
    expect(metrics).toMatch(/keyward_store_position \d+/);

    // A burst, then SIGTERM while it is being served: whatever the process took is answered
    // and recorded; whatever it had not taken finds no responder, never a half-done command.
    const burst = Array.from({ length: 300 }, (_, i) =>
      request('cmd.authorize', { commandId: `burst-${i}`, actor: admin, instanceId: 'orders-db', userId: `user-${i}`, policy: { type: 'system' } }).then(
        (a) => (a.ok ? 'answered' : 'failed'),
        (e: unknown) => (e instanceof Error && e.message.includes('503') ? 'no responders' : `error: ${String(e)}`),
      ),
    );
    await nc.flush();
    p.child.kill('SIGTERM');
    const outcomes = await Promise.all(burst);
    expect(await p.exited).toBe(0);
    expect(outcomes.filter((o) => o !== 'answered' && o !== 'no responders')).toEqual([]);
    const store = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
    let granted = 0;
    for await (const _ of store.readAll({ categories: ['grant'] })) granted++;
    await store.close();
    expect(granted).toBe(outcomes.filter((o) => o === 'answered').length);
  }, 60_000);
});

describe('starting without NATS', () => {
  it('says so in one line, with how to start one, and exits non-zero', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-nonats-'));
    cleanups.push(() => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    });
    const p = startProcess({ KEYWARD_NATS_URL: 'nats://127.0.0.1:1', KEYWARD_DEV: '1', KEYWARD_STORE: `sqlite:${join(dir, 'keyward.db')}` });
    p.serving.catch(() => undefined);
    expect(await p.exited).toBe(1);
    expect(p.stderr).toEqual(['keyward: no NATS server answers at nats://127.0.0.1:1 (set KEYWARD_NATS_URL, or start one: nats-server -js)']);
  }, 30_000);

  it('a bad setting is named, one line each, and nothing starts', async () => {
    const p = startProcess({ KEYWARD_PREFIX: 'a b', KEYWARD_HTTP_PORT: 'ninety' });
    p.serving.catch(() => undefined);
    expect(await p.exited).toBe(1);
    expect(p.stderr.join('\n')).toMatch(/KEYWARD_PREFIX must be.*\n.*KEYWARD_HTTP_PORT must be.*\n.*no master key/);
  }, 30_000);
});
