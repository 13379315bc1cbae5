// The client side of the MySQL proxy benchmark, in a process of its own as users' programs
// are: mysql2 connections to one address, each awaiting its answer before asking again.
// argv: <json settings>; prints one JSON line of results.
//   settings: { host, port, user, password, database, mode: 'select1'|'rows1000'|'connect', connections, count }
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { pool } from './report.js';

interface Settings {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly mode: 'select1' | 'rows1000' | 'connect';
  readonly connections: number;
  readonly count: number;
}

const settings = JSON.parse(process.argv[2] ?? '{}') as Settings;
const { mode, connections, count, ...address } = settings;
const latencies: number[] = [];
// CPU time of the measured part only (set once warmed up), so the bench can say who spent what.
let cpuAtStart = process.cpuUsage();
const cpuMs = (): number => {
  const used = process.cpuUsage(cpuAtStart);
  return (used.user + used.system) / 1000;
};

if (mode === 'connect') {
  cpuAtStart = process.cpuUsage();
  const started = performance.now();
  await pool(count, connections, async () => {
    const t = performance.now();
    const c = await mysql.createConnection(address);
    latencies.push(performance.now() - t);
    await c.end();
  });
  process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - started) / 1000, latencies, cpuMs: cpuMs() })}\n`);
} else {
  const clients = await Promise.all(Array.from({ length: connections }, () => mysql.createConnection(address)));
  const sql = mode === 'select1' ? 'SELECT 1' : 'SELECT id, name FROM items';
  const expected = mode === 'select1' ? 1 : 1000;
  // Warm both paths up (JIT, buffers) before anything is timed.
  await Promise.all(clients.map(async (c) => { for (let i = 0; i < 50; i++) await c.query(sql); }));
  let next = 0;
  cpuAtStart = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    clients.map(async (c) => {
      while (next++ < count) {
        const t = performance.now();
        const [rows] = await c.query(sql);
        latencies.push(performance.now() - t);
        if ((rows as unknown[]).length !== expected) throw new Error(`expected ${expected} rows`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.end()));
  process.stdout.write(`${JSON.stringify({ seconds, latencies, cpuMs: cpuMs() })}\n`);
}
