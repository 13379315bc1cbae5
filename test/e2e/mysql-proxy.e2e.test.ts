// The MySQL proxy end to end, with the tools users have: keyward and its relay on a real
// nats-server, a proxy node, the proxy in front of this machine's MariaDB, and the `mariadb`
// command-line client and mysql2 connecting with AccessKey pairs.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { connect as natsConnect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SealingKey } from '../../src/crypto.js';
import { sqlAuditLog, ensureSqlAuditStream, type SqlAuditRecord } from '../../src/mysql-proxy/audit-log.js';
import { startMysqlProxy, type MysqlProxy } from '../../src/mysql-proxy/proxy.js';
import { startProxyNode, type ProxyNode } from '../../src/proxy-node/index.js';
import { ok, startKeyward, type Keyward } from '../support/keyward.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const run = promisify(execFile);
const INSTANCE = 'shop-db';
const admin = { userId: 'ada', role: 'admin' };
const suffix = randomBytes(4).toString('hex');
const SCHEMA = `kw_e2e_${suffix}`;
const PROXY_ACCOUNT = { username: `kw_proxy_${suffix}`, password: `Pp-${randomBytes(9).toString('base64url')}` };
const CUSTOM_ACCOUNT = { username: `kw_custom_${suffix}`, password: `Cc-${randomBytes(9).toString('base64url')}` };
const DELIVERY_MS = 10_000;

let nats: NatsServer;
let kw: Keyward;
let node: ProxyNode;
let proxy: MysqlProxy;
let root: mysql.Connection;
const records: SqlAuditRecord[] = [];
const secrets: string[] = [PROXY_ACCOUNT.password, CUSTOM_ACCOUNT.password];

interface Pair { readonly accessId: string; readonly secret: string }

const authorize = async (userId: string, extra: Record<string, unknown> = {}): Promise<Pair> => {
  const r = ok(await kw.request('cmd.authorize', { actor: admin, instanceId: INSTANCE, userId, policy: { type: 'system' }, ...extra }));
  secrets.push(String(r.accessSecret));
  return { accessId: String(r.accessId), secret: String(r.accessSecret) };
};

/** Until the proxy node has the key in the state asked for. */
const until = async (check: () => boolean): Promise<void> => {
  const deadline = Date.now() + DELIVERY_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('the proxy node did not see the change in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};
const knownToNode = (p: Pair): Promise<void> => until(() => node.verify(INSTANCE, p.accessId, p.secret).ok);

const mariadb = (p: Pair, sql: string, extra: string[] = []) =>
  run('mariadb', [`-h127.0.0.1`, `-P${proxy.port}`, `-u${p.accessId}`, `-p${p.secret}`, '--batch', '--skip-column-names', '--skip-ssl', ...extra, '-e', sql]);

const viaMysql2 = (p: Pair, database?: string) => mysql.createConnection({ host: '127.0.0.1', port: proxy.port, user: p.accessId, password: p.secret, database });

beforeAll(async () => {
  root = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '' });
  await root.query(`CREATE DATABASE ${SCHEMA}`);
  for (const a of [PROXY_ACCOUNT, CUSTOM_ACCOUNT]) {
    await root.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [a.username, a.password]);
    await root.query(`GRANT ALL ON ${SCHEMA}.* TO ?@'%'`, [a.username]);
  }
  nats = await startNatsServer();
  const proxyKey = SealingKey.generate();
  kw = await startKeyward(nats.url, { proxyKey });
  ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: INSTANCE, databaseAccount: PROXY_ACCOUNT }));
  node = startProxyNode({ instances: [INSTANCE], proxyKey, servers: nats.url });
  await node.ready;
  const nc = await natsConnect({ servers: nats.url });
  await ensureSqlAuditStream(await nc.jetstreamManager(), 'keyward');
  const published = sqlAuditLog(nc, 'keyward');
  proxy = await startMysqlProxy({
    node, instanceId: INSTANCE, database: { host: '127.0.0.1', port: 3306 }, listen: { host: '127.0.0.1', port: 0 },
    // What is published, kept here too so the test can read it without a consumer.
    audit: {
      record: (input) => {
        records.push({ id: '', at: '', ...input });
        published.record(input);
      },
      counts: () => published.counts(),
    },
  });
}, 60_000);

afterAll(async () => {
  // Each one only if beforeAll got that far.
  const started = { proxy, node, kw, nats, root } as { proxy?: MysqlProxy; node?: ProxyNode; kw?: Keyward; nats?: NatsServer; root?: mysql.Connection };
  await started.proxy?.close();
  await started.node?.close();
  await started.kw?.stop();
  await started.nats?.dispose();
  if (started.root !== undefined) {
    await started.root.query(`DROP DATABASE IF EXISTS ${SCHEMA}`);
    for (const a of [PROXY_ACCOUNT, CUSTOM_ACCOUNT]) await started.root.query(`DROP USER IF EXISTS ?@'%'`, [a.username]);
    await started.root.end();
  }
}, 60_000);

describe('the MySQL proxy with the mariadb client', () => {
  it('runs queries for an authorized pair, as the proxy database account', async () => {
    const p = await authorize('bob');
    await knownToNode(p);
    const { stdout } = await mariadb(p, `SELECT CURRENT_USER(); SELECT 6 * 7;`);
    expect(stdout.trim().split('\n')).toEqual([`${PROXY_ACCOUNT.username}@%`, '42']);
  });

  it('uses a custom database account when the grant has one', async () => {
    const p = await authorize('carol', { databaseAccount: CUSTOM_ACCOUNT });
    await knownToNode(p);
    const { stdout } = await mariadb(p, 'SELECT CURRENT_USER()');
    expect(stdout.trim()).toBe(`${CUSTOM_ACCOUNT.username}@%`);
  });

  it('refuses a wrong secret, an unknown AccessID and a revoked key with error 1045 saying which', async () => {
    const p = await authorize('dave');
    await knownToNode(p);
    const wrong = await mariadb({ ...p, secret: `${p.secret.slice(0, -1)}x` }, 'SELECT 1').catch((e: unknown) => (e as { stderr: string }).stderr);
    expect(wrong).toMatch(/ERROR 1045 \(28000\).*wrong AccessSecret/);
    const unknown = await mariadb({ accessId: 'A'.repeat(24), secret: p.secret }, 'SELECT 1').catch((e: unknown) => (e as { stderr: string }).stderr);
    expect(unknown).toMatch(/ERROR 1045 \(28000\).*unknown AccessID/);
    ok(await kw.request('cmd.revoke', { actor: admin, instanceId: INSTANCE, userId: 'dave', mode: 'recycle' }));
    await until(() => !node.verify(INSTANCE, p.accessId, p.secret).ok);
    const revoked = await mariadb(p, 'SELECT 1').catch((e: unknown) => (e as { stderr: string }).stderr);
    expect(revoked).toMatch(/ERROR 1045 \(28000\).*revoked \(recycled\)/);
  });
});

describe('the MySQL proxy with mysql2', () => {
  it('closes an open session when its key is revoked, and only that one', async () => {
    const erin = await authorize('erin');
    const frank = await authorize('frank');
    await knownToNode(erin);
    await knownToNode(frank);
    const a = await viaMysql2(erin, SCHEMA);
    const b = await viaMysql2(frank, SCHEMA);
    expect((await a.query('SELECT 1 AS one'))[0]).toEqual([{ one: 1 }]);
    ok(await kw.request('cmd.revoke', { actor: admin, instanceId: INSTANCE, userId: 'erin', mode: 'release' }));
    await until(() => !node.verify(INSTANCE, erin.accessId, erin.secret).ok);
    await expect(a.query('SELECT 2')).rejects.toThrow(/AccessKey pair of this session stopped being valid \(released\)/);
    expect((await b.query('SELECT 3 AS three'))[0]).toEqual([{ three: 3 }]);
    await b.end();
    a.destroy();
  });

  it('after a rotation refuses the old pair and accepts the new one', async () => {
    const old = await authorize('gina');
    await knownToNode(old);
    const open = await viaMysql2(old);
    const r = ok(await kw.request('cmd.rotate', { actor: admin, instanceId: INSTANCE, userId: 'gina' }));
    const fresh = { accessId: String(r.accessId), secret: String(r.accessSecret) };
    secrets.push(fresh.secret);
    await knownToNode(fresh);
    await until(() => !node.verify(INSTANCE, old.accessId, old.secret).ok);
    await expect(viaMysql2(old)).rejects.toThrow(/replaced by a rotation/);
    await expect(open.query('SELECT 1')).rejects.toThrow(/stopped being valid \(rotated\)/);
    open.destroy();
    const c = await viaMysql2(fresh);
    expect((await c.query('SELECT 4 AS four'))[0]).toEqual([{ four: 4 }]);
    await c.end();
  });

  it('relays result sets, prepared statements and errors, and records each statement', async () => {
    const p = await authorize('hank');
    await knownToNode(p);
    const c = await viaMysql2(p, SCHEMA);
    await c.query('CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40))');
    const values = Array.from({ length: 1000 }, (_, i) => [i, `item-${i}`]);
    const [inserted] = await c.query('INSERT INTO items VALUES ?', [values]);
    expect((inserted as { affectedRows: number }).affectedRows).toBe(1000);
    const [rows] = await c.query('SELECT id, name FROM items ORDER BY id');
    expect(rows).toHaveLength(1000);
    const [prepared] = await c.execute('SELECT name FROM items WHERE id = ?', [7]);
    expect(prepared).toEqual([{ name: 'item-7' }]);
    await expect(c.query('SELEC nonsense')).rejects.toThrow(/You have an error in your SQL syntax/);
    expect((await c.query('SELECT 5 AS five'))[0]).toEqual([{ five: 5 }]);
    await c.end();
    const mine = records.filter((r) => r.accessId === p.accessId && r.kind === 'statement');
    const select = mine.find((r) => r.kind === 'statement' && r.statement === 'SELECT id, name FROM items ORDER BY id');
    expect(select).toMatchObject({ rows: 1000, error: null, userId: 'hank', instanceId: INSTANCE, via: 'mysql' });
    expect(mine.find((r) => r.kind === 'statement' && r.command === 'execute')).toMatchObject({ statement: 'SELECT name FROM items WHERE id = ?', rows: 1 });
    expect(mine.find((r) => r.kind === 'statement' && r.statement === 'SELEC nonsense')).toMatchObject({ error: { code: 1064 } });
  });

  it('never lets a client change to another database user', async () => {
    const p = await authorize('ivan');
    await knownToNode(p);
    const c = await viaMysql2(p);
    await expect(c.changeUser({ user: 'root', password: '' })).rejects.toThrow(/not available through the keyward proxy/);
    c.destroy();
  });

  it('records no secret anywhere', () => {
    const text = JSON.stringify(records);
    for (const s of secrets) expect(text).not.toContain(s);
  });
});
