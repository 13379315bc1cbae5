// The MySQL proxy against MariaDB directly, in the same run: the same client program (a process
// of its own, mysql2) pointed once at the proxy and once at MariaDB with the same database
// account. Query throughput (SELECT 1, and a 1,000-row result) with several connections,
// added latency with one, connection setup, and how long after a revoke is acknowledged the
// open session of that key is closed. Aim: throughput >= 80% of direct, p50 added < 0.3 ms.
//
//   npm run bench -- mysql-proxy
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { ok } from '../support/keyward.js';
import { ADMIN, INSTANCE, MARIADB, startProxyWorld, type Pair, type ProxyWorld } from '../support/mysql-proxy-world.js';
import { fmtMs, latencyReport, percentile, report, table } from './report.js';

const run = promisify(execFile);
const CHILD = join(import.meta.dirname, 'mysql-load-child.ts');
const CONNECTIONS = 8;
const QUERIES = 40_000;
const ROW_QUERIES = 2_000;
const SEQUENTIAL = 5_000;
const CONNECTS = 500;
const REVOKES = 20;

interface Measured {
  readonly seconds: number;
  readonly latencies: number[];
  /** The client's own CPU time. */
  readonly cpuMs: number;
  /** This process's (the proxy's) and MariaDB's CPU time over the same run. */
  readonly proxyCpuMs: number;
  readonly databaseCpuMs: number;
}

// MariaDB's CPU time from /proc, in ms (clock ticks of 10 ms): what the database spent.
const databaseCpuMs = (): number => {
  try {
    const pid = execFileSync('pidof', ['mariadbd'], { encoding: 'utf8' }).trim().split(' ')[0] ?? '';
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
};

const load = async (target: { port: number; user: string; password: string }, w: ProxyWorld, mode: string, connections: number, count: number): Promise<Measured> => {
  const settings = { host: '127.0.0.1', port: target.port, user: target.user, password: target.password, database: w.schema, mode, connections, count };
  const cpu = process.cpuUsage();
  const database = databaseCpuMs();
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(settings)], { maxBuffer: 64 * 1024 * 1024 });
  const used = process.cpuUsage(cpu);
  // Both include the child's start and warm-up: a little more than the measured part.
  return { ...(JSON.parse(stdout) as Omit<Measured, 'proxyCpuMs' | 'databaseCpuMs'>), proxyCpuMs: (used.user + used.system) / 1000, databaseCpuMs: databaseCpuMs() - database };
};

/** Revoke acknowledged → the proxy has closed the key's open session, REVOKES times. */
const revokeToClose = async (w: ProxyWorld): Promise<{ close: number[]; ack: number[] }> => {
  const close: number[] = [];
  const ack: number[] = [];
  for (let i = 0; i < REVOKES; i++) {
    const userId = `revoked-${i}`;
    const p: Pair = await w.authorize(userId);
    await w.atNode(p);
    const c = await w.mysql2(p);
    await c.query('SELECT 1');
    const before = w.proxy.counts().closed.invalidated ?? 0;
    const sent = performance.now();
    ok(await w.kw.request('cmd.revoke', { actor: ADMIN, instanceId: INSTANCE, userId, mode: 'recycle' }));
    const acked = performance.now();
    while ((w.proxy.counts().closed.invalidated ?? 0) === before) await new Promise(setImmediate);
    close.push(performance.now() - acked);
    ack.push(acked - sent);
    c.destroy();
  }
  return { close, ack };
};

export const mysqlProxyBench = async (): Promise<void> => {
  const w = await startProxyWorld();
  try {
    const p = await w.authorize('bench');
    await w.atNode(p);
    await w.root.query(`CREATE TABLE ${w.schema}.items (id INT PRIMARY KEY, name VARCHAR(40))`);
    await w.root.query(`INSERT INTO ${w.schema}.items VALUES ${Array.from({ length: 1000 }, (_, i) => `(${i}, 'item-${i}')`).join(',')}`);
    const viaProxy = { port: w.proxy.port, user: p.accessId, password: p.secret };
    const direct = { port: MARIADB.port, user: w.accounts.proxy.username, password: w.accounts.proxy.password };

    const select = { proxy: await load(viaProxy, w, 'select1', CONNECTIONS, QUERIES), direct: await load(direct, w, 'select1', CONNECTIONS, QUERIES) };
    const rows = { proxy: await load(viaProxy, w, 'rows1000', CONNECTIONS, ROW_QUERIES), direct: await load(direct, w, 'rows1000', CONNECTIONS, ROW_QUERIES) };
    report(`MySQL proxy: query throughput, ${CONNECTIONS} connections, client in a process of its own`, [
      { name: 'SELECT 1 through the proxy', count: QUERIES, seconds: select.proxy.seconds, baselineName: 'SELECT 1 to MariaDB directly', baselineSeconds: select.direct.seconds },
      { name: '1,000-row SELECT through the proxy', count: ROW_QUERIES, seconds: rows.proxy.seconds, baselineName: '1,000-row SELECT directly', baselineSeconds: rows.direct.seconds },
    ]);
    const perQuery = (m: Measured, n: number) => [m.cpuMs, m.proxyCpuMs, m.databaseCpuMs].map((ms) => `${((ms * 1000) / n).toFixed(1)} µs`);
    table('MySQL proxy: CPU time per SELECT 1 (8 connections; proxy and database figures include the client\'s start-up)', ['path', 'client', 'proxy process', 'MariaDB'], [
      ['through the proxy', ...perQuery(select.proxy, QUERIES)],
      ['directly', ...perQuery(select.direct, QUERIES)],
    ], 0);
    const one = { proxy: await load(viaProxy, w, 'select1', 1, SEQUENTIAL), direct: await load(direct, w, 'select1', 1, SEQUENTIAL) };
    const connects = { proxy: await load(viaProxy, w, 'connect', 1, CONNECTS), direct: await load(direct, w, 'connect', 1, CONNECTS) };
    latencyReport('MySQL proxy: latency, one connection at a time', [
      { name: 'SELECT 1 through the proxy', ms: one.proxy.latencies, baselineName: 'directly', baselineMs: one.direct.latencies },
      { name: 'connect (handshake + login) through the proxy', ms: connects.proxy.latencies, baselineName: 'directly', baselineMs: connects.direct.latencies },
    ]);
    const revoked = await revokeToClose(w);
    latencyReport(`MySQL proxy: revoke acknowledged → its open session closed (${REVOKES} revokes)`, [
      { name: 'ack → session closed at the proxy', ms: revoked.close, baselineName: 'the revoke round trip itself', baselineMs: revoked.ack },
    ]);
    const throughput = QUERIES / select.proxy.seconds / (QUERIES / select.direct.seconds);
    const added = percentile(one.proxy.latencies, 0.5) - percentile(one.direct.latencies, 0.5);
    table('MySQL proxy: the aim', ['measured', 'figure', 'aim', 'met'], [
      ['SELECT 1 throughput, proxy / direct', `${(throughput * 100).toFixed(0)}%`, '>= 80%', throughput >= 0.8 ? 'yes' : 'NO'],
      ['SELECT 1 p50 added by the proxy', fmtMs(added), '< 0.30 ms', added < 0.3 ? 'yes' : 'NO'],
    ], 2);
  } finally {
    await w.stop();
  }
};
