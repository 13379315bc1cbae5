// Settings from the environment, checked once at start; every problem is reported in one
// line of its own, and the process does not start on a setting it cannot use.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SealingKey } from './crypto.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

export interface MasterKeySource {
  readonly key: SealingKey;
  /** Set when the key was made for development: the caller logs it as a warning. */
  readonly warning?: string;
}

const KEY_HELP = 'set KEYWARD_MASTER_KEY to 32 random bytes in base64 (for example: openssl rand -base64 32)';

/**
 * The master key that seals AccessSecrets and database passwords in the event store. Without
 * KEYWARD_MASTER_KEY the service refuses to start, unless KEYWARD_DEV=1 asks for a
 * development key, which is made once and kept in the data folder (so restarts can still
 * open what was sealed) and is announced with a warning.
 */
export const loadMasterKey = (env: NodeJS.ProcessEnv, dataDir: string): MasterKeySource => {
  const text = env.KEYWARD_MASTER_KEY;
  if (text !== undefined && text !== '') {
    const bytes = Buffer.from(text, 'base64');
    if (bytes.length !== 32 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
      throw new ConfigError([`KEYWARD_MASTER_KEY is not 32 bytes of base64 (it decodes to ${bytes.length} bytes): ${KEY_HELP}`]);
    }
    return { key: new SealingKey(bytes) };
  }
  if (env.KEYWARD_DEV !== '1') throw new ConfigError([`no master key: ${KEY_HELP}, or KEYWARD_DEV=1 for a development key`]);
  const file = join(dataDir, 'dev-master.key');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, SealingKey.generate().exportBase64(), { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  return {
    key: SealingKey.fromBase64(readFileSync(file, 'utf8').trim()),
    warning: `development mode: secrets are sealed with the key in ${file}; never use it in production`,
  };
};

export interface SqliteStoreSettings {
  readonly kind: 'sqlite';
  readonly path: string;
  readonly synchronous: 'FULL' | 'NORMAL';
}

export type StoreSettings = SqliteStoreSettings;

export const DEFAULT_SQLITE_PATH = './data/keyward.db';

/**
 * KEYWARD_STORE names the event store: absent, the embedded SQLite store at
 * ./data/keyward.db; `sqlite:<path>` for another file. KEYWARD_SQLITE_SYNCHRONOUS=NORMAL
 * trades the last commits before a power loss for faster appends (README, "Durability").
 */
export const loadStoreSettings = (env: NodeJS.ProcessEnv): StoreSettings => {
  const problems: string[] = [];
  const store = env.KEYWARD_STORE ?? '';
  let path = DEFAULT_SQLITE_PATH;
  if (store.startsWith('sqlite:')) {
    path = store.slice('sqlite:'.length);
    if (path === '') problems.push('KEYWARD_STORE=sqlite: needs a file path after the colon, like sqlite:./data/keyward.db');
  } else if (store !== '') {
    problems.push(`KEYWARD_STORE must be sqlite:<path> (the embedded store); it is "${store.slice(0, 80)}"`);
  }
  const synchronous = env.KEYWARD_SQLITE_SYNCHRONOUS ?? 'FULL';
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') problems.push(`KEYWARD_SQLITE_SYNCHRONOUS must be FULL or NORMAL, not "${synchronous.slice(0, 20)}"`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { kind: 'sqlite', path, synchronous: synchronous as 'FULL' | 'NORMAL' };
};

export interface ServiceConfig {
  readonly natsUrl: string;
  /** Every subject starts with it (API.md). */
  readonly prefix: string;
  /** Health and metrics over HTTP; null when switched off. */
  readonly httpPort: number | null;
  readonly logLevel: string;
  readonly store: StoreSettings;
  readonly masterKey: MasterKeySource;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Every setting the service reads; all problems at once, one line each. */
export const loadServiceConfig = (env: NodeJS.ProcessEnv): ServiceConfig => {
  const problems: string[] = [];
  const attempt = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (e) {
      if (e instanceof ConfigError) problems.push(...e.problems);
      else throw e;
      return undefined;
    }
  };
  const natsUrl = env.KEYWARD_NATS_URL ?? 'nats://127.0.0.1:4222';
  if (!/^(nats|tls|ws|wss):\/\/[^\s]+$/.test(natsUrl)) problems.push(`KEYWARD_NATS_URL must be a URL like nats://127.0.0.1:4222, not "${natsUrl.slice(0, 80)}"`);
  const prefix = env.KEYWARD_PREFIX ?? 'keyward';
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) problems.push(`KEYWARD_PREFIX must be subject tokens of A–Z, a–z, 0–9, _ or - joined by dots, not "${prefix.slice(0, 80)}"`);
  const portText = env.KEYWARD_HTTP_PORT ?? '9464';
  const port = Number(portText);
  const httpPort = portText === 'off' ? null : port;
  if (portText !== 'off' && !(Number.isInteger(port) && port >= 0 && port <= 65535)) problems.push(`KEYWARD_HTTP_PORT must be a port number from 0 to 65535, or off, not "${portText.slice(0, 20)}"`);
  const logLevel = env.KEYWARD_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`KEYWARD_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel.slice(0, 20)}"`);
  const store = attempt(() => loadStoreSettings(env));
  const masterKey = attempt(() => loadMasterKey(env, dirname(store?.path ?? DEFAULT_SQLITE_PATH)));
  if (problems.length > 0 || store === undefined || masterKey === undefined) throw new ConfigError(problems);
  return { natsUrl, prefix, httpPort, logLevel, store, masterKey };
};
