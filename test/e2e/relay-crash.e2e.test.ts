// The relay as its own process, killed with SIGKILL: what the store recorded while no relay
// ran reaches KV when one starts again.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect, it } from 'vitest';
import { SealingKey } from '../../src/crypto.js';
import { KEYS_BUCKET, kvKey } from '../../src/keys/kv.js';
import { ok, startKeyward } from '../support/keyward.js';
import { withCleanups } from '../support/cleanups.js';
import { startNatsServer } from '../support/nats-server.js';

const RELAY = join(import.meta.dirname, '../support/relay-process.ts');
const admin = { userId: 'ada', role: 'admin' };

const cleanups = withCleanups();

it('a relay killed right after an append: the next one brings KV up to date', async () => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.dispose());
  const kw = await startKeyward(nats.url);
  cleanups.push(() => kw.stop());
  const env = {
    ...process.env,
    KEYWARD_NATS_URL: nats.url,
    KEYWARD_STORE: `sqlite:${join(kw.dir, 'keyward.db')}`,
    KEYWARD_MASTER_KEY: kw.ctx.masterKey.exportBase64(),
    KEYWARD_PROXY_KEY: SealingKey.generate().exportBase64(),
    KEYWARD_HTTP_PORT: 'off',
  };
  const startRelayProcess = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', RELAY], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (l) => {
        if (l.includes('relay ready')) resolve();
      });
      void exited.then(() => { reject(new Error('relay exited before it was ready')); });
    });
    return { child, exited };
  };

  ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'p', password: 'q' } }));
  const first = await startRelayProcess();
  const granted = ok(await kw.request('cmd.authorize', { actor: admin, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } }));
  const kv = await kw.client.jetstream().views.kv(KEYS_BUCKET);
  const state = async (accessId: unknown) => (await kv.get(kvKey('orders-db', String(accessId))))?.json<{ state: string }>().state;
  for (let i = 0; i < 100 && (await state(granted.accessId)) !== 'active'; i++) await new Promise((r) => setTimeout(r, 50));
  expect(await state(granted.accessId)).toBe('active');

  const rotated = ok(await kw.request('cmd.rotate', { actor: admin, instanceId: 'orders-db', userId: 'bob' }));
  first.child.kill('SIGKILL');
  await first.exited;
  const revoked = ok(await kw.request('cmd.revoke', { actor: admin, instanceId: 'orders-db', userId: 'bob', mode: 'recycle' }));
  // With no relay running, KV may still call a replaced or revoked key active.

  await startRelayProcess();
  expect(await state(granted.accessId)).toBe('revoked');
  expect(await state(revoked.accessId)).toBe('revoked');
  expect(rotated.accessId).toBe(revoked.accessId);
}, 60_000);
