// The MySQL proxy's world for tests and benchmarks, everything real: keyward and its relay on a
// real nats-server, a proxy node, the proxy in front of this machine's MariaDB (127.0.0.1:3306,
// root without a password), a schema and two database accounts of its own, dropped by stop().
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { SealingKey } from '../../src/crypto.js';
import { ensureSqlAuditStream, sqlAuditLog, type SqlAuditRecord } from '../../src/mysql-proxy/audit-log.js';
import { startMysqlProxy, type MysqlProxy, type MysqlProxyOptions } from '../../src/mysql-proxy/proxy.js';
import { startProxyNode, type ProxyNode, type ProxyNodeOptions } from '../../src/proxy-node/index.js';
import { ok, startKeyward, type Keyward } from './keyward.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const run = promisify(execFile);
export const INSTANCE = 'shop-db';
export const ADMIN = { userId: 'ada', role: 'admin' };
export const MARIADB = { host: '127.0.0.1', port: 3306 };
// How long a change may take to reach the node: generous for a busy machine; a passing run
// waits only as long as the node needs.
const DELIVERY_MS = 10_000;

export interface Pair {
  readonly accessId: string;
  readonly secret: string;
}

export interface DatabaseAccount {
  readonly username: string;
  readonly password: string;
}

export interface ProxyWorld {
  readonly nats: NatsServer;
  readonly kw: Keyward;
  readonly node: ProxyNode;
  readonly proxy: MysqlProxy;
  /** What the relay seals database passwords with: another proxy of this world needs it. */
  readonly proxyKey: SealingKey;
  /** root on MariaDB, for setting up and checking from outside the proxy. */
  readonly root: mysql.Connection;
  readonly schema: string;
  readonly accounts: { readonly proxy: DatabaseAccount; readonly custom: DatabaseAccount };
  /** Every audit record the proxy published, as it published it (without id and time). */
  readonly records: SqlAuditRecord[];
  /** Every AccessSecret and database password the world made: no output may contain one. */
  readonly secrets: string[];
  authorize(userId: string, extra?: Record<string, unknown>): Promise<Pair>;
  rotate(userId: string): Promise<Pair>;
  /** Until `check` holds, or an error after DELIVERY_MS. */
  until(check: () => boolean): Promise<void>;
  /** Until the node accepts the pair (or, with `false`, refuses it). */
  atNode(p: Pair, valid?: boolean): Promise<void>;
  mysql2(p: Pair, options?: mysql.ConnectionOptions): Promise<mysql.Connection>;
  /** The `mariadb` command-line client through the proxy (or another at `port`); rejects with its stderr on failure. */
  mariadb(p: Pair, sql: string, extra?: readonly string[], port?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface ProxyWorldOptions {
  readonly proxy?: Partial<Pick<MysqlProxyOptions, 'tls' | 'handshakeTimeoutMs' | 'staleCheckMs'>>;
  readonly node?: Partial<Pick<ProxyNodeOptions, 'stalenessMs' | 'clock'>>;
}

export const startProxyWorld = async (options: ProxyWorldOptions = {}): Promise<ProxyWorld> => {
  const suffix = randomBytes(4).toString('hex');
  const schema = `kw_test_${suffix}`;
  const accounts = {
    proxy: { username: `kw_proxy_${suffix}`, password: `Pp-${randomBytes(9).toString('base64url')}` },
    custom: { username: `kw_custom_${suffix}`, password: `Cc-${randomBytes(9).toString('base64url')}` },
  };
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const root = await mysql.createConnection({ ...MARIADB, user: 'root', password: '' });
    stops.push(() => root.end());
    stops.push(async () => {
      await root.query(`DROP DATABASE IF EXISTS ${schema}`);
      for (const a of Object.values(accounts)) await root.query(`DROP USER IF EXISTS ?@'%'`, [a.username]);
    });
    await root.query(`CREATE DATABASE ${schema}`);
    for (const a of Object.values(accounts)) {
      await root.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [a.username, a.password]);
      await root.query(`GRANT ALL ON ${schema}.* TO ?@'%'`, [a.username]);
    }
    const nats = await startNatsServer();
    stops.push(() => nats.dispose());
    const proxyKey = SealingKey.generate();
    const kw = await startKeyward(nats.url, { proxyKey });
    stops.push(() => kw.stop());
    ok(await kw.request('cmd.proxy.enable', { actor: ADMIN, instanceId: INSTANCE, databaseAccount: accounts.proxy }));
    const node = startProxyNode({ instances: [INSTANCE], proxyKey, servers: nats.url, ...options.node });
    stops.push(() => node.close());
    await node.ready;
    const nc: NatsConnection = await natsConnect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    stops.push(() => nc.close());
    await ensureSqlAuditStream(await nc.jetstreamManager(), 'keyward');
    const published = sqlAuditLog(nc, 'keyward');
    const records: SqlAuditRecord[] = [];
    const proxy = await startMysqlProxy({
      node,
      instanceId: INSTANCE,
      database: MARIADB,
      listen: { host: '127.0.0.1', port: 0 },
      audit: {
        record: (input) => {
          records.push({ id: '', at: '', ...input });
          published.record(input);
        },
        counts: () => published.counts(),
        flush: () => { published.flush(); },
      },
      ...options.proxy,
    });
    stops.push(() => proxy.close());
    const secrets: string[] = [accounts.proxy.password, accounts.custom.password];
    const pairOf = (r: Record<string, unknown>): Pair => {
      secrets.push(String(r.accessSecret));
      return { accessId: String(r.accessId), secret: String(r.accessSecret) };
    };
    const until = async (check: () => boolean): Promise<void> => {
      const deadline = Date.now() + DELIVERY_MS;
      while (!check()) {
        if (Date.now() > deadline) throw new Error('the awaited change did not happen in time');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    return {
      nats, kw, node, proxy, proxyKey, root, schema, accounts, records, secrets, until, stop,
      authorize: async (userId, extra = {}) => pairOf(ok(await kw.request('cmd.authorize', { actor: ADMIN, instanceId: INSTANCE, userId, policy: { type: 'system' }, ...extra }))),
      rotate: async (userId) => pairOf(ok(await kw.request('cmd.rotate', { actor: ADMIN, instanceId: INSTANCE, userId }))),
      atNode: (p, valid = true) => until(() => node.verify(INSTANCE, p.accessId, p.secret).ok === valid),
      mysql2: (p, extra = {}) => mysql.createConnection({ host: '127.0.0.1', port: proxy.port, user: p.accessId, password: p.secret, ...extra }),
      mariadb: async (p, sql, extra = ['--skip-ssl'], port = proxy.port) => {
        try {
          const { stdout } = await run('mariadb', ['-h127.0.0.1', `-P${port}`, `-u${p.accessId}`, `-p${p.secret}`, '--batch', '--skip-column-names', ...extra, '-e', sql]);
          return stdout;
        } catch (e) {
          throw new Error((e as { stderr?: string }).stderr ?? String(e), { cause: e });
        }
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
};
