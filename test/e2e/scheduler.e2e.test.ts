// The scheduler as users meet it: keyward over a real nats-server with its relay, a proxy
// node, and a clock the test moves; and `keyward scheduler` as processes on a shared store,
// one of them killed in the middle of its work.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { SealingKey } from '../../src/crypto.js';
import { KEYS_BUCKET, kvKey } from '../../src/keys/kv.js';
import { startProxyNode, type Invalidated, type ProxyNode } from '../../src/proxy-node/index.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import type { StoredEvent } from '../../src/store/types.js';
import { withCleanups } from '../support/cleanups.js';
import { ok, startKeyward, type Keyward } from '../support/keyward.js';
import { ManualClock } from '../support/manual-clock.js';
import { startNatsServer } from '../support/nats-server.js';

const admin = { userId: 'ada', role: 'admin' };
const bob = { userId: 'bob', role: 'user' };
const INSTANCE = 'orders-db';
const CLI = join(import.meta.dirname, '../../src/cli/main.ts');

const cleanups = withCleanups();

const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const storedEvents = async (path: string, type: string): Promise<StoredEvent[]> => {
  const store = SqliteEventStore.open({ path });
  const out: StoredEvent[] = [];
  try {
    for await (const e of store.readAll()) if (e.type === type) out.push(e);
  } finally {
    await store.close();
  }
  return out;
};

const world = async () => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.dispose());
  const dir = mkdtempSync(join(tmpdir(), 'keyward-scheduler-e2e-'));
  cleanups.push(() => {
    rmSync(dir, { recursive: true, force: true });
    return Promise.resolve();
  });
  const masterKey = SealingKey.generate();
  const proxyKey = SealingKey.generate();
  const clock = new ManualClock(new Date().toISOString());
  const keyward = async (): Promise<Keyward> => {
    const kw = await startKeyward(nats.url, { dir, masterKey, clock, proxyKey });
    cleanups.push(() => kw.stop());
    return kw;
  };
  const node = async (): Promise<ProxyNode> => {
    const started = startProxyNode({ instances: [INSTANCE], proxyKey, servers: nats.url, clock: () => Date.parse(clock.now()) });
    cleanups.push(() => started.close());
    await started.ready;
    return started;
  };
  return { nats, dir, clock, keyward, node, events: (type: string) => storedEvents(join(dir, 'keyward.db'), type) };
};

describe('keyward with its scheduler, relay and a proxy node', () => {
  it('a scheduled rotation: the old pair is refused at once, the user views the new one and it works', async () => {
    const w = await world();
    const kw = await w.keyward();
    const node = await w.node();
    ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: INSTANCE, databaseAccount: { username: 'proxy_acct', password: 'pw' } }));
    const first = ok(await kw.request('cmd.authorize', { actor: admin, instanceId: INSTANCE, userId: 'bob', policy: { type: 'rotate', intervalSeconds: 3600 } }));
    const oldId = String(first.accessId);
    const oldSecret = String(first.accessSecret);
    await waitFor('the node accepts the first pair', () => node.verify(INSTANCE, oldId, oldSecret).ok);
    const invalidated = new Promise<Invalidated>((resolve) => node.onInvalidated((e) => { if (e.accessId === oldId) resolve(e); }));

    w.clock.advance(3600);
    await kw.scheduler?.idle();
    expect((await invalidated).reason).toBe('rotated');
    expect(node.verify(INSTANCE, oldId, oldSecret)).toMatchObject({ ok: false, reason: 'revoked', revokedReason: 'rotated' });

    const viewed = ok(await kw.request('query.key', { actor: bob, instanceId: INSTANCE, userId: 'bob' }));
    expect(viewed.accessId).not.toBe(oldId);
    await waitFor('the node accepts the new pair', () => node.verify(INSTANCE, String(viewed.accessId), String(viewed.accessSecret)).ok);
    const shown = ok(await kw.request('query.grant', { actor: bob, instanceId: INSTANCE, userId: 'bob' }));
    expect(shown).toMatchObject({ status: 'active', accessId: viewed.accessId, rotatesAt: new Date(Date.parse(String(first.rotatesAt)) + 3600_000).toISOString() });
    const rotations = await w.events('AccessKeyRotated');
    expect(rotations.map((e) => (e.data as { reason: string }).reason)).toEqual(['scheduled']);
  }, 60_000);

  it('an expiry passed while keyward was stopped: the node refused the key at notAfter, and keyward records it once when started', async () => {
    const w = await world();
    const kw = await w.keyward();
    const node = await w.node();
    ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: INSTANCE, databaseAccount: { username: 'proxy_acct', password: 'pw' } }));
    const expiresAt = new Date(Date.parse(w.clock.now()) + 600_000).toISOString();
    const granted = ok(await kw.request('cmd.authorize', { actor: admin, instanceId: INSTANCE, userId: 'carol', policy: { type: 'expire', expiresAt } }));
    const accessId = String(granted.accessId);
    const secret = String(granted.accessSecret);
    await waitFor('the node accepts the pair', () => node.verify(INSTANCE, accessId, secret).ok);
    await kw.stop();

    w.clock.advance(599);
    expect(node.verify(INSTANCE, accessId, secret).ok).toBe(true);
    w.clock.advance(1);
    // No keyward, no relay, no event: the node judges notAfter by itself.
    expect(node.verify(INSTANCE, accessId, secret)).toMatchObject({ ok: false, reason: 'expired' });

    w.clock.advance(3000);
    const again = await w.keyward();
    await again.scheduler?.idle();
    const expired = await w.events('AccessKeyExpired');
    expect(expired.map((e) => e.data)).toEqual([{ instanceId: INSTANCE, userId: 'carol', accessId, expiredAt: expiresAt }]);
    expect(ok(await again.request('query.grant', { actor: admin, instanceId: INSTANCE, userId: 'carol' }))).toMatchObject({ status: 'expired', notAfter: expiresAt });
    const kv = await again.client.jetstream().views.kv(KEYS_BUCKET);
    await waitFor('KV calls the key revoked as expired', async () => {
      const value = (await kv.get(kvKey(INSTANCE, accessId)))?.json<{ state: string; reason?: string }>();
      return value?.state === 'revoked' && value.reason === 'expired';
    });
    await again.stop();

    const third = await w.keyward();
    await third.scheduler?.idle();
    expect(await w.events('AccessKeyExpired')).toHaveLength(1);
  }, 60_000);
});

describe('keyward scheduler, as processes', () => {
  it('two schedulers on one store, one killed with SIGKILL while they work: every key expires exactly once', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.dispose());
    const kw = await startKeyward(nats.url);
    cleanups.push(() => kw.stop());
    const path = join(kw.dir, 'keyward.db');
    ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: INSTANCE, databaseAccount: { username: 'proxy_acct', password: 'pw' } }));
    const users = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
    // Real time here (a process has the wall clock): the keys expire a few seconds from now.
    const expiresAt = new Date(Date.now() + 8000).toISOString();
    await Promise.all(users.map((userId) => kw.request('cmd.authorize', { actor: admin, instanceId: INSTANCE, userId, policy: { type: 'expire', expiresAt } }).then(ok)));

    const env = { ...process.env, KEYWARD_STORE: `sqlite:${path}`, KEYWARD_MASTER_KEY: kw.ctx.masterKey.exportBase64(), KEYWARD_LOG_LEVEL: 'info', KEYWARD_HTTP_PORT: '0' };
    const startScheduler = async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'scheduler'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
      cleanups.push(async () => {
        child.kill('SIGKILL');
        await exited;
      });
      let expired = 0;
      let http = 0;
      const lines = createInterface({ input: child.stdout });
      await new Promise<void>((resolve, reject) => {
        lines.on('line', (l) => {
          if (l.includes('scheduler ready')) {
            http = (JSON.parse(l) as { http: number }).http;
            resolve();
          }
          if (l.includes('"msg":"key expired"')) expired++;
        });
        void exited.then(() => { reject(new Error('the scheduler exited before it was ready')); });
      });
      return { child, exited, expired: () => expired, http: () => http };
    };
    const [doomed, survivor] = await Promise.all([startScheduler(), startScheduler()]);

    await waitFor('the first expiries are recorded', async () => (await storedEvents(path, 'AccessKeyExpired')).length > 0, 20_000);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    await waitFor('every key has expired', async () => (await storedEvents(path, 'AccessKeyExpired')).length >= users.length, 30_000);

    const expired = await storedEvents(path, 'AccessKeyExpired');
    expect(expired).toHaveLength(users.length);
    expect(new Set(expired.map((e) => e.streamId)).size).toBe(users.length);
    expect(expired.every((e) => (e.data as { expiredAt: string }).expiredAt === expiresAt)).toBe(true);

    // Alone, the scheduler serves the service's /healthz and /metrics too.
    const metrics = await (await fetch(`http://127.0.0.1:${survivor.http()}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`keyward_scheduled_total\\{kind="expire",outcome="done"\\} ${survivor.expired()}\\b`));
    expect(await (await fetch(`http://127.0.0.1:${survivor.http()}/healthz`)).json()).toMatchObject({ status: 'ok', nats: 'not used' });
    survivor.child.kill('SIGTERM');
    expect(await survivor.exited).toBe(0);
    expect(survivor.expired()).toBeGreaterThan(0);
  }, 90_000);
});
