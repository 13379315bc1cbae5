// What the audit commands share: one command shape (parse, read the store, print), time
// flags, and the store's failures as the CLI's exit codes.
import { InstanceId, normalizeTimestamp, UserId, type Timestamp } from '../../../domain/index.js';
import { ConfigError } from '../../config.js';
import { StoreIncompatibleError, StoreUnavailableError } from '../../store/errors.js';
import { printFailure, type CliCommand } from '../command.js';
import { EXIT_CODE_HELP, ExitCode } from '../exit-codes.js';
import { flagHelp, parseFlags, usageLine, UsageError, type Args, type Flag } from '../flags.js';
import type { Io } from '../io.js';

/** An --instance or --user value, if given: the ids of API.md. */
export const idFlag = (args: Args, name: 'instance' | 'user'): string | undefined => {
  const id = args.text(name);
  if (id !== undefined && !(name === 'instance' ? InstanceId : UserId).is(id)) throw new UsageError(`--${name} must be 1–64 characters of A–Z, a–z, 0–9, _ or -`);
  return id;
};

export const requiredTimeOf = (value: string, name: string): Timestamp => {
  const t = normalizeTimestamp(value);
  if (t === null) throw new UsageError(`--${name} must be an RFC 3339 UTC time like 2027-03-01T09:00:00Z`);
  return t;
};

export const timeFlag = (value: string | undefined, name: string): Timestamp | undefined => (value === undefined ? undefined : requiredTimeOf(value, name));

/** A failure of reading the store, printed; undefined for anything else (a bug: rethrow it). */
export const auditFailure = (io: Io, json: boolean, e: unknown): number | undefined => {
  if (e instanceof ConfigError) return printFailure(io, json, { code: 'USAGE', message: e.problems.join('; '), details: [] });
  if (e instanceof StoreUnavailableError) return printFailure(io, json, { code: 'UNAVAILABLE', message: e.message, details: [] });
  if (e instanceof StoreIncompatibleError) return printFailure(io, json, { code: 'INTERNAL', message: e.message, details: [] });
  return undefined;
};

export const jsonFlag: Flag = { name: 'json', help: 'one JSON object per line (errors as JSON on stderr)' };
const helpFlag: Flag = { name: 'help', help: 'show this help' };

const STORE_NOTE = [
  'It reads the event store itself (KEYWARD_STORE, default sqlite:./data/keyward.db), not the',
  "service's views: it needs neither NATS nor the master key. Progress goes to stderr on a terminal only.",
];

/** One audit command: parse, read the store, print; the store's failures as exit codes. */
export const auditCommand = (spec: {
  readonly words: readonly string[];
  readonly summary: string;
  readonly flags: readonly Flag[];
  readonly about: readonly string[];
  answer(args: Args, io: Io, json: boolean): Promise<string | undefined>;
}): CliCommand => {
  const flags = [...spec.flags, jsonFlag, helpFlag];
  const name = `keyward ${spec.words.join(' ')}`;
  return {
    words: spec.words,
    group: 'Auditors',
    summary: spec.summary,
    help: () => [`${name}: ${spec.summary}`, '', `Usage: ${name} ${usageLine(flags.filter((f) => f !== helpFlag))}`, '', ...spec.about, '', ...STORE_NOTE, '', 'Flags:', flagHelp(flags), '', EXIT_CODE_HELP].join('\n'),
    run: async (argv, io) => {
      const json = argv.includes('--json');
      let args: Args;
      try {
        args = parseFlags(flags, argv);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        return printFailure(io, json, { code: 'USAGE', message: `${e.message} (see ${name} --help)`, details: [] });
      }
      try {
        const text = await spec.answer(args, io, json);
        if (text !== undefined) io.stdout(text);
        return ExitCode.OK;
      } catch (e) {
        if (e instanceof UsageError) return printFailure(io, json, { code: 'USAGE', message: `${e.message} (see ${name} --help)`, details: [] });
        const code = auditFailure(io, json, e);
        if (code === undefined) throw e;
        return code;
      }
    },
  };
};

