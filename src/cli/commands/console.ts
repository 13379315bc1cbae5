// `keyward console`: the console in a process of its own (npm start also runs one), and
// `keyward console add-user`, which writes a local account to the accounts file.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from 'nats';
import { auditedStoreSettings } from '../../audit/store.js';
import { ConfigError, DEFAULT_SQLITE_PATH, loadConsoleSettings, natsServers } from '../../config.js';
import { hashPassword, isUserId, ROLES, writeAccount, type Role } from '../../console/accounts.js';
import { startConsole } from '../../console/server.js';
import { createLogger } from '../../log.js';
import { untilStopped } from '../../stopped.js';
import { openStore } from '../../store/open.js';
import type { EventStore } from '../../store/types.js';
import { printFailure, settingsOr, type CliCommand } from '../command.js';
import { natsTargetFrom } from '../common.js';
import { ExitCode } from '../exit-codes.js';
import { flagHelp, parseFlags, UsageError, type Flag } from '../flags.js';
import type { Io } from '../io.js';

const MIN_PASSWORD = 12;

const SERVE_FLAGS: readonly Flag[] = [{ name: 'help', help: 'show this help' }];

const serve = async (argv: readonly string[], io: Io): Promise<number> => {
  const env = io.env;
  const parsed = settingsOr(io, 'keyward console', () => {
    parseFlags(SERVE_FLAGS, argv);
    const loaded = loadConsoleSettings(env, dirname(DEFAULT_SQLITE_PATH), '127.0.0.1:9480');
    if (loaded.problems.length > 0) throw new UsageError(loaded.problems.join('; '));
    if (loaded.settings === null) throw new UsageError('KEYWARD_CONSOLE is off: give the console HOST:PORT');
    return { ...natsTargetFrom(undefined, env), console: loaded.settings };
  });
  if ('exit' in parsed) return parsed.exit;
  const settings = parsed.settings;
  const log = createLogger({ level: env.KEYWARD_LOG_LEVEL ?? 'info', destination: process.stderr });
  // History reads the event store: without one here the console still does everything else.
  let store: EventStore | undefined;
  try {
    store = openStore(auditedStoreSettings(env));
  } catch (e) {
    log.warn({ err: e instanceof ConfigError ? e.problems.join('; ') : String(e) }, 'console: no event store, so no history pages');
  }
  const stopped = untilStopped();
  const nc = await connect({ ...settings.natsAuth, servers: natsServers(settings.natsUrl), name: 'keyward-console', maxReconnectAttempts: -1, reconnectTimeWait: 500 }).catch(() => undefined);
  if (nc === undefined) {
    log.error({ nats: settings.natsUrl }, 'console: no NATS server answers');
    await store?.close();
    return ExitCode.UNAVAILABLE;
  }
  const running = await startConsole({ nc, prefix: settings.prefix, listen: settings.console, accountsFile: settings.console.accountsFile, trustedHeaders: settings.console.trustedHeaders, store, log }).catch((e: unknown) => e as Error);
  if (running instanceof Error) {
    log.error({ err: running.message }, 'console: could not start');
    await nc.close();
    await store?.close();
    return ExitCode.FAILED;
  }
  io.stdout(`console ready http://${settings.console.host}:${running.port}`);
  await stopped;
  await running.close();
  await nc.drain();
  await store?.close();
  return ExitCode.OK;
};

const ADD_FLAGS: readonly Flag[] = [
  { name: 'user', value: 'ID', help: 'the user id (the actor of what they do in the console)' },
  { name: 'role', value: 'ROLE', help: `one of ${ROLES.join(', ')}` },
  { name: 'file', value: 'F', help: 'the accounts file (or KEYWARD_CONSOLE_USERS; default ./data/console-users.json)' },
  { name: 'help', help: 'show this help' },
];

const firstLine = (): Promise<string> =>
  new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    let done = false;
    lines.once('line', (line) => {
      done = true;
      lines.close();
      resolve(line);
    });
    lines.once('close', () => {
      if (!done) resolve('');
    });
  });

const addUser = async (argv: readonly string[], io: Io): Promise<number> => {
  const parsed = settingsOr(io, 'keyward console add-user', () => {
    const args = parseFlags(ADD_FLAGS, argv);
    const user = args.text('user') ?? '';
    if (!isUserId(user)) throw new UsageError('--user must be 1–64 characters of A–Z, a–z, 0–9, _ or -');
    const role = args.text('role') ?? '';
    if (!ROLES.includes(role as Role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
    const file = args.text('file') ?? io.env.KEYWARD_CONSOLE_USERS ?? loadConsoleSettings({ ...io.env, KEYWARD_CONSOLE: '0' }, dirname(DEFAULT_SQLITE_PATH)).settings?.accountsFile ?? '';
    return { user, role: role as Role, file };
  });
  if ('exit' in parsed) return parsed.exit;
  const { user, role, file } = parsed.settings;
  // From stdin, never a flag: a flag would stay in the shell's history and the process list.
  const password = await firstLine();
  if (password.length < MIN_PASSWORD) return printFailure(io, false, { code: 'USAGE', message: `give the password on stdin, at least ${MIN_PASSWORD} characters`, details: [] });
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeAccount(file, { userId: user, role, passwordHash: await hashPassword(password) });
  } catch (e) {
    // A malformed accounts file is named and left as it is; nothing of the password is said.
    return printFailure(io, false, { code: 'USAGE', message: e instanceof Error && 'code' in e ? `cannot write ${file} (${String((e as NodeJS.ErrnoException).code)})` : e instanceof Error ? e.message : String(e), details: [] });
  }
  io.stdout(`${user} (${role}) can sign in to the console (${file})`);
  return ExitCode.OK;
};

export const CONSOLE_COMMANDS: readonly CliCommand[] = [
  {
    words: ['console'],
    group: 'Console',
    summary: 'run the console (web pages for the whole workflow) until SIGTERM or SIGINT',
    help: () =>
      [
        'keyward console: run the console in a process of its own (npm start runs one too)',
        '',
        'Usage: keyward console',
        '',
        'Settings from the environment: KEYWARD_CONSOLE (HOST:PORT, default 127.0.0.1:9480),',
        'KEYWARD_CONSOLE_USERS (the accounts file), KEYWARD_CONSOLE_TRUSTED_HEADERS (user,role header',
        'names set by an authenticating reverse proxy; off by default), KEYWARD_NATS_URL, KEYWARD_PREFIX,',
        'KEYWARD_STORE (for the history pages). stdout: "console ready http://HOST:PORT".',
        '',
        'Flags:',
        flagHelp(SERVE_FLAGS),
      ].join('\n'),
    run: serve,
  },
  {
    words: ['console', 'add-user'],
    group: 'Console',
    summary: 'add (or replace) a local console account; the password is read from stdin',
    help: () => ['keyward console add-user: add a console account', '', 'Usage: echo "$PASSWORD" | keyward console add-user --user ID --role admin|dba|user [--file F]', '', 'Flags:', flagHelp(ADD_FLAGS)].join('\n'),
    run: addUser,
  },
];
