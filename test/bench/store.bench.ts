// The embedded store's speed, each figure beside better-sqlite3 doing the same work bare in
// the same run (the baseline), so the ratio says what keyward's layer costs on this machine.
//
//   npm run bench            all benchmarks
//   npm run bench -- store   this one
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decideGrant, grantDecider, grantStreamId, proxyDecider, proxyStreamId, type GrantEvent } from '../../domain/index.js';
import { issueKey, SealingKey } from '../../src/crypto.js';
import { execute, loadStream } from '../../src/handling/handle.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import { ExpectedRevision } from '../../src/store/types.js';
import { report, timed, type Row } from './report.js';

const EVENT_DATA = { instanceId: 'orders-db', userId: 'user-0000', accessId: 'A'.repeat(24), viewedBy: 'ada', viewedAt: '2026-12-04T10:00:00.000Z' };
const METADATA = { commandId: 'c-1', correlationId: 'c-1', causationId: 'c-1', actor: { userId: 'ada', role: 'admin' }, occurredAt: '2026-12-04T10:00:00.000Z', prevHash: null };

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'keyward-bench-'));

/** Bare better-sqlite3 on the same schema and pragmas: the floor keyward is measured against. */
const rawDb = (dir: string): { db: Database.Database; insert: Database.Statement } => {
  const store = SqliteEventStore.open({ path: join(dir, 'raw.db') });
  void store.close();
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const insert = db.prepare(`INSERT INTO events (event_id, stream_id, category, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)`);
  return { db, insert };
};

const rawInsert = (insert: Database.Statement, i: number): void => {
  insert.run(randomUUID(), `bench-${i}`, 'bench', 0, 'Benched', JSON.stringify(EVENT_DATA), JSON.stringify(METADATA));
};

const appends = async (n: number, concurrency: number): Promise<Row[]> => {
  const dir = tempDir();
  try {
    const raw = rawDb(dir);
    // Baseline, one by one: a transaction (and an fsync) per insert.
    const rawSeq = timed(n, () => {
      for (let i = 0; i < n; i++) rawInsert(raw.insert, i);
    });
    // Baseline, batched: `concurrency` inserts per transaction, the most group commit can do.
    const batch = raw.db.transaction((from: number) => {
      for (let i = from; i < from + concurrency; i++) rawInsert(raw.insert, i + n);
    });
    const rawBatched = timed(n, () => {
      for (let i = 0; i < n; i += concurrency) batch(i);
    });
    raw.db.close();

    const store = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
    const event = () => ({ id: randomUUID(), type: 'AccessKeyViewed', data: EVENT_DATA, metadata: METADATA });
    const seq = await timed(n, async () => {
      for (let i = 0; i < n; i++) await store.append(`grant-b:s${i}`, [event()], ExpectedRevision.noStream);
    });
    const conc = await timed(n, async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < n) await store.append(`grant-b:c${next++}`, [event()], ExpectedRevision.noStream);
        }),
      );
    });
    await store.close();
    return [
      { name: 'append, 1 event, sequential', count: n, seconds: seq, baselineName: 'raw insert, 1 per transaction', baselineSeconds: rawSeq },
      { name: `append, 1 event, ${concurrency} callers`, count: n, seconds: conc, baselineName: `raw insert, ${concurrency} per transaction`, baselineSeconds: rawBatched },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Whole commands: load the grant and proxy streams, decide, append, read back. */
const commands = async (n: number, concurrency: number, rawBatchedSeconds: number): Promise<Row> => {
  const dir = tempDir();
  try {
    const store = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
    const master = SealingKey.generate();
    const owner = { userId: 'olivia', role: 'user' as const };
    const admin = { userId: 'ada', role: 'admin' as const };
    await store.append(
      proxyStreamId('orders-db'),
      [
        {
          id: randomUUID(),
          type: 'ProxyEnabled',
          data: { instanceId: 'orders-db', ownerId: owner.userId, epoch: 1, databaseAccount: { username: 'proxy', passwordSealed: master.seal(issueKey(master).secret) }, endpoints: [], enabledAt: '2026-12-04T10:00:00.000Z' },
          metadata: { ...METADATA, actor: owner },
        },
      ],
      ExpectedRevision.noStream,
    );
    const clock = () => new Date().toISOString();
    let next = 0;
    const seconds = await timed(n, async () => {
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < n) {
            const userId = `u${next++}`;
            const command = { type: 'Authorize' as const, actor: admin, instanceId: 'orders-db', userId, databaseAccount: null, policy: { type: 'system' as const } };
            await execute<ReturnType<typeof grantDecider.evolve>, GrantEvent>({
              store,
              streamId: grantStreamId('orders-db', userId),
              decider: grantDecider,
              meta: { commandId: `auth-${userId}`, actor: admin },
              clock,
              decide: async (state, now) => {
                const proxy = await loadStream(store, proxyStreamId('orders-db'), proxyDecider);
                return decideGrant(command, state, { now, proxy: proxy.state, newKey: issueKey(master).key });
              },
            });
          }
        }),
      );
    });
    await store.close();
    return { name: `authorize command, ${concurrency} callers`, count: n, seconds, baselineName: `raw insert, ${concurrency} per transaction`, baselineSeconds: rawBatchedSeconds * (n / n) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const replay = async (n: number): Promise<Row> => {
  const dir = tempDir();
  try {
    const store = SqliteEventStore.open({ path: join(dir, 'keyward.db'), synchronous: 'NORMAL' });
    const chunk = 10_000;
    for (let i = 0; i < n; i += chunk) {
      await Promise.all(
        Array.from({ length: chunk / 100 }, (_, s) =>
          store.append(`grant-r:${i}-${s}`, Array.from({ length: 100 }, () => ({ id: randomUUID(), type: 'AccessKeyViewed', data: EVENT_DATA, metadata: METADATA })), ExpectedRevision.noStream),
        ),
      );
    }
    await store.close();
    // Baseline: the same rows through better-sqlite3, parsed the same way.
    const db = new Database(join(dir, 'keyward.db'), { readonly: true });
    let rawCount = 0;
    const rawSeconds = timed(n, () => {
      for (const row of db.prepare('SELECT position, event_id, stream_id, revision, type, data, metadata FROM events ORDER BY position').raw().iterate() as IterableIterator<unknown[]>) {
        JSON.parse(row[5] as string);
        JSON.parse(row[6] as string);
        rawCount++;
      }
    });
    db.close();
    const reopened = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
    let count = 0;
    const seconds = await timed(n, async () => {
      for await (const _ of reopened.readAll()) count++;
    });
    await reopened.close();
    if (count !== n || rawCount !== n) throw new Error(`replay read ${count} and ${rawCount} events, not ${n}`);
    return { name: 'replay ($all from the start)', count: n, seconds, baselineName: 'raw SELECT + JSON.parse', baselineSeconds: rawSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

export const storeBench = async (): Promise<void> => {
  const rows = await appends(2000, 64);
  const batched = rows[1]?.baselineSeconds ?? 0;
  rows.push(await commands(2000, 64, batched));
  rows.push(await replay(1_000_000));
  report('embedded SQLite store (synchronous=FULL for appends)', rows);
};
