// Flags that several commands share: the security policy, a database account, paging. A
// password never comes from a flag, since command lines show in `ps` and shell history.
import type { Args, Flag } from '../flags.js';
import { UsageError } from '../flags.js';
import type { Io } from '../io.js';

export const instanceFlag: Flag = { name: 'instance', value: 'ID', required: true, field: 'instanceId', help: 'instanceId: the database instance' };
export const userFlag: Flag = { name: 'user', value: 'ID', required: true, field: 'userId', help: 'userId: whose AccessKey pair' };

export const DEFAULT_INTERVAL_SECONDS = 3600;
const POLICIES = ['system', 'rotate', 'expire'] as const;

export const policyFlags: readonly Flag[] = [
  { name: 'policy', value: 'system|rotate|expire', required: true, field: 'policy', help: 'policy.type: never rotate nor expire; rotate on a schedule; expire at a time' },
  { name: 'interval', value: 'SECONDS', field: 'policy.intervalSeconds', help: `rotate: seconds between rotations, 60–315360000 (default ${DEFAULT_INTERVAL_SECONDS})` },
  { name: 'overlap', value: 'SECONDS', field: 'policy.overlapSeconds', help: 'rotate: how long the replaced pair keeps working, 0–86400 (default 0)' },
  { name: 'expires-at', value: 'TIME', field: 'policy.expiresAt', help: 'expire: when the pair stops working, RFC 3339 UTC (2026-12-04T10:00:00Z)' },
];

/** The policy object of API.md; a flag that does not belong to the chosen policy is refused, never ignored. */
export const policyFrom = (args: Args): Record<string, unknown> => {
  const type = args.choice('policy', POLICIES);
  if (type === undefined) throw new UsageError('--policy is required');
  const interval = args.integer('interval');
  const overlap = args.integer('overlap');
  const expiresAt = args.text('expires-at');
  const stray = (name: string, present: boolean): void => {
    if (present) throw new UsageError(`--${name} does not go with --policy ${type}`);
  };
  switch (type) {
    case 'system':
      stray('interval', interval !== undefined);
      stray('overlap', overlap !== undefined);
      stray('expires-at', expiresAt !== undefined);
      return { type };
    case 'rotate':
      stray('expires-at', expiresAt !== undefined);
      return { type, intervalSeconds: interval ?? DEFAULT_INTERVAL_SECONDS, ...(overlap === undefined ? {} : { overlapSeconds: overlap }) };
    case 'expire':
      stray('interval', interval !== undefined);
      stray('overlap', overlap !== undefined);
      if (expiresAt === undefined) throw new UsageError('--policy expire needs --expires-at TIME');
      return { type, expiresAt };
    default: {
      const _exhaustive: never = type;
      return _exhaustive;
    }
  }
};

export const passwordFlag: Flag = {
  name: 'db-password-stdin',
  field: 'databaseAccount.password',
  help: 'read the database password from stdin (else from KEYWARD_DB_PASSWORD)',
};

// Far above any password the service takes (1–1024 characters), so its own message decides.
const MAX_PASSWORD_INPUT = 64 * 1024;

const readPassword = async (args: Args, io: Io): Promise<string> => {
  if (!args.switch('db-password-stdin')) {
    const fromEnv = io.env.KEYWARD_DB_PASSWORD;
    if (fromEnv === undefined || fromEnv === '') throw new UsageError('the database password comes from stdin (--db-password-stdin) or KEYWARD_DB_PASSWORD, never from a flag');
    return fromEnv;
  }
  if (io.stdinIsTerminal) io.stderr('keyward: type the database password, then Enter and Ctrl-D');
  const text = await io.readStdin(MAX_PASSWORD_INPUT);
  if (text === undefined) throw new UsageError('stdin holds more than a password');
  // `echo pw |` and here-strings add one line end; it is not part of the password.
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new UsageError('stdin was empty: pipe the database password into it');
  return password;
};

/** `{username, password}` from --db-user and the password input. */
export const accountFrom = async (args: Args, io: Io): Promise<{ username: string; password: string }> => ({
  username: args.required('db-user'),
  password: await readPassword(args, io),
});

/** A custom account when --db-user is given; the proxy's own account otherwise. */
export const optionalAccountFrom = async (args: Args, io: Io): Promise<Record<string, unknown>> => {
  if (args.text('db-user') === undefined) {
    if (args.switch('db-password-stdin')) throw new UsageError('--db-password-stdin goes with --db-user');
    return {};
  }
  return { databaseAccount: await accountFrom(args, io) };
};

export const pageFlags: readonly Flag[] = [
  { name: 'limit', value: 'N', field: 'limit', help: 'limit: at most N items, 1–500 (default 100)' },
  { name: 'cursor', value: 'C', field: 'cursor', help: 'cursor: the page after the one that printed it' },
];

export const pageFrom = (args: Args): Record<string, unknown> => ({ limit: args.integer('limit'), cursor: args.text('cursor') });
