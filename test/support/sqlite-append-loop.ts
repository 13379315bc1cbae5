// A child process for the SQLite store's fault tests: appends to the store at argv[2], one
// event per append from `concurrency` callers at once, and prints each acknowledged
// event's id on its own line, until it is killed or has appended argv[3] events.
import { randomUUID } from 'node:crypto';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import { ExpectedRevision } from '../../src/store/types.js';

const [path, limitArg = '1000000', concurrencyArg = '8'] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: sqlite-append-loop <path> [limit] [concurrency]');
// Several children given the same start time open the file together, as processes
// started at once by a supervisor would.
const startAt = Number(process.env.START_AT ?? 0);
while (Date.now() < startAt) {
  // spin: a timer's granularity would spread the starts out again
}
const store = SqliteEventStore.open({ path });
let next = 0;
const limit = Number(limitArg);

const caller = async (c: number): Promise<void> => {
  while (next < limit) {
    next++;
    const id = randomUUID();
    await store.append(`loop-${c}`, [{ id, type: 'Looped', data: { c }, metadata: {} }], ExpectedRevision.any);
    process.stdout.write(`${id}\n`);
  }
};

await Promise.all(Array.from({ length: Number(concurrencyArg) }, (_, c) => caller(c)));
await store.close();
