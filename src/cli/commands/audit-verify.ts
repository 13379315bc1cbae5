// `keyward audit verify`: checks the recorded history itself (every stream's hash chain and
// revisions, src/audit/verify.ts), reading the event store directly rather than asking the
// service. It prints event coordinates and plain words only, never event data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VerifyReport } from '../../audit/verify.js';
import { auditedStoreSettings } from '../../audit/store.js';
import { ConfigError, describeStore, type StoreSettings } from '../../config.js';
import { StoreIncompatibleError, StoreUnavailableError } from '../../store/errors.js';
import type { EventStore } from '../../store/types.js';
import { printFailure, type CliCommand } from '../command.js';
import { EXIT_CODE_HELP, ExitCode } from '../exit-codes.js';
import { flagHelp, parseFlags, UsageError, type Flag } from '../flags.js';
import { show, table } from '../format.js';
import type { Io } from '../io.js';
import { progress } from '../progress.js';

const NAME = 'keyward audit verify';

const FLAGS: readonly Flag[] = [
  { name: 'json', help: 'print the report as one JSON object: {intact, streams, events, breaks: [...]}' },
  { name: 'help', help: 'show this help' },
];

const LIMITS = 'A hash chain cannot show the last events of a stream removed (nothing after them refers to them), a change to a stream\'s last event, or a history rewritten with every later hash recomputed.';

/**
 * A copy of an embedded store, taken in one read transaction: opening a store migrates its
 * schema and switches it to WAL, and an audit must not write to the file it audits. The copy
 * holds sealed secrets, so it lives in a folder only this user can read, removed afterwards.
 */
const copyOf = async (path: string): Promise<{ readonly path: string; readonly remove: () => void }> => {
  const [{ default: Database }, { APPLICATION_ID }] = await Promise.all([import('better-sqlite3'), import('../../store/sqlite/schema.js')]);
  const dir = mkdtempSync(join(tmpdir(), 'keyward-verify-'));
  const remove = (): void => { rmSync(dir, { recursive: true, force: true }); };
  const copy = join(dir, 'keyward.db');
  let source;
  try {
    source = new Database(path, { readonly: true, fileMustExist: true });
    // Checked here, before the copy: an empty or foreign file would otherwise become a new, empty store.
    if (source.pragma('application_id', { simple: true }) !== APPLICATION_ID) throw new StoreIncompatibleError(`${path} is not a keyward event store`);
    source.prepare('VACUUM INTO ?').run(copy);
    return { path: copy, remove };
  } catch (e) {
    remove();
    if (e instanceof StoreIncompatibleError) throw e;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'))) throw new StoreIncompatibleError(`${path} is not a usable SQLite file (${code})`);
    throw new StoreUnavailableError(`the event store at ${path} cannot be read now (${typeof code === 'string' ? code : e instanceof Error ? e.name : 'unknown error'})`);
  } finally {
    source?.close();
  }
};

const verify = async (settings: StoreSettings, onProgress: (done: number) => void): Promise<VerifyReport> => {
  const [{ openStore }, { verifyHistory }] = await Promise.all([import('../../store/open.js'), import('../../audit/verify.js')]);
  const verified = async (store: EventStore): Promise<VerifyReport> => {
    try {
      return await verifyHistory(store, { onProgress });
    } finally {
      await store.close();
    }
  };
  // EventStoreDB is only read: nothing there is written by opening it.
  if (settings.kind !== 'sqlite') return verified(openStore(settings));
  const copy = await copyOf(settings.path);
  try {
    return await verified(openStore({ ...settings, path: copy.path }));
  } finally {
    copy.remove();
  }
};

const render = (report: VerifyReport, store: string): string => {
  const totals = `${report.streams} streams, ${report.events} events`;
  if (report.intact) return [`intact: every stream's hash chain and revisions hold (${totals} in ${store})`, '', LIMITS].join('\n');
  const rows = report.breaks.map((b) => [show(b.streamId), String(b.revision), show(b.position), show(b.type), b.kind, show(b.reason)]);
  return [
    `BROKEN: ${report.breaks.length} of ${report.streams} streams have a break (${report.events} events in ${store}); the first break of each:`,
    '',
    table(['stream', 'revision', 'position', 'type', 'kind', 'reason'], rows),
    '',
    LIMITS,
  ].join('\n');
};

const help = (): string =>
  [
    `${NAME}: check that the recorded history was not edited, cut or reordered`,
    '',
    `Usage: ${NAME} [--json]`,
    '',
    'Reads the event store itself (KEYWARD_STORE, default sqlite:./data/keyward.db; an embedded store',
    'is read from a copy, so the file is never written) and checks every stream: revisions 0, 1, 2 …',
    'with no gap or repeat, well-formed metadata, and each prevHash the SHA-256 of the previous event.',
    'It reports the first break of each stream (edited, removed, reordered, repeated or malformed)',
    'with its stream, revision, position and event type, never event data. No NATS server is needed.',
    LIMITS,
    '',
    'Flags:',
    flagHelp(FLAGS),
    '',
    EXIT_CODE_HELP,
  ].join('\n');

const run = async (argv: readonly string[], io: Io): Promise<number> => {
  const json = argv.includes('--json');
  let settings: StoreSettings;
  try {
    const args = parseFlags(FLAGS, argv);
    if (args.switch('help')) {
      io.stdout(help());
      return ExitCode.OK;
    }
    settings = auditedStoreSettings(io.env);
  } catch (e) {
    if (!(e instanceof UsageError || e instanceof ConfigError)) throw e;
    const message = e instanceof ConfigError ? e.problems.join('; ') : e.message;
    return printFailure(io, json, { code: 'USAGE', message: `${message} (see ${NAME} --help)`, details: [] });
  }

  let done = 0;
  const shown = progress('verifying');
  let report: VerifyReport;
  try {
    report = await verify(settings, (n) => {
      done = n;
      shown.update(n);
    });
  } catch (e) {
    if (e instanceof StoreUnavailableError) return printFailure(io, json, { code: 'UNAVAILABLE', message: e.message, details: [] });
    // Only our own errors' messages are shown: another error's (a row that is not JSON) may quote the row.
    const why = e instanceof StoreIncompatibleError ? e.message : `the store could not be read past event ${done + 1} (${e instanceof Error ? e.name : 'unknown error'})`;
    return printFailure(io, json, { code: 'FAILED', message: `${why}: the history was not verified`, details: [] });
  } finally {
    shown.finish();
  }
  io.stdout(json ? JSON.stringify(report) : render(report, describeStore(settings)));
  return report.intact ? ExitCode.OK : ExitCode.HISTORY_BROKEN;
};

export const AUDIT_VERIFY: CliCommand = {
  words: ['audit', 'verify'],
  group: 'Auditors',
  summary: 'check every stream of the recorded history: hash chain, revisions, metadata',
  help,
  run,
};
