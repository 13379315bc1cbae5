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
