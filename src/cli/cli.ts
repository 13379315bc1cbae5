// Dispatch: the longest run of leading words that names a command picks it; the rest are its
// flags. `keyward proxy` alone lists what follows `proxy`.
import { commandName, printFailure, type CliCommand } from './command.js';
import { COMMON_FLAGS } from './common.js';
import { EXIT_CODE_HELP, ExitCode } from './exit-codes.js';
import { flagHelp } from './flags.js';
import type { Io } from './io.js';

const isHelp = (arg: string): boolean => arg === '--help' || arg === '-h';

const startsWith = (argv: readonly string[], words: readonly string[]): boolean => words.every((w, i) => argv[i] === w);

const listing = (commands: readonly CliCommand[]): string => {
  const width = Math.max(...commands.map((c) => c.words.join(' ').length));
  const groups = [...new Set(commands.map((c) => c.group))];
  return groups
    .map((g) => [`${g}:`, ...commands.filter((c) => c.group === g).map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`)].join('\n'))
    .join('\n\n');
};

export const overallHelp = (commands: readonly CliCommand[]): string =>
  [
    'keyward: per-user AccessKey pairs for databases behind a secure access proxy',
    '',
    'Usage: keyward <command> [flags]      keyward <command> --help',
    '',
    listing(commands),
    '',
    'Common flags of every command but serve and proxy-node:',
    flagHelp(COMMON_FLAGS),
    '',
    EXIT_CODE_HELP,
  ].join('\n');

export const runCli = async (commands: readonly CliCommand[], argv: readonly string[], io: Io): Promise<number> => {
  const first = argv[0];
  if (first === undefined || isHelp(first) || (first === 'help' && argv.length === 1)) {
    (first === undefined ? io.stderr : io.stdout)(overallHelp(commands));
    return first === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  // `keyward help authorize` reads as `keyward authorize --help`.
  const words = first === 'help' ? argv.slice(1) : argv;
  const command = commands.filter((c) => startsWith(words, c.words)).sort((a, b) => b.words.length - a.words.length)[0];
  if (command === undefined) {
    const group = commands.filter((c) => c.words.length > 1 && c.words[0] === words[0]);
    if (group.length > 0) {
      const asked = first === 'help' || isHelp(words[1] ?? '');
      (asked ? io.stdout : io.stderr)(`Usage: ${commandName(words.slice(0, 1))} <${group.map((c) => c.words.slice(1).join('|')).join('|')}> [flags]\n\n${listing(group)}`);
      return asked ? ExitCode.OK : ExitCode.USAGE;
    }
    // Only a short, plain word is repeated back: a secret pasted in the wrong place is not.
    const shown = /^[a-z-]{1,32}$/.test(words[0] ?? '') ? ` '${words[0] ?? ''}'` : '';
    return printFailure(io, argv.includes('--json'), { code: 'USAGE', message: `no command${shown} (see keyward --help)`, details: [] });
  }
  const rest = words.slice(command.words.length);
  if (first === 'help' || rest.some(isHelp)) {
    io.stdout(command.help());
    return ExitCode.OK;
  }
  return command.run(rest, io);
};
