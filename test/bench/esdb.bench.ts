// The EventStoreDB adapter beside the embedded store, in the same run: appends (one at a time,
// and many callers at once) and a catch-up read of $all, through the port. EventStoreDB
// cannot run on the development machine, so the adapter talks to the test emulator: these
// figures measure the adapter, the client and gRPC on loopback, not EventStoreDB itself.
//
//   npm run bench -- esdb
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EsdbEventStore } from '../../src/store/esdb/esdb-store.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import { ExpectedRevision, type EventStore } from '../../src/store/types.js';
import { startEsdbEmulator } from '../support/esdb-emulator/index.js';
import { pool, report, timed, type Row } from './report.js';

const SEQUENTIAL = 2000;
const CONCURRENT = 10_000;
const CALLERS = 64;
const CATCH_UP = 50_000;

const EVENT_DATA = { instanceId: 'orders-db', userId: 'user-0000', accessId: 'A'.repeat(24), viewedBy: 'ada', viewedAt: '2026-12-04T10:00:00.000Z' };
const METADATA = { commandId: 'c-1', correlationId: 'c-1', causationId: 'c-1', actor: { userId: 'ada', role: 'admin' }, occurredAt: '2026-12-04T10:00:00.000Z', prevHash: null };
const event = () => ({ id: randomUUID(), type: 'AccessKeyViewed', data: EVENT_DATA, metadata: METADATA });

interface Figures {
  readonly sequential: number;
  readonly concurrent: number;
  readonly catchUp: number;
}

const measure = async (store: EventStore, tag: string): Promise<Figures> => {
  const sequential = await timed(SEQUENTIAL, async () => {
    for (let i = 0; i < SEQUENTIAL; i++) await store.append(`grant-${tag}:s${i}`, [event()], ExpectedRevision.noStream);
  });
  const concurrent = await timed(CONCURRENT, async () => {
    await pool(CONCURRENT, CALLERS, (i) => store.append(`grant-${tag}:c${i}`, [event()], ExpectedRevision.noStream));
  });
  // Filled in batches of 100 events per append, then read from the start.
  for (let i = 0; i < CATCH_UP - SEQUENTIAL - CONCURRENT; i += 100) await store.append(`proxy-${tag}-${i}`, Array.from({ length: 100 }, event), ExpectedRevision.noStream);
  let read = 0;
  const catchUp = await timed(CATCH_UP, async () => {
    for await (const _ of store.readAll()) read++;
  });
  if (read !== CATCH_UP) throw new Error(`${tag}: read ${read} events of ${CATCH_UP}`);
  return { sequential, concurrent, catchUp };
};

export const esdbBench = async (): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-'));
  const emulator = await startEsdbEmulator();
  try {
    const sqlite = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
    const sqliteFigures = await measure(sqlite, 'sqlite').finally(() => sqlite.close());
    const esdb = EsdbEventStore.open({ connectionString: emulator.url });
    const esdbFigures = await measure(esdb, 'esdb').finally(() => esdb.close());
    const rows: Row[] = [
      { name: 'EventStoreDB adapter (emulator): append, 1 event, sequential', count: SEQUENTIAL, seconds: esdbFigures.sequential, baselineName: 'SQLite (FULL), same', baselineSeconds: sqliteFigures.sequential },
      { name: `EventStoreDB adapter (emulator): append, 1 event, ${CALLERS} callers`, count: CONCURRENT, seconds: esdbFigures.concurrent, baselineName: 'SQLite (FULL), same', baselineSeconds: sqliteFigures.concurrent },
      { name: `EventStoreDB adapter (emulator): $all catch-up, ${CATCH_UP.toLocaleString('en-US')} events`, count: CATCH_UP, seconds: esdbFigures.catchUp, baselineName: 'SQLite, readAll, same', baselineSeconds: sqliteFigures.catchUp },
    ];
    report('EventStoreDB adapter against the test emulator (not EventStoreDB itself), beside the embedded store', rows);
  } finally {
    await emulator.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
};
