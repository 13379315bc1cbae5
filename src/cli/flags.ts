// Flags as data: one list per command gives the parser, the help text, and the way a field the
// service refuses is traced back to the flag that set it.
import { parseArgs } from 'node:util';

export interface Flag {
  readonly name: string;
  /** The placeholder of its value in help (`ID`); absent for a switch. */
  readonly value?: string;
  readonly required?: boolean;
  readonly multiple?: boolean;
  /** The request field it sets, as API.md's error details name it (`policy.intervalSeconds`). */
  readonly field?: string;
  readonly help: string;
}

/** A command line refused before anything is sent: exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface Args {
  text(name: string): string | undefined;
  required(name: string): string;
  integer(name: string): number | undefined;
  choice<C extends string>(name: string, choices: readonly C[]): C | undefined;
  switch(name: string): boolean;
  list(name: string): readonly string[];
}

// parseArgs's messages quote what was typed, which may be a password given by mistake in the
// wrong place: ours name the flag only.
const usageFrom = (e: unknown): UsageError => {
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : '';
  const flag = /'(--?[A-Za-z0-9-]+)/.exec(message)?.[1] ?? 'a flag';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown flag ${flag}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError('unexpected argument: every value follows its flag, like --instance orders-db');
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(message.includes('does not take') ? `${flag} takes no value` : `${flag} needs a value (one that starts with - goes as ${flag}=-…)`);
    default:
      return new UsageError('cannot read the flags');
  }
};

export const parseFlags = (flags: readonly Flag[], argv: readonly string[]): Args => {
  const options = Object.fromEntries(flags.map((f) => [f.name, { type: f.value === undefined ? ('boolean' as const) : ('string' as const), multiple: f.multiple ?? false }]));
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw usageFrom(e);
  }
  for (const f of flags) if (f.required === true && values[f.name] === undefined) throw new UsageError(`--${f.name} is required`);

  const text = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    text,
    required: (name) => {
      const v = text(name);
      if (v === undefined) throw new UsageError(`--${name} is required`);
      return v;
    },
    integer: (name) => {
      const v = text(name);
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n)) throw new UsageError(`--${name} must be a whole number`);
      return n;
    },
    choice: <C extends string>(name: string, choices: readonly C[]) => {
      const v = text(name);
      if (v === undefined) return undefined;
      if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}`);
      return v as C;
    },
    switch: (name) => values[name] === true,
    list: (name) => {
      const v = values[name];
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
    },
  };
};

/** The flag that set a request field, for error details (`endpoints.0.port` → --endpoint). */
export const flagOfField = (flags: readonly Flag[], path: string): Flag | undefined =>
  flags
    .filter((f) => f.field !== undefined && (path === f.field || path.startsWith(`${f.field}.`)))
    .sort((a, b) => (b.field?.length ?? 0) - (a.field?.length ?? 0))[0];

const placeholder = (f: Flag): string => (f.value === undefined ? `--${f.name}` : `--${f.name} ${f.value}`);

export const usageLine = (flags: readonly Flag[]): string =>
  flags.map((f) => (f.required === true ? placeholder(f) : `[${placeholder(f)}${f.multiple === true ? ' ...' : ''}]`)).join(' ');

export const flagHelp = (flags: readonly Flag[]): string => {
  const width = Math.max(...flags.map((f) => placeholder(f).length));
  return flags.map((f) => `  ${placeholder(f).padEnd(width)}  ${f.help}`).join('\n');
};
