// `keyward audit statements` against a real nats-server holding a scripted set of SQL audit
// records, published by the proxy's own sqlAuditLog with a clock the test sets: two instances,
// several users, every kind, a statement that set a password, a record that arrived late. The
// output of each format and filter is checked against lists picked by hand.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_STATEMENTS } from '../../src/cli/commands/audit-statements.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import type { Io } from '../../src/cli/io.js';
import { ensureSqlAuditStream, recordedStatement, SQL_AUDIT_STREAM, sqlAuditLog, sqlAuditSubject, type SqlAuditInput, type SqlAuditRecord } from '../../src/mysql-proxy/audit-log.js';
import { runCli } from '../support/cli.js';
import { freePort, startNatsServer, type NatsServer } from '../support/nats-server.js';
import { parseCsv } from '../support/csv.js';

const PREFIX = 'acme.keyward';
const PASSWORD = 'hunter2-secret';
// Before the real time the server stores them at, so that a --from on these times starts the
// consumer before every record and the filtering shown is the command's own.
const T0 = Math.floor(Date.now() / 1000) * 1000 - 3600_000;
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();
const key = (name: string): string => name.padEnd(24, '0');
const A = { bob: key('AKbobOrders'), bob2: key('AKbobOrdersTwo'), carol: key('AKcarolOrders'), unknown: key('AKnobody'), bobBilling: key('AKbobBilling') };

const base = (instanceId: string, accessId: string, userId: string | null, session: string, via: 'mysql' | 'https' = 'mysql') => ({
  instanceId,
  accessId,
  userId,
  session,
  via,
  nodeId: 'node-a',
  client: '10.1.2.3:51234',
});
const orders = (accessId: string, userId: string | null, session: string, via?: 'mysql' | 'https') => base('orders-db', accessId, userId, session, via);
const statement = (sql: string, rows: number, durationMs: number, command: 'query' | 'prepare' | 'execute' | 'init-db' = 'query', error: { code: number; message: string } | null = null) =>
  ({ kind: 'statement', command, ...recordedStatement(sql), rows, durationMs, error }) as const;

const DENIED = { code: 1227, message: 'Access denied; you need (at least one of) the CREATE USER privilege(s) for this operation' };
const QUOTED = `SELECT id, note FROM orders WHERE note = 'a, "quoted" value'`;

// [seconds, record] in the order published.
const SCRIPT: readonly (readonly [number, SqlAuditInput])[] = [
  [0, { ...orders(A.bob, 'bob', 's1'), kind: 'login', ok: true, databaseUser: 'bob_ro' }],
  [5, { ...base('billing-db', A.bobBilling, 'bob', 's10'), kind: 'login', ok: true, databaseUser: 'bob_rw' }],
  [10, { ...orders(A.bob, 'bob', 's1'), ...statement(QUOTED, 3, 2) }],
  [15, { ...orders(A.unknown, null, 's2'), kind: 'login', ok: false, reason: 'unknown AccessID' }],
  [20, { ...orders(A.carol, 'carol', 's3', 'https'), kind: 'login', ok: true, databaseUser: 'carol_rw' }],
  [25, { ...base('billing-db', A.bobBilling, 'bob', 's10'), ...statement('UPDATE invoices SET paid = 1 WHERE id = 7', 1, 4) }],
  [30, { ...orders(A.carol, 'carol', 's3', 'https'), ...statement("UPDATE orders\nSET state = 'shipped'\nWHERE id = ?", 1, 5, 'execute') }],
  [40, { ...orders(A.bob, 'bob', 's1'), ...statement(`ALTER USER bob_ro IDENTIFIED BY '${PASSWORD}'`, 0, 1, 'query', DENIED) }],
  [45, { ...base('billing-db', A.bobBilling, 'bob', 's10'), kind: 'closed', reason: 'client quit' }],
  [50, { ...orders(A.bob, 'bob', 's1'), kind: 'closed', reason: 'client quit' }],
  [60, { ...orders(A.bob2, 'bob', 's4'), kind: 'login', ok: true, databaseUser: 'bob_ro' }],
  [70, { ...orders(A.bob2, 'bob', 's4'), ...statement('SELECT 1', 1, 0) }],
  [80, { ...orders(A.carol, 'carol', 's3', 'https'), kind: 'closed', reason: 'key revoked' }],
];
// Held back by a proxy while NATS was away, and sent after all the others: it happened at 65.
const LATE: readonly (readonly [number, SqlAuditInput])[] = [[65, { ...orders(A.carol, 'carol', 's3', 'https'), ...statement('SELECT * FROM orders', 12, 7) }]];
const ORDERS_ALL = [0, 10, 15, 20, 30, 40, 50, 60, 65, 70, 80];

let server: NatsServer;
let nc: NatsConnection;
/** The real time the skewed-db records were published at. */
let published: number;

/** Published as a proxy does (in batches, one message of JSON lines per instance), then stored. */
const publishAll = async (records: readonly (readonly [number, SqlAuditInput])[], clockAt: (t: number) => number): Promise<void> => {
  let now = 0;
  const log = sqlAuditLog(nc, PREFIX, () => now);
  for (const [t, input] of records) {
    now = clockAt(t);
    log.record(input);
  }
  log.flush();
  expect(log.counts()).toEqual({ published: records.length, failed: 0 });
  await stored();
};

// Plain publishes are stored a little later. The stream stores what one connection sends in
// order, so once a JetStream publish after them is acknowledged, they are stored too.
const stored = async (): Promise<void> => {
  await nc.jetstream().publish(sqlAuditSubject(PREFIX, 'barrier-db'));
};

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await ensureSqlAuditStream(await nc.jetstreamManager(), PREFIX);
  await publishAll(SCRIPT, (t) => Date.parse(at(t)));
  await publishAll(LATE, (t) => Date.parse(at(t)));
  // legacy-db: good records among what no proxy of ours writes: not JSON, a record without its
  // kind, another instance's record, a batch whose second line is cut.
  const legacy = sqlAuditSubject(PREFIX, 'legacy-db');
  await publishAll([[0, { ...base('legacy-db', A.bob, 'bob', 's20'), kind: 'login', ok: true, databaseUser: 'bob_ro' }]], (t) => Date.parse(at(t)));
  nc.publish(legacy, new TextEncoder().encode('not json {'));
  nc.publish(legacy, new TextEncoder().encode(JSON.stringify({ id: 'x', at: at(1), ...base('legacy-db', A.bob, 'bob', 's20') })));
  nc.publish(legacy, new TextEncoder().encode(JSON.stringify({ id: 'y', at: at(2), ...base('orders-db', A.bob, 'bob', 's1'), kind: 'closed', reason: 'elsewhere' })));
  // A batch with a good line and a bad one: the good one is kept.
  const good = JSON.stringify({ id: 'z', at: at(2), ...base('legacy-db', A.bob, 'bob', 's20'), kind: 'login', ok: false, reason: 'unknown AccessID' });
  nc.publish(legacy, new TextEncoder().encode(`${good}\n{"half": \n`));
  // The last: a MySQL client that closed before saying who it was has no AccessID.
  await publishAll(
    [
      [3, { ...base('legacy-db', A.bob, 'bob', 's20'), kind: 'closed', reason: 'client quit' }],
      [4, { ...base('legacy-db', '', null, 's21'), kind: 'closed', reason: 'client quit' }],
    ],
    (t) => Date.parse(at(t)),
  );
  // skewed-db: a proxy whose clock runs 2 minutes ahead, and one a day ahead.
  published = Date.now();
  await publishAll(
    [
      [120, { ...base('skewed-db', A.bob, 'bob', 's30'), kind: 'login', ok: true, databaseUser: 'bob_ro' }],
      [86_400, { ...base('skewed-db', A.bob, 'bob', 's30'), kind: 'closed', reason: 'client quit' }],
    ],
    (t) => published + t * 1000,
  );
}, 30_000);

afterAll(async () => {
  await nc.close();
  await server.dispose();
});

/** Everything one in-process run printed, and its exit code. */
const run = async (argv: readonly string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { env: {}, stdout: (t) => out.push(t), stderr: (t) => err.push(t), readStdin: () => Promise.resolve(''), stdinIsTerminal: false };
  const code = await AUDIT_STATEMENTS.run(argv, io);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
};
// The test server first, so that a test's own --nats or --prefix, coming later, is the one taken.
const audit = (argv: readonly string[]) => run(['--nats', server.url, '--prefix', PREFIX, ...argv]);

const jsonLines = (text: string): SqlAuditRecord[] => (text === '' ? [] : text.split('\n').map((l) => JSON.parse(l) as SqlAuditRecord));
const times = (records: readonly SqlAuditRecord[]): string[] => records.map((r) => r.at);
const ats = (seconds: readonly number[]): string[] => seconds.map(at);
/** The `at` of each record of a JSON run, after checking it succeeded quietly. */
const atsOf = async (argv: readonly string[]): Promise<string[]> => {
  const r = await audit([...argv, '--json']);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: ExitCode.OK, stderr: '' });
  return times(jsonLines(r.stdout));
};

const HEADER = ['AT', 'KIND', 'USER', 'ACCESSID', 'VIA', 'WHAT', 'ROWS', 'MS', 'ERROR'];
/** The table's cells: columns are padded and separated by two spaces or more, and no cell holds two spaces. */
const tableRows = (text: string): string[][] => {
  const [header, ...rows] = text.split('\n');
  expect(header?.split(/ {2,}/)).toEqual(HEADER);
  return rows.map((r) => r.split(/ {2,}/));
};



describe('keyward audit statements', () => {
  it("--instance: that instance's records only, oldest first by their time (the late one in its place), every field as published", async () => {
    const r = await audit(['--instance', 'orders-db', '--json']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: ExitCode.OK, stderr: '' });
    const records = jsonLines(r.stdout);
    expect(times(records)).toEqual(ats(ORDERS_ALL));
    const expected = [...SCRIPT, ...LATE].filter(([, input]) => input.instanceId === 'orders-db').map(([t, input]) => ({ id: expect.any(String) as unknown, at: at(t), ...input }));
    expect(records).toEqual([...expected].sort((a, b) => a.at.localeCompare(b.at)));
    expect(new Set(records.map((x) => x.id)).size).toBe(records.length);
    expect(await atsOf(['--instance', 'billing-db'])).toEqual(ats([5, 25, 45]));
    // An instance no proxy has recorded anything for: nothing, and no error.
    expect(await audit(['--instance', 'nothing-db', '--json'])).toEqual({ code: ExitCode.OK, stdout: '', stderr: '' });
  });

  it('the table: when, kind, user, AccessID, door, what, rows, time and error of each record', async () => {
    const r = await audit(['--instance', 'orders-db']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: ExitCode.OK, stderr: '' });
    expect(tableRows(r.stdout)).toEqual([
      [at(0), 'login', 'bob', A.bob, 'mysql', 'login accepted as bob_ro', '-', '-', '-'],
      [at(10), 'statement', 'bob', A.bob, 'mysql', QUOTED, '3', '2', '-'],
      [at(15), 'login', '-', A.unknown, 'mysql', 'login refused: unknown AccessID', '-', '-', '-'],
      [at(20), 'login', 'carol', A.carol, 'https', 'login accepted as carol_rw', '-', '-', '-'],
      [at(30), 'statement', 'carol', A.carol, 'https', "execute: UPDATE orders SET state = 'shipped' WHERE id = ?", '1', '5', '-'],
      [at(40), 'statement', 'bob', A.bob, 'mysql', "ALTER USER bob_ro IDENTIFIED BY '<redacted>'", '0', '1', `1227 ${DENIED.message}`],
      [at(50), 'closed', 'bob', A.bob, 'mysql', 'closed: client quit', '-', '-', '-'],
      [at(60), 'login', 'bob', A.bob2, 'mysql', 'login accepted as bob_ro', '-', '-', '-'],
      [at(65), 'statement', 'carol', A.carol, 'https', 'SELECT * FROM orders', '12', '7', '-'],
      [at(70), 'statement', 'bob', A.bob2, 'mysql', 'SELECT 1', '1', '0', '-'],
      [at(80), 'closed', 'carol', A.carol, 'https', 'closed: key revoked', '-', '-', '-'],
    ]);
    expect((await audit(['--instance', 'nothing-db'])).stdout.split('\n').slice(1)).toEqual(['(none)']);
  });

  it('--user, --access-id and --kind keep the records picked by hand, and combine', async () => {
    expect(await atsOf(['--instance', 'orders-db', '--user', 'bob'])).toEqual(ats([0, 10, 40, 50, 60, 70]));
    expect(await atsOf(['--instance', 'orders-db', '--user', 'carol'])).toEqual(ats([20, 30, 65, 80]));
    expect(await atsOf(['--instance', 'billing-db', '--user', 'carol'])).toEqual([]);
    expect(await atsOf(['--instance', 'orders-db', '--access-id', A.bob2])).toEqual(ats([60, 70]));
    expect(await atsOf(['--instance', 'orders-db', '--access-id', A.unknown])).toEqual(ats([15]));
    expect(await atsOf(['--instance', 'orders-db', '--kind', 'login'])).toEqual(ats([0, 15, 20, 60]));
    expect(await atsOf(['--instance', 'orders-db', '--kind', 'statement'])).toEqual(ats([10, 30, 40, 65, 70]));
    expect(await atsOf(['--instance', 'orders-db', '--kind', 'closed'])).toEqual(ats([50, 80]));
    expect(await atsOf(['--instance', 'orders-db', '--user', 'bob', '--kind', 'statement', '--access-id', A.bob])).toEqual(ats([10, 40]));
  });

  it('--from is inclusive and --to exclusive, on the time each record happened', async () => {
    expect(await atsOf(['--instance', 'orders-db', '--from', at(30)])).toEqual(ats([30, 40, 50, 60, 65, 70, 80]));
    expect(await atsOf(['--instance', 'orders-db', '--to', at(30)])).toEqual(ats([0, 10, 15, 20]));
    expect(await atsOf(['--instance', 'orders-db', '--from', at(20), '--to', at(65)])).toEqual(ats([20, 30, 40, 50, 60]));
    // The late record is found by its time, though it was stored after every other.
    expect(await atsOf(['--instance', 'orders-db', '--from', at(61), '--to', at(70)])).toEqual(ats([65]));
    expect(await atsOf(['--instance', 'orders-db', '--user', 'carol', '--from', at(21), '--kind', 'statement'])).toEqual(ats([30, 65]));
    // Seconds without milliseconds are the same instant.
    expect(await atsOf(['--instance', 'orders-db', '--from', at(60).replace('.000Z', 'Z')])).toEqual(ats([60, 65, 70, 80]));
    expect(await atsOf(['--instance', 'orders-db', '--from', at(81)])).toEqual([]);
  });

  it('--from starts the read at that time on the stream (less a margin for clocks): what was stored long before is not read', async () => {
    // What the command asked of the server, from the server's own audit of its API.
    const asked: { config: Record<string, unknown> }[] = [];
    const audits = nc.subscribe('$JS.EVENT.ADVISORY.API', {
      callback: (_e, m) => {
        const advisory = m.json<{ subject: string; request: string }>();
        if (advisory.subject.startsWith(`$JS.API.CONSUMER.CREATE.${SQL_AUDIT_STREAM}.`)) asked.push(JSON.parse(advisory.request) as { config: Record<string, unknown> });
      },
    });
    try {
      expect(await atsOf(['--instance', 'orders-db', '--from', at(30)])).toEqual(ats([30, 40, 50, 60, 65, 70, 80]));
      expect(await atsOf(['--instance', 'orders-db'])).toEqual(ats(ORDERS_ALL));
      for (let i = 0; i < 100 && asked.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    } finally {
      audits.unsubscribe();
    }
    const subject = sqlAuditSubject(PREFIX, 'orders-db');
    expect(asked.map((a) => a.config)).toMatchObject([
      { deliver_policy: 'by_start_time', opt_start_time: at(30 - 300), filter_subject: subject, ack_policy: 'none' },
      { deliver_policy: 'by_start_sequence', opt_start_seq: 1, filter_subject: subject, ack_policy: 'none' },
    ]);

    const day = (t: number) => new Date(published + t * 1000).toISOString();
    expect(await atsOf(['--instance', 'skewed-db'])).toEqual([day(120), day(86_400)]);
    // A proxy 2 minutes ahead: its records are still found from a --from after the time they were stored.
    expect(await atsOf(['--instance', 'skewed-db', '--from', day(60)])).toEqual([day(120), day(86_400)]);
    // A day ahead is past the margin: the read starts after the record was stored, so it is not
    // read at all although its own time is in range; and with nothing to read the command ends.
    expect(await atsOf(['--instance', 'skewed-db', '--from', day(86_400 - 3600)])).toEqual([]);
  });

  it('--csv: a header of field names and one row per record, the same fields as the JSON lines', async () => {
    const csv = await audit(['--instance', 'orders-db', '--csv']);
    expect({ code: csv.code, stderr: csv.stderr }).toEqual({ code: ExitCode.OK, stderr: '' });
    const [header, ...rows] = parseCsv(csv.stdout);
    expect(header).toEqual([
      'at', 'id', 'kind', 'instanceId', 'userId', 'accessId', 'via', 'client', 'nodeId', 'session',
      'ok', 'databaseUser', 'reason', 'command', 'statement', 'truncated', 'rows', 'durationMs', 'errorCode', 'errorMessage',
    ]);
    const json = jsonLines((await audit(['--instance', 'orders-db', '--json'])).stdout);
    const asText = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
    expect(rows).toEqual(
      json.map((r) => {
        const flat: Record<string, unknown> = { ...r, errorCode: r.kind === 'statement' ? r.error?.code : null, errorMessage: r.kind === 'statement' ? r.error?.message : null };
        return (header ?? []).map((f) => asText(flat[f]));
      }),
    );
    expect(rows).toHaveLength(ORDERS_ALL.length);
    // A comma and quotes, and line breaks, are quoted; the statement comes back whole.
    expect(csv.stdout).toContain(`,"SELECT id, note FROM orders WHERE note = 'a, ""quoted"" value'",`);
    expect(rows.find((row) => row[0] === at(30))?.[14]).toBe("UPDATE orders\nSET state = 'shipped'\nWHERE id = ?");
    // Nothing matched: the header alone.
    expect((await audit(['--instance', 'nothing-db', '--csv'])).stdout).toBe(`${(header ?? []).join(',')}\r\n`);
  });

  it("a statement that set a password was recorded blanked, and no format or filter prints the password", async () => {
    const runs = [];
    for (const format of [[], ['--json'], ['--csv']]) {
      for (const filter of [[], ['--user', 'bob'], ['--kind', 'statement'], ['--access-id', A.bob]]) {
        runs.push(await audit(['--instance', 'orders-db', ...filter, ...format]));
      }
    }
    for (const r of runs) {
      expect(r.code).toBe(ExitCode.OK);
      expect(r.stdout).toContain('<redacted>');
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
      expect(r.stdout + r.stderr).not.toContain('hunter2');
    }
  });

  it('records that are not SQL audit records of the instance are skipped and counted on stderr', async () => {
    const r = await audit(['--instance', 'legacy-db', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    expect(times(jsonLines(r.stdout))).toEqual(ats([0, 2, 3, 4]));
    expect(r.stderr).toBe(`keyward: skipped 4 records on ${sqlAuditSubject(PREFIX, 'legacy-db')} that are not SQL audit records of this instance`);
    const table = await audit(['--instance', 'legacy-db', '--kind', 'closed']);
    expect(tableRows(table.stdout)).toEqual([
      [at(3), 'closed', 'bob', A.bob, 'mysql', 'closed: client quit', '-', '-', '-'],
      [at(4), 'closed', '-', '-', 'mysql', 'closed: client quit', '-', '-', '-'],
    ]);
    expect(table.stderr).toContain('skipped 4 records');
  });

  it('ends at the last record stored when the read began, though proxies keep publishing', async () => {
    const busy = (n: number) => ({ ...base('busy-db', A.bob, 'bob', `s${n}`), kind: 'closed', reason: `session ${n}` }) as const;
    // Enough messages that the read takes a while after it has begun: a quiet proxy's records
    // each leave in a message of their own.
    const BEFORE = 3000;
    const quiet = sqlAuditLog(nc, PREFIX, () => Date.parse(at(0)));
    for (let n = 0; n < BEFORE; n++) {
      quiet.record(busy(n));
      quiet.flush();
    }
    await stored();
    // The read has begun once its consumer exists (it learns where to end before): from then on
    // proxies publish without pause, a thousand messages at once and then 20 a millisecond.
    let late = 0;
    let now = Date.parse(at(BEFORE));
    const log = sqlAuditLog(nc, PREFIX, () => now);
    let publisher: NodeJS.Timeout | undefined;
    const created = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.CREATED.${SQL_AUDIT_STREAM}.>`, {
      max: 1,
      callback: () => {
        const burst = (n: number): void => {
          for (let i = 0; i < n; i++) {
            now += 1000;
            log.record(busy(BEFORE + late++));
            log.flush();
          }
        };
        burst(1000);
        publisher = setInterval(() => { burst(20); }, 1);
      },
    });
    let r;
    try {
      r = await audit(['--instance', 'busy-db', '--json']);
    } finally {
      created.unsubscribe();
      clearInterval(publisher);
      log.flush();
    }
    expect(late).toBeGreaterThan(0);
    expect(r.code).toBe(ExitCode.OK);
    const reasons = jsonLines(r.stdout).map((x) => (x.kind === 'closed' ? x.reason : ''));
    expect(reasons).toEqual(Array.from({ length: BEFORE }, (_, n) => `session ${n}`));
    await stored();
  }, 30_000);

  it('refuses bad flags with the usage exit code, printing nothing on stdout', async () => {
    const bad = [
      [],
      ['--user', 'bob'],
      ['--instance', 'orders db'],
      ['--instance', 'orders-db', '--user', 'bob smith'],
      ['--instance', 'orders-db', '--access-id', 'AKshort'],
      ['--instance', 'orders-db', '--kind', 'query'],
      ['--instance', 'orders-db', '--from', 'yesterday'],
      ['--instance', 'orders-db', '--to', '2027-02-30T00:00:00Z'],
      ['--instance', 'orders-db', '--from', at(10), '--to', at(10)],
      ['--instance', 'orders-db', '--json', '--csv'],
      ['--instance', 'orders-db', '--since', at(0)],
      ['--instance', 'orders-db', 'extra'],
      ['--instance', 'orders-db', '--nats', 'http://127.0.0.1:4222'],
      ['--instance', 'orders-db', '--prefix', 'acme..keyward'],
    ];
    for (const argv of bad) {
      const r = await audit(argv);
      expect({ argv, code: r.code, stdout: r.stdout }).toEqual({ argv, code: ExitCode.USAGE, stdout: '' });
      expect(r.stderr).toContain('(see keyward audit statements --help)');
    }
    const json = await audit(['--instance', 'orders-db', '--json', '--kind', 'all']);
    expect(json.stdout).toBe('');
    expect(JSON.parse(json.stderr)).toMatchObject({ code: 'USAGE', message: expect.stringContaining('--kind must be one of login, statement, closed') as unknown });
  });

  it('a prefix no proxy publishes under is refused (exit 2), not shown as an empty history', async () => {
    const r = await audit(['--instance', 'orders-db', '--prefix', 'other']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: ExitCode.USAGE, stdout: '' });
    expect(r.stderr).toBe(`keyward: the stream KEYWARD_SQL_AUDIT at ${server.url} keeps no records under the prefix other (is --prefix right?)`);
  });

  it('a NATS server without the stream is refused (exit 2), and the stream is not created', async () => {
    const empty = await startNatsServer();
    try {
      const r = await run(['--instance', 'orders-db', '--nats', empty.url]);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: ExitCode.USAGE, stdout: '' });
      expect(r.stderr).toBe(`keyward: there is no stream KEYWARD_SQL_AUDIT at ${empty.url}: no MySQL proxy has published audit records there (is --nats right?)`);
      const other = await connect({ servers: empty.url });
      try {
        const names: string[] = [];
        for await (const name of (await other.jetstreamManager()).streams.names()) names.push(name);
        expect(names).toEqual([]);
      } finally {
        await other.close();
      }
    } finally {
      await empty.dispose();
    }
  }, 20_000);

  it('a server that goes away during the read is an error, with nothing printed that could pass for the whole list', async () => {
    const dying = await startNatsServer();
    const other = await connect({ servers: dying.url });
    try {
      await ensureSqlAuditStream(await other.jetstreamManager(), PREFIX);
      // One record a message, as an older proxy sent them: many messages make a read that lasts.
      const subject = sqlAuditSubject(PREFIX, 'orders-db');
      for (let n = 0; n < 30_000; n++) {
        const record: SqlAuditRecord = { id: `r${n}`, at: at(n), ...base('orders-db', A.bob, 'bob', `s${n}`), kind: 'closed', reason: 'client quit' };
        other.publish(subject, new TextEncoder().encode(JSON.stringify(record)));
      }
      await other.jetstream().publish(subject, new TextEncoder().encode(JSON.stringify({ id: 'last', at: at(30_000), ...base('orders-db', A.bob, 'bob', 's'), kind: 'closed', reason: 'client quit' })));
      // The server stops as soon as the read has begun.
      let stopping: Promise<void> | undefined;
      other.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.CREATED.${SQL_AUDIT_STREAM}.>`, { max: 1, callback: () => { stopping = dying.stop(); } });
      const r = await run(['--instance', 'orders-db', '--nats', dying.url, '--prefix', PREFIX]);
      await stopping;
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: ExitCode.UNAVAILABLE, stdout: '' });
      expect(r.stderr).toBe(`keyward: UNAVAILABLE: the connection to ${dying.url} ended before the last record was read`);
    } finally {
      await other.close();
      await dying.dispose();
    }
  }, 60_000);

  it('a NATS user that may read the stream but not make a consumer gets an error in seconds, not minutes of retries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keyward-audit-nats-'));
    const config = join(dir, 'nats.conf');
    // Who connects without credentials (the command, and the test server's readiness probe) is
    // the auditor; the setup here connects as admin. (nats.js ignores credentials in a URL.)
    const reader = { publish: { allow: ['$JS.API.INFO', '$JS.API.STREAM.INFO.>', '$JS.API.STREAM.MSG.GET.>'] }, subscribe: { allow: ['_INBOX.>'] } };
    await writeFile(config, `no_auth_user: auditor\nauthorization { users = [ { user: admin, password: admin-pw }, { user: auditor, password: auditor-pw, permissions: ${JSON.stringify(reader)} } ] }\n`);
    const guarded = await startNatsServer({ args: ['-c', config] });
    const admin = await connect({ servers: guarded.url, user: 'admin', pass: 'admin-pw' });
    try {
      await ensureSqlAuditStream(await admin.jetstreamManager(), PREFIX);
      const log = sqlAuditLog(admin, PREFIX);
      log.record({ ...base('orders-db', A.bob, 'bob', 's1'), kind: 'closed', reason: 'client quit' });
      log.flush();
      await admin.flush();
      const started = Date.now();
      const r = await run(['--instance', 'orders-db', '--nats', guarded.url, '--prefix', PREFIX]);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: ExitCode.UNAVAILABLE, stdout: '' });
      expect(r.stderr).toBe(`keyward: UNAVAILABLE: JetStream at ${guarded.url} sent no record for 10 s: nothing was printed`);
    } finally {
      await admin.close();
      await guarded.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('as a process: KEYWARD_NATS_URL and KEYWARD_PREFIX, JSON on stdout, and no NATS server a clear error without a stack trace', async () => {
    const ok = await runCli(['audit', 'statements', '--instance', 'billing-db', '--json'], { env: { KEYWARD_NATS_URL: server.url, KEYWARD_PREFIX: PREFIX } });
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: ExitCode.OK, stderr: '' });
    expect(times(jsonLines(ok.stdout.trimEnd()))).toEqual(ats([5, 25, 45]));

    const nowhere = `nats://127.0.0.1:${await freePort()}`;
    for (const json of [[], ['--json']]) {
      const r = await runCli(['audit', 'statements', '--instance', 'orders-db', '--nats', nowhere, ...json]);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: ExitCode.UNAVAILABLE, stdout: '' });
      const expected = `no NATS server answers at ${nowhere}`;
      if (json.length === 0) expect(r.stderr).toBe(`keyward: UNAVAILABLE: ${expected}\n`);
      else expect(JSON.parse(r.stderr)).toEqual({ code: 'UNAVAILABLE', message: expected, details: [] });
    }
  }, 30_000);

  it('is listed under Auditors and says which end of the range is inclusive', async () => {
    const help = await runCli(['audit', 'statements', '--help']);
    expect(help.code).toBe(ExitCode.OK);
    expect(help.stdout).toMatch(/--from T .*inclusive/);
    expect(help.stdout).toMatch(/--to T .*exclusive/);
    const all = await runCli(['--help']);
    expect(all.stdout).toMatch(/Auditors:[\s\S]*audit statements/);
  }, 30_000);
});
