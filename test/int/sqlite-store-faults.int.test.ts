// What only the embedded store has to prove: a file that survives crashes and reopens,
// refuses files it cannot use, shares a file with other processes, and says so when
// another process keeps the write lock.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreIncompatibleError, StoreUnavailableError } from '../../src/store/errors.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import { ExpectedRevision, type StoredEvent } from '../../src/store/types.js';

const LOOP = join(import.meta.dirname, '../support/sqlite-append-loop.ts');
/** The child, and its exit, listened for from the start: a fast child may be gone before anyone asks. */
const appendLoop = (path: string, limit: number, concurrency = 8, startAt = 0) => {
  const child = spawn(process.execPath, ['--import', 'tsx', LOOP, path, String(limit), String(concurrency)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, START_AT: String(startAt) },
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => { resolve(signal ?? code); }));
  return { child, exited };
};

const event = (n = 0) => ({ id: randomUUID(), type: 'Tested', data: { n }, metadata: {} });

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-sqlite-'));
  path = join(dir, 'keyward.db');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the SQLite store on disk', () => {
  it('keeps what it acknowledged across close and reopen', async () => {
    const store = SqliteEventStore.open({ path });
    await store.append('s-1', [event(1), event(2)], ExpectedRevision.noStream);
    await store.close();
    const reopened = SqliteEventStore.open({ path });
    expect((await reopened.readStream('s-1')).map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
    await reopened.close();
  });

  it('is in WAL mode with full synchronous commits', () => {
    const store = SqliteEventStore.open({ path });
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    void store.close();
  });

  it('every acknowledged append survives the process being killed in the middle of appends', async () => {
    const { child, exited } = appendLoop(path, 1_000_000);
    const acknowledged: string[] = [];
    for await (const line of createInterface({ input: child.stdout })) {
      acknowledged.push(line);
      if (acknowledged.length === 3000) child.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');

    const raw = new Database(path);
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
    const store = SqliteEventStore.open({ path });
    const stored = new Set<string>();
    for await (const e of store.readAll()) stored.add(e.id);
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    // Appends go on after the crash, on a file that opened cleanly.
    await store.append('after-crash', [event()], ExpectedRevision.noStream);
    await store.close();
  }, 60_000);

  it('subscribers see appends made by another process on the same file', async () => {
    const store = SqliteEventStore.open({ path, pollIntervalMs: 20 });
    const sub = store.subscribe();
    const { exited } = appendLoop(path, 200, 4);
    const seen: StoredEvent[] = [];
    for await (const e of sub) {
      seen.push(e);
      if (seen.length === 200) break;
    }
    await sub.close();
    expect(await exited).toBe(0);
    expect(new Set(seen.map((e) => e.id)).size).toBe(200);
    await store.close();
  }, 60_000);

  it('subscribers in the same process see an append at once, without waiting for a poll', async () => {
    const store = SqliteEventStore.open({ path, pollIntervalMs: 3_600_000 });
    const sub = store.subscribe();
    const iterator = sub[Symbol.asyncIterator]();
    const first = iterator.next();
    const appended = event(7);
    await store.append('s-1', [appended], ExpectedRevision.noStream);
    expect((await first).value).toMatchObject({ id: appended.id, data: { n: 7 } });
    await sub.close();
    await store.close();
  });

  it('another process holding the write lock makes appends unavailable, with nothing recorded', async () => {
    const store = SqliteEventStore.open({ path, busyTimeoutMs: 50 });
    await store.append('s-1', [event()], ExpectedRevision.noStream);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    await expect(store.append('s-1', [event()], 0)).rejects.toBeInstanceOf(StoreUnavailableError);
    other.exec('ROLLBACK');
    other.close();
    expect(await store.readStream('s-1')).toHaveLength(1);
    expect((await store.append('s-1', [event()], 0)).nextExpectedRevision).toBe(1);
    await store.close();
  });

  describe('files it cannot use', () => {
    it('a file that is not SQLite at all', () => {
      writeFileSync(path, 'this is not a database, it is a grocery list\n'.repeat(100));
      expect(() => SqliteEventStore.open({ path })).toThrow(StoreIncompatibleError);
    });

    it('an SQLite file of another program', () => {
      const other = new Database(path);
      other.exec('CREATE TABLE recipes (name TEXT)');
      other.close();
      expect(() => SqliteEventStore.open({ path })).toThrow(/not a keyward event store/);
    });

    it('a store written by a newer keyward', async () => {
      await SqliteEventStore.open({ path }).close();
      const raw = new Database(path);
      raw.pragma('user_version = 99');
      raw.close();
      expect(() => SqliteEventStore.open({ path })).toThrow(/newer keyward \(schema 99/);
    });

    it('a path that cannot be opened', () => {
      writeFileSync(path, '');
      expect(() => SqliteEventStore.open({ path: join(path, 'under-a-file', 'keyward.db') })).toThrow(StoreUnavailableError);
    });
  });
});

describe('several processes opening a new file at once', () => {
  it('migrate it once, and all of them can use it', async () => {
    const startAt = Date.now() + 3000;
    const loops = Array.from({ length: 4 }, () => appendLoop(path, 50, 2, startAt));
    const codes = await Promise.all(loops.map((l) => l.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const store = SqliteEventStore.open({ path });
    let n = 0;
    for await (const _ of store.readAll()) n++;
    expect(n).toBe(200);
    await store.close();
  }, 60_000);
});
