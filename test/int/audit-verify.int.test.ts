// `keyward audit verify` against a real history on a real SQLite file, tampered with the way
// someone with the file and the sqlite3 shell would: each test works on a copy of the file and
// checks that verify names exactly the first break, with its stream, revision and kind.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantStreamId, proxyStreamId, Secret } from '../../domain/index.js';
import { authorize, enableProxy, revoke, rotate, type Reply } from '../../src/app/commands.js';
import { systemClock, type AppContext } from '../../src/app/context.js';
import { Projector } from '../../src/app/projector.js';
import { verifyHistory, type VerifyReport } from '../../src/audit/verify.js';
import { AUDIT_VERIFY } from '../../src/cli/commands/audit-verify.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import type { Io } from '../../src/cli/io.js';
import { SealingKey } from '../../src/crypto.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import type { EventStore, StoredEvent } from '../../src/store/types.js';

const admin = { userId: 'ada', role: 'admin' as const };
const BOB = grantStreamId('orders-db', 'bob');
const CAROL = grantStreamId('orders-db', 'carol');
const PROXY = proxyStreamId('orders-db');

let dir: string;
let original: string;
/** Every secret the history holds, plaintext or sealed: no output may contain one. */
const secrets: string[] = [];
/** Everything the command printed, in every test, checked for secrets at the end. */
const printed: string[] = [];
let copies = 0;

const right = (reply: Reply): Record<string, unknown> => {
  if (E.isLeft(reply)) throw new Error(`expected success, got ${reply.left.code}: ${reply.left.message}`);
  return reply.right;
};

const collectSealed = (value: unknown): void => {
  if (typeof value !== 'object' || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    if ((k === 'secretSealed' || k === 'passwordSealed') && typeof v === 'string') secrets.push(v);
    else if (k === 'verifiers' && typeof v === 'object' && v !== null) secrets.push(...Object.values(v as Record<string, unknown>).filter((x): x is string => typeof x === 'string'));
    else collectSealed(v);
  }
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-verify-test-'));
  original = join(dir, 'keyward.db');
  const store = SqliteEventStore.open({ path: original });
  const projector = new Projector(store);
  projector.start();
  const ctx: AppContext = { store, masterKey: SealingKey.generate(), clock: systemClock, projector };
  const password = 'proxy-account-pw-7f3a';
  secrets.push(password);
  right(await enableProxy(ctx, { actor: admin, instanceId: 'orders-db', databaseAccount: { username: 'proxy_acct', password: new Secret(password) } }));
  const keep = (r: Record<string, unknown>): void => { secrets.push(String(r.accessSecret)); };
  // bob: revisions 0 (granted) … 3 (rotated twice more), 4 (revoked).
  keep(right(await authorize(ctx, { actor: admin, instanceId: 'orders-db', userId: 'bob', policy: { type: 'system' } })));
  keep(right(await rotate(ctx, { actor: admin, instanceId: 'orders-db', userId: 'bob' })));
  keep(right(await rotate(ctx, { actor: admin, instanceId: 'orders-db', userId: 'bob' })));
  keep(right(await rotate(ctx, { actor: admin, instanceId: 'orders-db', userId: 'bob' })));
  right(await revoke(ctx, { actor: admin, instanceId: 'orders-db', userId: 'bob', mode: 'recycle' }));
  // carol: revisions 0 (granted), 1 (rotated).
  keep(right(await authorize(ctx, { actor: admin, instanceId: 'orders-db', userId: 'carol', policy: { type: 'system' } })));
  keep(right(await rotate(ctx, { actor: admin, instanceId: 'orders-db', userId: 'carol' })));
  for await (const e of store.readAll()) collectSealed(e.data);
  await projector.stop();
  await store.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A copy of the history, changed by `tamper` through SQLite itself. */
const tampered = (tamper: (db: Database.Database) => void = () => undefined): string => {
  const copy = join(dir, `copy-${++copies}.db`);
  copyFileSync(original, copy);
  const db = new Database(copy);
  tamper(db);
  db.close();
  return copy;
};

/** position and type of a stream's event, as the untouched file has them. */
const at = (streamId: string, revision: number): { position: string; type: string } => {
  const db = new Database(original, { readonly: true });
  const row = db.prepare('SELECT position, type FROM events WHERE stream_id = ? AND revision = ?').get(streamId, revision) as { position: number; type: string } | undefined;
  db.close();
  if (row === undefined) throw new Error(`no ${streamId}@${revision}`);
  return { position: String(row.position), type: row.type };
};

const verifyFile = async (path: string): Promise<VerifyReport> => {
  const store = SqliteEventStore.open({ path });
  try {
    return await verifyHistory(store);
  } finally {
    await store.close();
  }
};

const rowCount = (): number => {
  const db = new Database(original, { readonly: true });
  const n = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  db.close();
  return n;
};

const swap = (db: Database.Database, streamId: string, a: number, b: number): void => {
  const get = db.prepare('SELECT event_id, type, data, metadata FROM events WHERE stream_id = ? AND revision = ?');
  const set = db.prepare('UPDATE events SET event_id = ?, type = ?, data = ?, metadata = ? WHERE stream_id = ? AND revision = ?');
  const ra = get.get(streamId, a) as { event_id: string; type: string; data: string; metadata: string };
  const rb = get.get(streamId, b) as { event_id: string; type: string; data: string; metadata: string };
  set.run(rb.event_id, rb.type, rb.data, rb.metadata, streamId, a);
  set.run(ra.event_id, ra.type, ra.data, ra.metadata, streamId, b);
};

describe('verifyHistory over a real history', () => {
  it('passes an intact store: every stream and event checked, no break', async () => {
    const report = await verifyFile(tampered());
    expect(report).toEqual({ intact: true, streams: 3, events: rowCount(), breaks: [] });
    expect(report.events).toBe(1 + 5 + 2);
  });

  it('an edited userId in the middle of a stream breaks the link to the next event', async () => {
    const report = await verifyFile(tampered((db) => db.prepare(`UPDATE events SET data = json_set(data, '$.userId', 'mallory') WHERE stream_id = ? AND revision = 1`).run(BOB)));
    expect(report.intact).toBe(false);
    expect(report.breaks).toEqual([{ streamId: BOB, revision: 2, ...at(BOB, 2), kind: 'edited', reason: expect.stringContaining(`revision 1 (position ${at(BOB, 1).position}) was changed`) as string }]);
  });

  it('an edited policy on a two-event stream: the same break, without telling which of the two changed', async () => {
    const report = await verifyFile(tampered((db) => db.prepare(`UPDATE events SET data = json_set(data, '$.policy', json('{"type":"expire","expiresAt":"2099-01-01T00:00:00.000Z"}')) WHERE stream_id = ? AND revision = 0`).run(CAROL)));
    expect(report.breaks).toEqual([{ streamId: CAROL, revision: 1, ...at(CAROL, 1), kind: 'edited', reason: expect.stringContaining('does not match revision 0') as string }]);
    expect(report.breaks[0]?.reason).toContain('or this event');
  });

  it("a changed prevHash is that event's own change", async () => {
    const other = 'ab'.repeat(32);
    const report = await verifyFile(tampered((db) => db.prepare(`UPDATE events SET metadata = json_set(metadata, '$.prevHash', ?) WHERE stream_id = ? AND revision = 3`).run(other, BOB)));
    expect(report.breaks).toEqual([{ streamId: BOB, revision: 3, ...at(BOB, 3), kind: 'edited', reason: expect.stringContaining('this event was changed') as string }]);
  });

  it('a prevHash given to the first event of a stream', async () => {
    const report = await verifyFile(tampered((db) => db.prepare(`UPDATE events SET metadata = json_set(metadata, '$.prevHash', ?) WHERE stream_id = ? AND revision = 0`).run('cd'.repeat(32), PROXY)));
    expect(report.breaks).toEqual([{ streamId: PROXY, revision: 0, ...at(PROXY, 0), kind: 'edited', reason: expect.stringContaining('first event') as string }]);
  });

  it('a row deleted in the middle of a stream is a gap in its revisions', async () => {
    const report = await verifyFile(tampered((db) => db.prepare('DELETE FROM events WHERE stream_id = ? AND revision = 2').run(BOB)));
    expect(report.breaks).toEqual([{ streamId: BOB, revision: 3, ...at(BOB, 3), kind: 'removed', reason: 'revision 2 is missing: this event follows revision 1' }]);
    expect(report.events).toBe(rowCount() - 1);
  });

  it("the first event deleted: the stream starts late", async () => {
    const report = await verifyFile(tampered((db) => db.prepare('DELETE FROM events WHERE stream_id = ? AND revision = 0').run(CAROL)));
    expect(report.breaks).toEqual([{ streamId: CAROL, revision: 1, ...at(CAROL, 1), kind: 'removed', reason: 'the stream starts at revision 1: revision 0 is missing' }]);
  });

  // In SQLite a swap keeps each row's position and revision (UNIQUE (stream_id, revision)):
  // the revisions still count 0, 1, 2 …, and only the chain shows the contents moved.
  it('two rows of a stream with their contents swapped are reported as reordered, at the first', async () => {
    const report = await verifyFile(tampered((db) => { swap(db, BOB, 1, 3); }));
    expect(report.breaks).toEqual([{ streamId: BOB, revision: 1, position: at(BOB, 1).position, type: at(BOB, 3).type, kind: 'reordered', reason: `the event that follows revision 0 is recorded at revision 3 (position ${at(BOB, 3).position}): rows were swapped or moved` }]);
  });

  it('two neighbouring rows swapped', async () => {
    const report = await verifyFile(tampered((db) => { swap(db, BOB, 2, 3); }));
    expect(report.breaks).toMatchObject([{ streamId: BOB, revision: 2, position: at(BOB, 2).position, kind: 'reordered' }]);
  });

  it("a stream's first two rows swapped", async () => {
    const report = await verifyFile(tampered((db) => { swap(db, CAROL, 0, 1); }));
    expect(report.breaks).toMatchObject([{ streamId: CAROL, revision: 0, kind: 'reordered', reason: expect.stringContaining("the stream's first event is recorded at revision 1") as string }]);
  });

  it('a row moved to the end of the log is a gap that turns up later: reordered, not removed', async () => {
    const report = await verifyFile(tampered((db) => db.prepare('UPDATE events SET position = (SELECT max(position) + 1 FROM events) WHERE stream_id = ? AND revision = 1').run(BOB)));
    expect(report.breaks).toEqual([{ streamId: BOB, revision: 2, ...at(BOB, 2), kind: 'reordered', reason: expect.stringContaining('revision 1 is recorded later') as string }]);
  });

  it('metadata without its actor is malformed', async () => {
    const report = await verifyFile(tampered((db) => db.prepare(`UPDATE events SET metadata = json_remove(metadata, '$.actor') WHERE stream_id = ? AND revision = 2`).run(BOB)));
    expect(report.breaks).toEqual([{ streamId: BOB, revision: 2, ...at(BOB, 2), kind: 'malformed', reason: expect.stringContaining('actor') as string }]);
  });

  it('reports the first break of every broken stream, and only the first', async () => {
    const report = await verifyFile(
      tampered((db) => {
        db.prepare('DELETE FROM events WHERE stream_id = ? AND revision = 1').run(BOB);
        db.prepare(`UPDATE events SET data = json_set(data, '$.userId', 'mallory') WHERE stream_id = ? AND revision = 3`).run(BOB);
        db.prepare(`UPDATE events SET metadata = json_set(metadata, '$.prevHash', ?) WHERE stream_id = ? AND revision = 1`).run('ef'.repeat(32), CAROL);
      }),
    );
    expect(report.breaks.map((b) => [b.streamId, b.revision, b.kind])).toEqual([
      [BOB, 2, 'removed'],
      [CAROL, 1, 'edited'],
    ]);
    expect(report.streams).toBe(3);
  });

  // SQLite's UNIQUE (stream_id, revision) keeps a file from holding one revision twice; another
  // store could, so the same history is read through a port that yields one event again.
  it('a revision recorded twice is repeated', async () => {
    const store = SqliteEventStore.open({ path: tampered() });
    const events: StoredEvent[] = [];
    for await (const e of store.readAll()) events.push(e);
    await store.close();
    const again = events.find((e) => e.streamId === BOB && e.revision === 1);
    if (again === undefined) throw new Error('no bob@1');
    const i = events.findIndex((e) => e.streamId === BOB && e.revision === 3);
    const withRepeat = [...events.slice(0, i), { ...again, position: 'x' }, ...events.slice(i)];
    const fake = { readAll: async function* () { yield* withRepeat; await Promise.resolve(); } } as unknown as EventStore;
    const report = await verifyHistory(fake);
    expect(report.breaks).toEqual([{ streamId: BOB, revision: 1, position: 'x', type: again.type, kind: 'repeated', reason: 'revision 1 is recorded again, after revision 2' }]);
  });

  // What the chain cannot see, pinned so that nobody reads more into a pass.
  it('cannot see the last event of a stream removed or changed', async () => {
    const report = await verifyFile(
      tampered((db) => {
        db.prepare('DELETE FROM events WHERE stream_id = ? AND revision = 4').run(BOB);
        db.prepare(`UPDATE events SET data = json_set(data, '$.userId', 'mallory') WHERE stream_id = ? AND revision = 1`).run(CAROL);
      }),
    );
    expect(report.intact).toBe(true);
  });

  it('reports progress as it reads', async () => {
    const seen: number[] = [];
    const store = SqliteEventStore.open({ path: tampered() });
    await verifyHistory(store, { onProgress: (n) => seen.push(n) });
    await store.close();
    expect(seen.at(-1)).toBe(rowCount());
  });
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The command as the dispatch table would run it, with its output captured. */
const cli = async (argv: readonly string[], env: Record<string, string>): Promise<Run> => {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { env, stdout: (t) => out.push(t), stderr: (t) => err.push(t), readStdin: () => Promise.resolve(''), stdinIsTerminal: false };
  const code = await AUDIT_VERIFY.run(argv, io);
  printed.push(...out, ...err);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
};

describe('keyward audit verify', () => {
  it('says an intact store is intact and exits 0', async () => {
    const run = await cli([], { KEYWARD_STORE: `sqlite:${tampered()}` });
    expect(run.code).toBe(ExitCode.OK);
    expect(run.stdout).toMatch(/^intact: .*\(3 streams, 8 events in sqlite:.*copy-\d+\.db\)/);
    expect(run.stderr).toBe('');
  });

  it('prints a table of the first breaks and exits 11', async () => {
    const copy = tampered((db) => {
      db.prepare('DELETE FROM events WHERE stream_id = ? AND revision = 2').run(BOB);
      swap(db, CAROL, 0, 1);
    });
    const run = await cli([], { KEYWARD_STORE: `sqlite:${copy}` });
    expect(run.code).toBe(ExitCode.HISTORY_BROKEN);
    expect(run.code).toBe(11);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^BROKEN: 2 of 3 streams have a break \(7 events/);
    const header = lines.findIndex((l) => /^stream\s+revision\s+position\s+type\s+kind\s+reason$/.test(l));
    expect(header).toBeGreaterThan(0);
    const rows = lines.slice(header + 1, header + 3).map((l) => l.split(/\s{2,}/));
    expect(rows).toEqual([
      [BOB, '3', at(BOB, 3).position, 'AccessKeyRotated', 'removed', 'revision 2 is missing: this event follows revision 1'],
      [CAROL, '0', at(CAROL, 0).position, 'AccessKeyRotated', 'reordered', expect.stringContaining("the stream's first event") as string],
    ]);
  });

  it('--json prints the report as one object', async () => {
    const copy = tampered((db) => { swap(db, BOB, 1, 3); });
    const run = await cli(['--json'], { KEYWARD_STORE: `sqlite:${copy}` });
    expect(run.code).toBe(ExitCode.HISTORY_BROKEN);
    expect(run.stdout.split('\n')).toHaveLength(1);
    expect(JSON.parse(run.stdout)).toEqual({ ...(await verifyFile(copy)), intact: false, streams: 3, events: 8 });
    expect((JSON.parse(run.stdout) as VerifyReport).breaks.map((b) => [b.streamId, b.revision, b.kind])).toEqual([[BOB, 1, 'reordered']]);
    const intact = await cli(['--json'], { KEYWARD_STORE: `sqlite:${tampered()}` });
    expect([intact.code, JSON.parse(intact.stdout)]).toEqual([0, { intact: true, streams: 3, events: 8, breaks: [] }]);
  });

  it('never writes to the file it verifies, even one that opening would migrate to WAL', async () => {
    // A store restored from a backup is in rollback-journal mode: opening it as a store switches it to WAL.
    const copy = tampered((db) => { db.pragma('journal_mode = DELETE'); });
    const before = readFileSync(copy);
    const run = await cli([], { KEYWARD_STORE: `sqlite:${copy}` });
    expect(run.code).toBe(ExitCode.OK);
    expect(readFileSync(copy).equals(before)).toBe(true);
    expect(existsSync(`${copy}-wal`)).toBe(false);
  });

  it('a row that is not JSON: the history was not verified, exit 1, and the row is not quoted', async () => {
    const copy = tampered((db) => db.prepare(`UPDATE events SET data = 'not json ' || data WHERE stream_id = ? AND revision = 1`).run(BOB));
    for (const argv of [[], ['--json']]) {
      const run = await cli(argv, { KEYWARD_STORE: `sqlite:${copy}` });
      expect(run.code).toBe(ExitCode.FAILED);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('the history was not verified');
      expect(run.stderr).not.toContain('not json');
    }
  });

  it('a missing file is a usage error, and no file is made', async () => {
    const missing = join(dir, 'nowhere', 'keyward.db');
    const run = await cli([], { KEYWARD_STORE: `sqlite:${missing}` });
    expect(run.code).toBe(ExitCode.USAGE);
    expect(run.stderr).toContain(`there is no event store at ${missing}`);
    expect(existsSync(missing)).toBe(false);
  });

  it('a bad KEYWARD_STORE or flag is a usage error', async () => {
    const bad = await cli([], { KEYWARD_STORE: 'postgres://db' });
    expect([bad.code, bad.stderr]).toEqual([ExitCode.USAGE, expect.stringContaining('KEYWARD_STORE must be') as string]);
    const json = await cli(['--json'], { KEYWARD_STORE: 'sqlite:' });
    expect(json.code).toBe(ExitCode.USAGE);
    expect((JSON.parse(json.stderr) as { code: string }).code).toBe('USAGE');
    const flag = await cli(['--all'], { KEYWARD_STORE: `sqlite:${tampered()}` });
    expect([flag.code, flag.stderr]).toEqual([ExitCode.USAGE, expect.stringContaining('unknown flag --all') as string]);
  });

  it('another SQLite file, or a file that is not SQLite, is refused untouched', async () => {
    const foreign = join(dir, 'foreign.db');
    const db = new Database(foreign);
    db.exec('CREATE TABLE notes (body TEXT)');
    db.close();
    const before = readFileSync(foreign);
    const run = await cli([], { KEYWARD_STORE: `sqlite:${foreign}` });
    expect([run.code, run.stderr]).toEqual([ExitCode.FAILED, expect.stringContaining('is not a keyward event store') as string]);
    expect(readFileSync(foreign).equals(before)).toBe(true);

    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    const none = await cli([], { KEYWARD_STORE: `sqlite:${empty}` });
    expect([none.code, none.stderr]).toEqual([ExitCode.FAILED, expect.stringContaining('is not a keyward event store') as string]);

    const text = join(dir, 'text.db');
    writeFileSync(text, 'this is not a database, just some text that is long enough to be a header'.repeat(10));
    const garbage = await cli([], { KEYWARD_STORE: `sqlite:${text}` });
    expect(garbage.code).toBe(ExitCode.FAILED);
  });

  // Last in the file: it reads what every command run above printed.
  it('no output ever holds a secret, plaintext or sealed, even where a break is on an event that carries one', async () => {
    // The password, 6 AccessSecrets, the sealed password, 6 sealed secrets, 6 × 2 verifiers.
    expect(secrets).toHaveLength(1 + 6 + 1 + 6 + 12);
    for (const s of secrets) expect(s.length).toBeGreaterThanOrEqual(16);
    const broken = tampered((db) => {
      db.prepare(`UPDATE events SET data = json_set(data, '$.userId', 'mallory') WHERE stream_id = ? AND revision = 0`).run(BOB);
      db.prepare(`UPDATE events SET metadata = json_remove(metadata, '$.occurredAt') WHERE stream_id = ?`).run(PROXY);
      swap(db, CAROL, 0, 1);
    });
    for (const argv of [[], ['--json']]) expect((await cli(argv, { KEYWARD_STORE: `sqlite:${broken}` })).code).toBe(ExitCode.HISTORY_BROKEN);
    expect(printed.length).toBeGreaterThan(10);
    const all = printed.join('\n');
    expect(all).toMatch(/AccessKeyRotated\s+edited/);
    for (const s of secrets) expect(all.includes(s), 'a secret was printed').toBe(false);
  });
});
