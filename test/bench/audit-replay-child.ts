// One replay in a process of its own, so its time and peak memory are its own: prints one
// JSON line. argv: <sqlite file> <what: access-at|raw> <instanceId> <at>
import { resourceUsage } from 'node:process';
import Database from 'better-sqlite3';
import { accessAt } from '../../projections/index.js';
import { replayAccess } from '../../src/audit/replay.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';

const [path, what, instanceId, at] = process.argv.slice(2);
if (path === undefined || instanceId === undefined || at === undefined) throw new Error('usage: audit-replay-child <file> <access-at|raw> <instanceId> <at>');

const started = performance.now();
let answer: number;
let events = 0;
if (what === 'raw') {
  // The floor: the same rows (the proxy and grant streams) through better-sqlite3, each parsed.
  const db = new Database(path, { readonly: true });
  for (const row of db.prepare(`SELECT type, data, metadata FROM events WHERE category IN ('proxy', 'grant') ORDER BY position`).raw().iterate() as IterableIterator<[string, string, string]>) {
    JSON.parse(row[1]);
    JSON.parse(row[2]);
    events++;
  }
  db.close();
  answer = events;
} else {
  const store = SqliteEventStore.open({ path });
  const view = await replayAccess(store, (done) => (events = done));
  answer = accessAt(view, { instanceId, at }).length;
  await store.close();
}
const seconds = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ seconds, events, answer, peakRssMb: resourceUsage().maxRSS / 1024 })}\n`);
