// The flags every API command shares: who acts, where keyward listens, how to print. Each has
// an environment variable so scripts set them once.
import { ConfigError, natsAuth, type NatsAuth } from '../config.js';
import { UsageError, type Args, type Flag } from './flags.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_PREFIX = 'keyward';
export const DEFAULT_TIMEOUT_MS = 5000;

export const COMMON_FLAGS: readonly Flag[] = [
  { name: 'as', value: 'USER:ROLE', help: 'the actor, ROLE admin, dba or user (or KEYWARD_ACTOR)' },
  { name: 'nats', value: 'URL', help: `the NATS server (or KEYWARD_NATS_URL; default ${DEFAULT_NATS_URL})` },
  { name: 'prefix', value: 'P', help: `the subject prefix (or KEYWARD_PREFIX; default ${DEFAULT_PREFIX})` },
  { name: 'command-id', value: 'ID', field: 'commandId', help: 'commandId: the same id again returns the first outcome and records nothing new' },
  { name: 'json', help: "print the API's result object as one JSON line (errors as JSON on stderr)" },
  { name: 'timeout', value: 'MS', help: `how long to wait for the server and the reply (default ${DEFAULT_TIMEOUT_MS})` },
  { name: 'help', help: 'show this help' },
];

export interface Actor {
  readonly userId: string;
  readonly role: 'admin' | 'dba' | 'user';
}

export interface Common {
  readonly actor: Actor;
  readonly natsUrl: string;
  readonly natsAuth: NatsAuth;
  readonly prefix: string;
  readonly commandId: string | undefined;
  readonly json: boolean;
  readonly timeoutMs: number;
}

const ROLES = ['admin', 'dba', 'user'] as const;

const actorFrom = (text: string | undefined): Actor => {
  if (text === undefined || text === '') throw new UsageError('who acts? give --as USER:ROLE (or set KEYWARD_ACTOR), ROLE admin, dba or user');
  const at = text.lastIndexOf(':');
  const role = text.slice(at + 1);
  if (at <= 0 || !(ROLES as readonly string[]).includes(role)) throw new UsageError('--as must be USER:ROLE with ROLE admin, dba or user, like --as ada:admin');
  return { userId: text.slice(0, at), role: role as Actor['role'] };
};

// The same forms the service accepts for KEYWARD_NATS_URL and KEYWARD_PREFIX (src/config.ts).
/** One NATS URL, or several joined by commas (a cluster's seeds). */
export const NATS_URL = /^(nats|tls|ws|wss):\/\/[^\s,]+(,\s*(nats|tls|ws|wss):\/\/[^\s,]+)*$/;
export const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** The NATS credentials and TLS files of the environment (README, Running it); a UsageError naming the unusable ones. */
export const natsAuthOf = (env: NodeJS.ProcessEnv): NatsAuth => {
  try {
    return natsAuth(env);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.problems.join('; '));
    throw e;
  }
};

/**
 * Where NATS is, how to authenticate to it, and the subject prefix: from --nats and --prefix
 * when the command has them (`args`), else from the environment alone.
 */
export const natsTargetFrom = (args: Args | undefined, env: NodeJS.ProcessEnv): { natsUrl: string; natsAuth: NatsAuth; prefix: string } => {
  const [nats, prefixName] = args === undefined ? ['KEYWARD_NATS_URL', 'KEYWARD_PREFIX'] : ['--nats (or KEYWARD_NATS_URL)', '--prefix (or KEYWARD_PREFIX)'];
  const natsUrl = args?.text('nats') ?? env.KEYWARD_NATS_URL ?? DEFAULT_NATS_URL;
  if (!NATS_URL.test(natsUrl)) throw new UsageError(`${nats} must be a URL like nats://127.0.0.1:4222`);
  const prefix = args?.text('prefix') ?? env.KEYWARD_PREFIX ?? DEFAULT_PREFIX;
  if (!PREFIX.test(prefix)) throw new UsageError(`${prefixName} must be subject tokens of A–Z, a–z, 0–9, _ or - joined by dots`);
  return { natsUrl, natsAuth: natsAuthOf(env), prefix };
};

export const commonFrom = (args: Args, env: NodeJS.ProcessEnv): Common => {
  const { natsUrl, natsAuth, prefix } = natsTargetFrom(args, env);
  const timeoutMs = args.integer('timeout') ?? DEFAULT_TIMEOUT_MS;
  if (timeoutMs < 1) throw new UsageError('--timeout must be at least 1 (milliseconds)');
  return { actor: actorFrom(args.text('as') ?? env.KEYWARD_ACTOR), natsUrl, natsAuth, prefix, commandId: args.text('command-id'), json: args.switch('json'), timeoutMs };
};

/** The URL as it may be printed: credentials in it are replaced. */
export const printableUrl = (url: string): string => {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '***';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
};
