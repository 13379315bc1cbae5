// query.enforcement: which proxy nodes already refuse a revoked key, from what the nodes
// report, with the relay and two proxy nodes on a real nats-server.
import { expect, it } from 'vitest';
import { SealingKey } from '../../src/crypto.js';
import { createLogger } from '../../src/log.js';
import { startProxyNode } from '../../src/proxy-node/index.js';
import { startRelay } from '../../src/relay/relay.js';
import { ok, startKeyward } from '../support/keyward.js';
import { withCleanups } from '../support/cleanups.js';
import { startNatsServer } from '../support/nats-server.js';

const admin = { userId: 'ada', role: 'admin' };
const owner = { userId: 'olivia', role: 'user' };

const cleanups = withCleanups();

it('lists the nodes serving the instance, and says which enforce a revocation', async () => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.dispose());
  const kw = await startKeyward(nats.url);
  cleanups.push(() => kw.stop());
  const proxyKey = SealingKey.generate();
  const relay = startRelay({ store: kw.ctx.store, nc: kw.client, prefix: 'keyward', masterKey: kw.ctx.masterKey, proxyKey, log: createLogger({ level: 'silent' }) });
  cleanups.push(() => relay.stop());
  await relay.ready;
  ok(await kw.request('cmd.proxy.enable', { actor: owner, instanceId: 'orders-db', databaseAccount: { username: 'p', password: 'q' } }));
  const nodes = ['node-a', 'node-b'].map((nodeId) => startProxyNode({ instances: ['orders-db'], proxyKey, servers: nats.url, nodeId, heartbeatMs: 200 }));
  const other = startProxyNode({ instances: ['billing-db'], proxyKey, servers: nats.url, nodeId: 'node-billing', heartbeatMs: 200 });
  for (const n of [...nodes, other]) cleanups.push(() => n.close());
  await Promise.all([...nodes, other].map((n) => n.ready));

  const granted = ok(await kw.request('cmd.authorize', { actor: admin, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } }));
  ok(await kw.request('cmd.revoke', { actor: admin, instanceId: 'orders-db', userId: 'bob', mode: 'recycle' }));
  const ask = () => kw.request('query.enforcement', { actor: admin, instanceId: 'orders-db', accessId: granted.accessId });
  let answer = ok(await ask());
  for (let i = 0; i < 100 && (answer.nodes as { status: string }[]).filter((n) => n.status === 'enforcing').length < 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
    answer = ok(await ask());
  }
  expect(answer).toMatchObject({ instanceId: 'orders-db', accessId: granted.accessId, state: 'revoked' });
  expect((answer.nodes as { nodeId: string; status: string }[]).map((n) => [n.nodeId, n.status])).toEqual([
    ['node-a', 'enforcing'],
    ['node-b', 'enforcing'],
  ]);
  for (const n of nodes) expect(n.verify('orders-db', String(granted.accessId), String(granted.accessSecret))).toMatchObject({ ok: false, reason: 'revoked' });

  const refused = await kw.request('query.enforcement', { actor: owner, instanceId: 'orders-db', accessId: granted.accessId });
  expect(refused.error?.code).toBe('FORBIDDEN');
  const unknown = await kw.request('query.enforcement', { actor: admin, instanceId: 'orders-db', accessId: 'Z'.repeat(24) });
  expect(unknown.error?.code).toBe('NOT_FOUND');
}, 60_000);
