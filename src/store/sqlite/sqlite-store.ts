// The embedded event store: one SQLite file in WAL mode, the default on one machine.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { SqliteError, type Statement } from 'better-sqlite3';
import { StoreIncompatibleError, StoreUnavailableError, WrongExpectedRevisionError } from '../errors.js';
import {
  categoryOf,
  ExpectedRevision,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type Position,
  type ReadAllOptions,
  type Revision,
  type StoredEvent,
  type Subscription,
} from '../types.js';
import { migrate } from './schema.js';

export interface SqliteStoreOptions {
  readonly path: string;
  /**
   * FULL (the default) syncs the WAL on every commit: an acknowledged append survives a
   * crash of the process and of the machine. NORMAL survives a process crash only; the
   * last commits before a power loss may be lost.
   */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** How often subscribers look for appends made by other processes on the same file. */
  readonly pollIntervalMs?: number;
  /** How long a writer waits for another process's write lock before the store is unavailable. */
  readonly busyTimeoutMs?: number;
}

type Row = [position: number, eventId: string, streamId: string, revision: number, type: string, data: string, metadata: string];

interface PendingAppend {
  readonly streamId: string;
  readonly events: readonly EventToAppend[];
  readonly expected: ExpectedRevision;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

const PAGE = 2000;
const COLUMNS = 'position, event_id, stream_id, revision, type, data, metadata';

const toEvent = (row: Row): StoredEvent => ({
  id: row[1],
  streamId: row[2],
  revision: row[3],
  position: String(row[0]),
  type: row[4],
  data: JSON.parse(row[5]) as unknown,
  metadata: JSON.parse(row[6]) as unknown,
});

const toSeq = (position: Position | undefined): number => {
  if (position === undefined) return 0;
  const n = Number(position);
  if (!/^\d+$/.test(position) || !Number.isSafeInteger(n)) throw new TypeError(`not a position of the SQLite store: ${position}`);
  return n;
};

/** SQLite's errors as the port's: a damaged file is incompatible, anything else unavailable. */
const translate = (e: unknown, path: string): Error => {
  if (e instanceof WrongExpectedRevisionError || e instanceof StoreUnavailableError || e instanceof StoreIncompatibleError) return e;
  if (e instanceof SqliteError && (e.code === 'SQLITE_NOTADB' || e.code.startsWith('SQLITE_CORRUPT'))) {
    return new StoreIncompatibleError(`${path} is not a usable keyward event store (${e.code}): restore it from a backup`, { cause: e });
  }
  const code = e instanceof SqliteError ? e.code : e instanceof Error ? e.name : 'unknown error';
  return new StoreUnavailableError(`the event store at ${path} cannot be used now (${code})`, { cause: e });
};

/**
 * WAL mode is kept in the file, so it is set once. Switching needs the file to itself and
 * SQLite answers BUSY at once instead of waiting (the busy timeout does not apply): when
 * several processes open a new file together, the losers wait and look again.
 */
const enableWal = (db: Database.Database, timeoutMs: number): string => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const current = db.pragma('journal_mode', { simple: true }) as string;
      return current === 'wal' ? current : (db.pragma('journal_mode = WAL', { simple: true }) as string);
    } catch (e) {
      if (!(e instanceof SqliteError && e.code === 'SQLITE_BUSY') || Date.now() > deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
};

export class SqliteEventStore implements EventStore {
  readonly #db: Database.Database;
  readonly #path: string;
  readonly #pollIntervalMs: number;
  readonly #lastRevision: Statement<[string], { r: number | null }>;
  readonly #insert: Statement<[string, string, string, number, string, string, string]>;
  readonly #byRevision: Statement<[string, number, number]>;
  readonly #revisionOfId: Statement<[string, string], { revision: number }>;
  readonly #positionOf: Statement<[string, number], { position: number }>;
  readonly #readStream: Statement<[string, number]>;
  readonly #lastPosition: Statement<[], number | null>;
  readonly #pages = new Map<string, Statement>();
  /** Transaction control, prepared once: group commit runs these for every append. */
  readonly #tx: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Statement>;
  #queue: PendingAppend[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #waiters = new Set<() => void>();
  #pollTimer: NodeJS.Timeout | undefined;
  #subscriptions = 0;
  #dataVersion = 0;

  private constructor(db: Database.Database, options: SqliteStoreOptions) {
    this.#db = db;
    this.#path = options.path;
    this.#pollIntervalMs = options.pollIntervalMs ?? 100;
    this.#lastRevision = db.prepare(`SELECT MAX(revision) AS r FROM events WHERE stream_id = ?`);
    this.#insert = db.prepare(`INSERT INTO events (event_id, stream_id, category, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.#byRevision = db.prepare(`SELECT event_id FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision LIMIT ?`).pluck();
    this.#revisionOfId = db.prepare(`SELECT revision FROM events WHERE event_id = ? AND stream_id = ? ORDER BY revision LIMIT 1`);
    this.#positionOf = db.prepare(`SELECT position FROM events WHERE stream_id = ? AND revision = ?`);
    this.#tx = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT one_append'),
      release: db.prepare('RELEASE one_append'),
      rollbackTo: db.prepare('ROLLBACK TO one_append'),
    };
    this.#readStream = db.prepare(`SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision`).raw();
    this.#lastPosition = db.prepare<[], number | null>('SELECT MAX(position) FROM events').pluck();
  }

  static open(options: SqliteStoreOptions): SqliteEventStore {
    const path = options.path;
    let db: Database.Database | undefined;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
      db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      const mode = enableWal(db, options.busyTimeoutMs ?? 5000);
      if (path !== ':memory:' && mode !== 'wal') throw new StoreUnavailableError(`${path} could not be put in WAL mode (it is in ${mode} mode)`);
      db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      migrate(db, path);
      return new SqliteEventStore(db, options);
    } catch (e) {
      db?.close();
      throw translate(e, path);
    }
  }

  append(streamId: string, events: readonly EventToAppend[], expected: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) return Promise.reject(new RangeError('an append needs at least one event'));
    if (this.#closed) return Promise.reject(new StoreUnavailableError(`the event store at ${this.#path} is closed`));
    return new Promise((resolve, reject) => {
      this.#queue.push({ streamId, events, expected, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // Group commit: appends that arrive while this turn of the event loop runs share one
        // transaction and one fsync; each keeps its own all-or-nothing result (a savepoint).
        setImmediate(() => {
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    const batch = this.#queue;
    this.#queue = [];
    this.#flushScheduled = false;
    if (batch.length === 0) return;
    const outcomes: ({ ok: true; value: AppendResult } | { ok: false; error: unknown })[] = [];
    try {
      const tx = this.#tx;
      tx.begin.run();
      try {
        for (const p of batch) {
          tx.savepoint.run();
          try {
            outcomes.push({ ok: true, value: this.#appendOne(p) });
            tx.release.run();
          } catch (e) {
            tx.rollbackTo.run();
            tx.release.run();
            outcomes.push({ ok: false, error: e });
          }
        }
        tx.commit.run();
      } catch (e) {
        if (this.#db.inTransaction) tx.rollback.run();
        throw e;
      }
    } catch (e) {
      // Nothing of this batch was committed: every caller hears so, including those whose own
      // append had succeeded inside the rolled-back transaction.
      const error = translate(e, this.#path);
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => {
      const o = outcomes[i];
      if (o?.ok === true) p.resolve(o.value);
      else p.reject(translate(o?.error, this.#path));
    });
    this.#wake();
  }

  #appendOne({ streamId, events, expected }: PendingAppend): AppendResult {
    const last = this.#lastRevision.get(streamId)?.r ?? null;
    const current: Revision = last ?? -1;
    if (expected === ExpectedRevision.any || expected === ExpectedRevision.streamExists) {
      const first = events[0];
      const at = first === undefined ? undefined : this.#revisionOfId.get(first.id, streamId)?.revision;
      if (at !== undefined) return this.#alreadyAppended(streamId, events, expected, at, current);
    }
    const ok =
      expected === ExpectedRevision.any ||
      (expected === ExpectedRevision.noStream && current === -1) ||
      (expected === ExpectedRevision.streamExists && current >= 0) ||
      expected === current;
    if (!ok) {
      const at = expected === ExpectedRevision.noStream ? 0 : typeof expected === 'number' ? expected + 1 : current + 1;
      return this.#alreadyAppended(streamId, events, expected, at, current);
    }
    const category = categoryOf(streamId);
    let position = 0;
    events.forEach((e, i) => {
      const info = this.#insert.run(e.id, streamId, category, current + 1 + i, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata ?? null));
      position = Number(info.lastInsertRowid);
    });
    return { nextExpectedRevision: current + events.length, position: String(position) };
  }

  /**
   * EventStoreDB's idempotence: the same event ids, already recorded exactly where this
   * append would have put them, make the append a success that records nothing.
   */
  #alreadyAppended(streamId: string, events: readonly EventToAppend[], expected: ExpectedRevision, at: Revision, current: Revision): AppendResult {
    const ids = at >= 0 ? (this.#byRevision.all(streamId, at, events.length) as string[]) : [];
    if (ids.length === events.length && ids.every((id, i) => id === events[i]?.id)) {
      const lastRevision = at + events.length - 1;
      const row = this.#positionOf.get(streamId, lastRevision);
      return { nextExpectedRevision: lastRevision, position: String(row?.position ?? 0) };
    }
    throw new WrongExpectedRevisionError(streamId, expected, current === -1 ? 'no_stream' : current);
  }

  readStream(streamId: string, options: { readonly fromRevision?: Revision } = {}): Promise<StoredEvent[]> {
    try {
      return Promise.resolve((this.#readStream.all(streamId, options.fromRevision ?? 0) as Row[]).map(toEvent));
    } catch (e) {
      return Promise.reject(translate(e, this.#path));
    }
  }

  #page(after: number, options: ReadAllOptions, limit: number): Row[] {
    const categories = options.categories ?? [];
    const types = options.types ?? [];
    if (categories.length <= 1) return this.#pageOf(after, categories[0], types, limit);
    // Several categories: each one read in position order from its index, then merged. One
    // query for all of them would sort every remaining row of theirs for each page.
    const rows = categories.flatMap((category) => this.#pageOf(after, category, types, limit));
    return rows.sort((a, b) => a[0] - b[0]).slice(0, limit);
  }

  #pageOf(after: number, category: string | undefined, types: readonly string[], limit: number): Row[] {
    const key = `${category === undefined ? 'all' : 'one'}/${types.length}`;
    let stmt = this.#pages.get(key);
    if (stmt === undefined) {
      const filter = `${category === undefined ? '' : ' AND category = ?'}${types.length === 0 ? '' : ` AND type IN (${types.map(() => '?').join(', ')})`}`;
      stmt = this.#db.prepare(`SELECT ${COLUMNS} FROM events WHERE position > ?${filter} ORDER BY position LIMIT ?`).raw();
      this.#pages.set(key, stmt);
    }
    try {
      return stmt.all(after, ...(category === undefined ? [] : [category]), ...types, limit) as Row[];
    } catch (e) {
      throw translate(e, this.#path);
    }
  }

  lastPosition(): Promise<Position | undefined> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError(`the event store at ${this.#path} is closed`));
    try {
      const last = this.#lastPosition.get();
      return Promise.resolve(last === null || last === undefined ? undefined : String(last));
    } catch (e) {
      return Promise.reject(translate(e, this.#path));
    }
  }

  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<StoredEvent> {
    let after = toSeq(options.after);
    for (;;) {
      const rows = this.#page(after, options, PAGE);
      for (const row of rows) yield toEvent(row);
      const last = rows[rows.length - 1];
      if (last === undefined || rows.length < PAGE) return;
      after = last[0];
      // A long replay reads synchronously; between pages, the rest of the process gets a turn.
      await new Promise(setImmediate);
    }
  }

  subscribe(options: ReadAllOptions = {}): Subscription {
    let after = toSeq(options.after);
    let closed = false;
    // A function, not the variable: close() flips it while the generator is suspended.
    const isClosed = (): boolean => closed || this.#closed;
    let wake: (() => void) | undefined;
    const waitForAppends = (): Promise<void> =>
      new Promise((resolve) => {
        const waker = (): void => {
          this.#waiters.delete(waker);
          resolve();
        };
        wake = waker;
        this.#waiters.add(waker);
      });
    this.#subscribed(1);
    let released = false;
    const release = (): void => {
      if (!released) this.#subscribed(-1);
      released = true;
    };
    const events = async function* (store: SqliteEventStore): AsyncGenerator<StoredEvent> {
      try {
        while (!isClosed()) {
          const rows = store.#page(after, options, PAGE);
          for (const row of rows) {
            after = row[0];
            yield toEvent(row);
            if (isClosed()) return;
          }
          if (rows.length === 0) await waitForAppends();
        }
      } finally {
        release();
      }
    };
    const iterator = events(this);
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        closed = true;
        wake?.();
        await iterator.return(undefined);
        // A subscription closed before it was ever read never ran its generator's finally.
        release();
      },
    };
  }

  comparePositions(a: Position, b: Position): number {
    return toSeq(a) - toSeq(b);
  }

  /**
   * Appends by other processes on the same file reach subscribers through a poll of
   * `data_version`, which changes when another connection commits. It runs for as long as
   * any subscription is open, so no commit falls between a read and the next look.
   */
  #subscribed(delta: 1 | -1): void {
    this.#subscriptions += delta;
    if (this.#subscriptions > 0 && this.#pollTimer === undefined && !this.#closed) {
      this.#dataVersion = this.#db.pragma('data_version', { simple: true }) as number;
      this.#pollTimer = setInterval(() => {
        const version = this.#db.pragma('data_version', { simple: true }) as number;
        if (version !== this.#dataVersion) {
          this.#dataVersion = version;
          this.#wake();
        }
      }, this.#pollIntervalMs);
      this.#pollTimer.unref();
    } else if (this.#subscriptions === 0) {
      clearInterval(this.#pollTimer);
      this.#pollTimer = undefined;
    }
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    // Appends already accepted are committed before the file closes.
    this.#flush();
    this.#closed = true;
    clearInterval(this.#pollTimer);
    this.#wake();
    this.#db.close();
    return Promise.resolve();
  }
}
