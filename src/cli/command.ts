// What an entry of the dispatch table is, and the builder that turns an API.md subject into
// one: parse flags, build the request, send it, print the result or the error, exit by code.
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../config.js';
import { failure, send, type Failure } from './client.js';
import { COMMON_FLAGS, commonFrom, type Common } from './common.js';
import { EXIT_CODE_HELP, ExitCode, exitCodeOf } from './exit-codes.js';
import { flagHelp, flagOfField, parseFlags, usageLine, UsageError, type Args, type Flag } from './flags.js';
import type { Io } from './io.js';

export interface CliCommand {
  /** The words that name it: `['proxy', 'enable']`. */
  readonly words: readonly string[];
  /** The heading it is listed under in `keyward --help`. */
  readonly group: string;
  readonly summary: string;
  help(): string;
  /** Gets the arguments after its words; resolves to the exit code. */
  run(argv: readonly string[], io: Io): Promise<number>;
}

export interface ApiCommandSpec {
  readonly words: readonly string[];
  readonly group: string;
  readonly summary: string;
  /** Who may, and anything else an operator should know before running it. */
  readonly notes?: string;
  /** `cmd.authorize`, `query.grants`: the subject after the prefix. */
  readonly subject: string;
  readonly flags: readonly Flag[];
  /** The fields of the request besides actor and commandId; throws UsageError. */
  build(args: Args, io: Io): Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Flags besides --command-id that a safe retry must repeat: ids the CLI made up in build. */
  retryFlags?(fields: Record<string, unknown>): string;
  /** The readable form of the API's result object. */
  render(result: Record<string, unknown>): string;
}

export const commandName = (words: readonly string[]): string => `keyward ${words.join(' ')}`;

export const printFailure = (io: Io, json: boolean, error: Failure, flags: readonly Flag[] = []): number => {
  if (json) {
    io.stderr(JSON.stringify(error));
  } else if (error.details.length > 0) {
    const lines = error.details.map((d) => {
      const flag = flagOfField(flags, d.path);
      return `  ${flag === undefined ? d.path : `--${flag.name} (${d.path})`}: ${d.message}`;
    });
    io.stderr(`keyward: ${error.code}: the request was refused\n${lines.join('\n')}`);
  } else {
    io.stderr(`keyward: ${error.code === 'USAGE' ? '' : `${error.code}: `}${error.message}`);
  }
  return exitCodeOf(error.code);
};

/**
 * What a long-running command's flags and environment give, or, when they are unusable, the
 * usage failure it printed (exit 2) naming every problem.
 */
export const settingsOr = <T>(io: Io, name: string, parse: () => T): { readonly settings: T } | { readonly exit: number } => {
  try {
    return { settings: parse() };
  } catch (e) {
    if (!(e instanceof UsageError) && !(e instanceof ConfigError)) throw e;
    const message = e instanceof ConfigError ? e.problems.join('; ') : e.message;
    return { exit: printFailure(io, false, { code: 'USAGE', message: `${message} (see ${name} --help)`, details: [] }) };
  }
};

export const apiCommand = (spec: ApiCommandSpec): CliCommand => {
  const flags = [...spec.flags, ...COMMON_FLAGS];
  const name = commandName(spec.words);
  const isCommand = spec.subject.startsWith('cmd.');
  return {
    words: spec.words,
    group: spec.group,
    summary: spec.summary,
    help: () =>
      [
        `${name}: ${spec.summary} (${spec.subject})`,
        '',
        `Usage: ${name} ${usageLine(spec.flags)} [common flags]`,
        ...(spec.notes === undefined ? [] : ['', spec.notes]),
        '',
        'Flags:',
        flagHelp(spec.flags),
        '',
        'Common flags:',
        flagHelp(COMMON_FLAGS),
        '',
        EXIT_CODE_HELP,
      ].join('\n'),
    run: async (argv, io) => {
      const json = argv.includes('--json');
      let common: Common;
      let fields: Record<string, unknown>;
      try {
        const args = parseFlags(flags, argv);
        common = commonFrom(args, io.env);
        fields = await spec.build(args, io);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        printFailure(io, json, { code: 'USAGE', message: `${e.message} (see ${name} --help)`, details: [] });
        return ExitCode.USAGE;
      }
      // A command always carries a commandId, so that after a timeout it can be sent again
      // without being done twice.
      const commandId = common.commandId ?? (isCommand ? `cli-${randomUUID()}` : undefined);
      const retryHint = isCommand ? `; it may have been recorded: run it again with --command-id ${commandId ?? ''}${spec.retryFlags?.(fields) ?? ''} to get its outcome without doing it twice` : '';
      const reply = await send(common, spec.subject, { ...(commandId === undefined ? {} : { commandId }), actor: common.actor, ...fields }, retryHint).catch((e: unknown) =>
        failure('INTERNAL', `the request failed: ${e instanceof Error ? e.name : 'unknown error'}`),
      );
      if (!reply.ok) return printFailure(io, common.json, reply.error, flags);
      io.stdout(common.json ? JSON.stringify(reply.result) : spec.render(reply.result));
      return ExitCode.OK;
    },
  };
};
