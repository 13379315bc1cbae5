// `keyward audit statements`: the logins, statements and closed sessions of an instance, as
// the MySQL proxies recorded them (src/mysql-proxy/audit-log.ts). These records live on
// JetStream, not in the event store, so unlike the other audit commands this one reads NATS.
import { connect, DeliverPolicy, ErrorCode, NatsError, type NatsConnection } from 'nats';
import { AccessId, normalizeTimestamp, type Timestamp } from '../../../domain/index.js';
import { natsServers, type NatsAuth } from '../../config.js';
import { recordsOf, SQL_AUDIT_STREAM, sqlAuditSubject, sqlAuditSubjects, type SqlAuditRecord } from '../../mysql-proxy/audit-log.js';
import { printFailure, type CliCommand } from '../command.js';
import { DEFAULT_NATS_URL, DEFAULT_PREFIX, DEFAULT_TIMEOUT_MS, natsTargetFrom, printableUrl } from '../common.js';
import { EXIT_CODE_HELP, ExitCode } from '../exit-codes.js';
import { flagHelp, parseFlags, usageLine, UsageError, type Args, type Flag } from '../flags.js';
import { clip, show, table } from '../format.js';
import type { Io } from '../io.js';
import { progress } from '../progress.js';
import { idFlag, jsonFlag, timeFlag } from './audit-inputs.js';
import { csvField } from './audit-timeline.js';

const NAME = 'keyward audit statements';
const KINDS = ['login', 'statement', 'closed'] as const;

const FLAGS: readonly Flag[] = [
  { name: 'instance', value: 'ID', required: true, help: 'the instance whose records are read' },
  { name: 'user', value: 'ID', help: 'only records of this user' },
  { name: 'access-id', value: 'A', help: 'only records of this AccessID' },
  { name: 'kind', value: 'K', help: `only records of this kind: ${KINDS.join(', ')}` },
  { name: 'from', value: 'T', help: 'only records at or after T (RFC 3339 UTC, like 2027-03-01T09:00:00Z): inclusive' },
  { name: 'to', value: 'T', help: 'only records before T: exclusive, so --to of one range is --from of the next' },
  { name: 'csv', help: 'CSV (RFC 4180): a header line, then one row per record (--json: the records as published, one per line)' },
  jsonFlag,
  { name: 'nats', value: 'URL', help: `the NATS server (or KEYWARD_NATS_URL; default ${DEFAULT_NATS_URL})` },
  { name: 'prefix', value: 'P', help: `the subject prefix the proxies publish under (or KEYWARD_PREFIX; default ${DEFAULT_PREFIX})` },
  { name: 'help', help: 'show this help' },
];

interface Options {
  readonly instanceId: string;
  readonly userId: string | undefined;
  readonly accessId: string | undefined;
  readonly kind: SqlAuditRecord['kind'] | undefined;
  readonly from: Timestamp | undefined;
  readonly to: Timestamp | undefined;
  readonly format: 'table' | 'json' | 'csv';
  readonly natsUrl: string;
  readonly natsAuth: NatsAuth;
  readonly prefix: string;
}

const optionsFrom = (args: Args, env: NodeJS.ProcessEnv): Options => {
  const instanceId = idFlag(args, 'instance');
  if (instanceId === undefined) throw new UsageError('--instance is required');
  const accessId = args.text('access-id');
  if (accessId !== undefined && !AccessId.is(accessId)) throw new UsageError('--access-id must be 24 characters of A–Z, a–z or 0–9');
  const from = timeFlag(args.text('from'), 'from');
  const to = timeFlag(args.text('to'), 'to');
  if (from !== undefined && to !== undefined && to <= from) throw new UsageError('--to must be later than --from');
  if (args.switch('json') && args.switch('csv')) throw new UsageError('give --json or --csv, not both');
  return {
    ...natsTargetFrom(args, env),
    instanceId,
    userId: idFlag(args, 'user'),
    accessId,
    kind: args.choice('kind', KINDS),
    from,
    to,
    format: args.switch('json') ? 'json' : args.switch('csv') ? 'csv' : 'table',
  };
};

/** A failure the command explains itself, with the code it exits by. */
class ReadFailure extends Error {
  constructor(
    readonly code: 'USAGE' | 'UNAVAILABLE',
    message: string,
  ) {
    super(message);
  }
}

// A record is checked for what this command reads of it; a field it does not read (a newer
// proxy's) is no reason to skip it.
const isRecord = (u: unknown, instanceId: string): u is SqlAuditRecord => {
  if (typeof u !== 'object' || u === null) return false;
  const r = u as Record<string, unknown>;
  const text = (k: string): boolean => typeof r[k] === 'string';
  // `at` in Date#toISOString's form only: --from and --to compare it as a string.
  const common =
    ['id', 'accessId', 'nodeId', 'session', 'client'].every(text) &&
    typeof r.at === 'string' &&
    normalizeTimestamp(r.at) === r.at &&
    r.instanceId === instanceId &&
    (r.userId === null || text('userId')) &&
    (r.via === 'mysql' || r.via === 'https');
  if (!common) return false;
  switch (r.kind) {
    case 'login':
      return r.ok === true ? text('databaseUser') : r.ok === false && text('reason');
    case 'statement': {
      const error = r.error as Record<string, unknown> | null | undefined;
      const errorOk = error === null || (typeof error === 'object' && typeof error.code === 'number' && typeof error.message === 'string');
      return text('command') && text('statement') && typeof r.truncated === 'boolean' && typeof r.rows === 'number' && typeof r.durationMs === 'number' && errorOk;
    }
    case 'closed':
      return text('reason');
    default:
      return false;
  }
};

const wanted = (r: SqlAuditRecord, o: Options): boolean =>
  (o.userId === undefined || r.userId === o.userId) &&
  (o.accessId === undefined || r.accessId === o.accessId) &&
  (o.kind === undefined || r.kind === o.kind) &&
  (o.from === undefined || r.at >= o.from) &&
  (o.to === undefined || r.at < o.to);

// The consumer starts by the time the server stored a record, --from compares the proxy's
// `at`. A record is stored at or after its `at` (one published while NATS was away is sent
// on reconnection), unless the proxy's clock runs ahead of the server's: this covers that.
const CLOCK_MARGIN_MS = 5 * 60_000;
const NOT_FOUND_STREAM = 10059;
const NOT_FOUND_MESSAGE = 10037;
const apiError = (e: unknown): number | undefined => (e instanceof NatsError ? e.api_error?.err_code : undefined);

interface Read {
  readonly records: SqlAuditRecord[];
  readonly skipped: number;
}

/** The instance's records from --from up to the last one stored when the read began. */
const readFrom = async (nc: NatsConnection, o: Options, where: string, alive: () => void): Promise<Read> => {
  const jsm = await nc.jetstreamManager({ timeout: DEFAULT_TIMEOUT_MS });
  const info = await jsm.streams.info(SQL_AUDIT_STREAM).catch((e: unknown) => {
    if (apiError(e) === NOT_FOUND_STREAM) return undefined;
    throw e;
  });
  if (info === undefined) throw new ReadFailure('USAGE', `there is no stream ${SQL_AUDIT_STREAM} at ${where}: no MySQL proxy has published audit records there (is --nats right?)`);
  // The stream exists, but a proxy with this prefix never started on it: a wrong --prefix, not an empty history.
  if (!info.config.subjects.includes(sqlAuditSubjects(o.prefix))) {
    throw new ReadFailure('USAGE', `the stream ${SQL_AUDIT_STREAM} at ${where} keeps no records under the prefix ${o.prefix} (is --prefix right?)`);
  }
  const subject = sqlAuditSubject(o.prefix, o.instanceId);
  // Where the read ends: proxies keep publishing while it runs, and it must not follow them.
  const last = await jsm.streams.getMessage(SQL_AUDIT_STREAM, { last_by_subj: subject }).catch((e: unknown) => {
    if (apiError(e) === NOT_FOUND_MESSAGE) return undefined;
    throw e;
  });
  const startTime = o.from === undefined ? undefined : new Date(Date.parse(o.from) - CLOCK_MARGIN_MS);
  // Nothing stored since the start time: a consumer would wait for the next record to come.
  if (last === undefined || (startTime !== undefined && last.time < startTime)) return { records: [], skipped: 0 };

  const start = startTime === undefined ? {} : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: startTime.toISOString() };
  const consumer = await nc.jetstream().consumers.get(SQL_AUDIT_STREAM, { filterSubjects: subject, ...start });
  const messages = await consumer.consume({ max_messages: 512 });
  // The client does not end the iteration when the connection closes: this does.
  void nc.closed().then(() => { messages.stop(); });
  const records: SqlAuditRecord[] = [];
  let skipped = 0;
  let read = 0;
  let complete = false;
  const shown = progress('reading records');
  try {
    for await (const m of messages) {
      if (m.seq > last.seq) {
        complete = true;
        break;
      }
      for (const record of recordsOf(m.data)) {
        if (!isRecord(record, o.instanceId)) skipped++;
        else if (wanted(record, o)) records.push(record);
      }
      shown.update(++read);
      alive();
      // No pending message left also ends it, should the last one have been removed meanwhile.
      if (m.seq === last.seq || m.info.pending === 0) {
        complete = true;
        break;
      }
    }
  } finally {
    shown.finish();
    messages.stop();
    await consumer.delete().catch(() => false);
  }
  if (!complete) throw new ReadFailure('UNAVAILABLE', `the read from ${where} ended before the last record`);
  // Stream order is arrival order; a record sent late after a NATS outage, or from a node
  // whose clock differs, still goes where its time puts it. The sort is stable.
  records.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return { records, skipped };
};

const STALL_MS = 2 * DEFAULT_TIMEOUT_MS;
const CONNECT_REFUSED: readonly string[] = [ErrorCode.ConnectionRefused, ErrorCode.ConnectionTimeout, ErrorCode.Timeout];

const readRecords = async (o: Options): Promise<Read> => {
  const where = printableUrl(o.natsUrl);
  let nc: NatsConnection;
  try {
    nc = await connect({ ...o.natsAuth, servers: natsServers(o.natsUrl), name: 'keyward-cli', timeout: DEFAULT_TIMEOUT_MS, reconnect: false });
  } catch (e) {
    const code = e instanceof NatsError ? e.code : undefined;
    const refused = code === undefined || CONNECT_REFUSED.includes(code);
    throw new ReadFailure('UNAVAILABLE', refused ? `no NATS server answers at ${where}` : `the NATS server at ${where} refused the connection (${code})`);
  }
  // The client retries a consumer it could not create for minutes (no permission, JetStream
  // not answering) and keeps waiting on a connection that closed: the read fails instead as
  // soon as the connection closes, and closes it when no record has come for a while.
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const alive = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      void nc.close();
    }, STALL_MS);
  };
  const lost = nc.closed().then(() => {
    throw new ReadFailure('UNAVAILABLE', stalled ? `JetStream at ${where} sent no record for ${STALL_MS / 1000} s: nothing was printed` : `the connection to ${where} ended before the last record was read`);
  });
  try {
    alive();
    return await Promise.race([readFrom(nc, o, where, alive), lost]);
  } catch (e) {
    if (!(e instanceof NatsError)) throw e;
    // 503: no JetStream behind this server (or not in this account).
    const what = e.code === '503' ? 'JetStream does not answer' : `JetStream failed the read (${e.code})`;
    throw new ReadFailure('UNAVAILABLE', `${what} at ${where}: nothing was printed`);
  } finally {
    clearTimeout(timer);
    await nc.close();
  }
};

const CSV_FIELDS = [
  'at', 'id', 'kind', 'instanceId', 'userId', 'accessId', 'via', 'client', 'nodeId', 'session',
  'ok', 'databaseUser', 'reason', 'command', 'statement', 'truncated', 'rows', 'durationMs', 'errorCode', 'errorMessage',
] as const;

// Every kind's fields in one flat row; the error object becomes two columns.
const csvRow = (r: SqlAuditRecord): string[] => {
  const flat: Record<string, unknown> = { ...r, errorCode: r.kind === 'statement' ? r.error?.code : undefined, errorMessage: r.kind === 'statement' ? r.error?.message : undefined };
  return CSV_FIELDS.map((f) => {
    const v = flat[f];
    return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  });
};


const TABLE_STATEMENT_CHARS = 100;

const what = (r: SqlAuditRecord): string => {
  switch (r.kind) {
    case 'login':
      return r.ok ? `login accepted as ${r.databaseUser}` : `login refused: ${r.reason}`;
    case 'statement':
      return r.command === 'query' ? r.statement : `${r.command}: ${r.statement}`;
    case 'closed':
      return `closed: ${r.reason}`;
  }
};

const tableRow = (r: SqlAuditRecord): string[] => {
  const statement = r.kind === 'statement' ? r : undefined;
  const error = statement?.error;
  return [
    r.at,
    r.kind,
    show(r.userId),
    // What a MySQL client sent as its user name, before it was known to be an AccessID.
    show(r.accessId),
    r.via,
    clip(show(what(r)), TABLE_STATEMENT_CHARS),
    show(statement?.rows),
    show(statement?.durationMs),
    error === null || error === undefined ? show(null) : show(`${error.code} ${error.message}`),
  ];
};

const render = (records: readonly SqlAuditRecord[], format: Options['format']): string | undefined => {
  switch (format) {
    case 'json':
      return records.length === 0 ? undefined : records.map((r) => JSON.stringify(r)).join('\n');
    case 'csv':
      return [[...CSV_FIELDS], ...records.map(csvRow)].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
    case 'table':
      return table(['AT', 'KIND', 'USER', 'ACCESSID', 'VIA', 'WHAT', 'ROWS', 'MS', 'ERROR'], records.map(tableRow));
  }
};

const help = (): string =>
  [
    `${NAME}: the logins, statements and closed sessions of an instance through the MySQL proxies, oldest first`,
    '',
    `Usage: ${NAME} ${usageLine(FLAGS.filter((f) => f.name !== 'help'))}`,
    '',
    `It reads the records the proxies publish to JetStream (stream ${SQL_AUDIT_STREAM}, subject`,
    '<prefix>.audit.sql.<instance>), not the event store, from the first record at or after --from up to',
    'the last one stored when the read began: records published meanwhile are left for the next read.',
    'A row says when, what (login accepted or refused, the statement, or why the session closed), who,',
    'with which AccessID, through which door (mysql or https), the rows returned or affected, the time',
    `taken and the database's error. The table shows a statement's first ${TABLE_STATEMENT_CHARS} characters; --json and`,
    `--csv show it as recorded (its first 1,000; a statement that sets a password with its literals blanked).`,
    'Records that cannot be read are skipped and counted on stderr. A NATS server without the stream',
    'is refused (exit 2): it is the wrong server, not an empty history. Progress goes to stderr on a terminal only.',
    '',
    'Flags:',
    flagHelp(FLAGS),
    '',
    EXIT_CODE_HELP,
  ].join('\n');

const run = async (argv: readonly string[], io: Io): Promise<number> => {
  const json = argv.includes('--json');
  let options: Options;
  try {
    const args = parseFlags(FLAGS, argv);
    if (args.switch('help')) {
      io.stdout(help());
      return ExitCode.OK;
    }
    options = optionsFrom(args, io.env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return printFailure(io, json, { code: 'USAGE', message: `${e.message} (see ${NAME} --help)`, details: [] });
  }
  let read: Read;
  try {
    // Everything is read before anything is printed: a read that fails halfway prints no
    // partial list that could pass for a whole one.
    read = await readRecords(options);
  } catch (e) {
    if (!(e instanceof ReadFailure)) throw e;
    return printFailure(io, json, { code: e.code, message: e.message, details: [] });
  }
  if (read.skipped > 0) io.stderr(`keyward: skipped ${read.skipped} record${read.skipped === 1 ? '' : 's'} on ${sqlAuditSubject(options.prefix, options.instanceId)} that are not SQL audit records of this instance`);
  const text = render(read.records, options.format);
  if (text !== undefined) io.stdout(text);
  return ExitCode.OK;
};

export const AUDIT_STATEMENTS: CliCommand = {
  words: ['audit', 'statements'],
  group: 'Auditors',
  summary: "an instance's logins, statements and closed sessions through the MySQL proxies, from JetStream",
  help,
  run,
};
