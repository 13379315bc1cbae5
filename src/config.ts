// Settings from the environment, checked once at start; every problem is reported in one
// line of its own, and the process does not start on a setting it cannot use.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseConnectionString } from '@eventstore/db-client/dist/Client/parseConnectionString.js';
import { credsAuthenticator, type ConnectionOptions } from 'nats';
import { SealingKey } from './crypto.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }

  /** What a process says when it cannot start for these problems: one line each. */
  explain(): string {
    return `cannot start:\n${this.problems.map((p) => `  - ${p}`).join('\n')}`;
  }
}

export interface MasterKeySource {
  readonly key: SealingKey;
  /** Set when the key was made for development: the caller logs it as a warning. */
  readonly warning?: string;
}

const keyHelp = (variable: string): string => `set ${variable} to 32 random bytes in base64 (for example: openssl rand -base64 32)`;

/**
 * A sealing key from its setting. Without it keyward refuses to start, unless KEYWARD_DEV=1
 * asks for a development key, made once and kept in the data folder (so restarts can still
 * open what was sealed) and announced with a warning.
 */
const loadSealingKey = (env: NodeJS.ProcessEnv, dataDir: string, variable: string, what: string, devFile: string): MasterKeySource => {
  const text = env[variable];
  if (text !== undefined && text !== '') {
    const bytes = Buffer.from(text, 'base64');
    if (bytes.length !== 32 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
      throw new ConfigError([`${variable} is not 32 bytes of base64 (it decodes to ${bytes.length} bytes): ${keyHelp(variable)}`]);
    }
    return { key: new SealingKey(bytes) };
  }
  if (env.KEYWARD_DEV !== '1') throw new ConfigError([`no ${what}: ${keyHelp(variable)}, or KEYWARD_DEV=1 for a development key`]);
  const file = join(dataDir, devFile);
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, SealingKey.generate().exportBase64(), { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  return {
    key: SealingKey.fromBase64(readFileSync(file, 'utf8').trim()),
    warning: `development mode: the ${what} is the one in ${file}; never use it in production`,
  };
};

/** Seals AccessSecrets and database passwords in the event store. */
export const loadMasterKey = (env: NodeJS.ProcessEnv, dataDir: string): MasterKeySource =>
  loadSealingKey(env, dataDir, 'KEYWARD_MASTER_KEY', 'master key', 'dev-master.key');

/** Seals database passwords for proxy nodes (API.md): a proxy node holds this one, never the master key. */
export const loadProxyKey = (env: NodeJS.ProcessEnv, dataDir: string): MasterKeySource =>
  loadSealingKey(env, dataDir, 'KEYWARD_PROXY_KEY', 'proxy sealing key', 'dev-proxy.key');

export interface SqliteStoreSettings {
  readonly kind: 'sqlite';
  readonly path: string;
  readonly synchronous: 'FULL' | 'NORMAL';
}

export interface EsdbStoreSettings {
  readonly kind: 'esdb';
  readonly connectionString: string;
}

export type StoreSettings = SqliteStoreSettings | EsdbStoreSettings;

/** What the store is, for logs: the connection string without user name and password. */
export const describeStore = (settings: StoreSettings): string =>
  settings.kind === 'sqlite' ? `sqlite:${settings.path}` : withoutCredentials(settings.connectionString);

const withoutCredentials = (connectionString: string): string => connectionString.replace(/^(esdb(?:\+discover)?:\/\/)[^@/?]*@/i, '$1');

/**
 * Problems with an EventStoreDB connection string, checked by the client's own parser without
 * the credentials (its messages quote the string) and with its warnings (an unknown option is
 * ignored by the client, so a misspelt one would silently change nothing) taken as problems.
 */
const esdbProblems = (connectionString: string): string[] => {
  const problems: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    problems.push(`KEYWARD_STORE: ${String(args[0]).split('\n')[0] ?? ''}`);
  };
  try {
    parseConnectionString(withoutCredentials(connectionString));
  } catch (e) {
    problems.push(`KEYWARD_STORE is not an EventStoreDB connection string: ${(e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''}`);
  } finally {
    console.warn = warn;
  }
  return problems;
};

export const DEFAULT_SQLITE_PATH = './data/keyward.db';

/**
 * KEYWARD_STORE names the event store: absent, the embedded SQLite store at
 * ./data/keyward.db; `sqlite:<path>` for another file; `esdb://…` (or `esdb+discover://…`)
 * for EventStoreDB, as its client takes it. KEYWARD_SQLITE_SYNCHRONOUS=NORMAL trades the last
 * commits before a power loss for faster appends (README, "Durability").
 */
export const loadStoreSettings = (env: NodeJS.ProcessEnv): StoreSettings => {
  const problems: string[] = [];
  const store = env.KEYWARD_STORE ?? '';
  if (/^esdb(\+discover)?:\/\//i.test(store)) {
    const esdb = esdbProblems(store);
    if (esdb.length > 0) throw new ConfigError(esdb);
    return { kind: 'esdb', connectionString: store };
  }
  let path = DEFAULT_SQLITE_PATH;
  if (store.startsWith('sqlite:')) {
    path = store.slice('sqlite:'.length);
    if (path === '') problems.push('KEYWARD_STORE=sqlite: needs a file path after the colon, like sqlite:./data/keyward.db');
  } else if (store !== '') {
    problems.push(`KEYWARD_STORE must be sqlite:<path> (the embedded store) or an EventStoreDB connection string (esdb://host:2113?tls=false); it is "${withoutCredentials(store).slice(0, 80)}"`);
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
  /** Present when this process runs the relay (KEYWARD_RELAY, on by default). */
  readonly relay: { readonly proxyKey: MasterKeySource; readonly replicas: number } | null;
  /** Whether this process runs the scheduler (KEYWARD_SCHEDULER, on by default). */
  readonly scheduler: boolean;
  /** The console (KEYWARD_CONSOLE, on 127.0.0.1:9480 by default); null when switched off. */
  readonly console: ConsoleSettings | null;
  /** How to authenticate to NATS and check its TLS (KEYWARD_NATS_CREDS, _USER/_PASSWORD, _TOKEN, _CA, _CERT/_KEY). */
  readonly natsAuth: NatsAuth;
}

export interface ConsoleSettings {
  readonly host: string;
  readonly port: number;
  /** Local accounts (KEYWARD_CONSOLE_USERS, default console-users.json beside the store). */
  readonly accountsFile: string;
  /** KEYWARD_CONSOLE_TRUSTED_HEADERS=user-header,role-header: behind an authenticating proxy only. */
  readonly trustedHeaders: { readonly user: string; readonly role: string } | undefined;
}

const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;

/** The console's settings, or the problems with them; `dataDir` is where the store's files are. */
export const loadConsoleSettings = (env: NodeJS.ProcessEnv, dataDir: string, fallback = '127.0.0.1:9480'): { settings: ConsoleSettings | null; problems: string[] } => {
  const text = env.KEYWARD_CONSOLE ?? fallback;
  if (text === 'off') return { settings: null, problems: [] };
  const problems: string[] = [];
  const at = text.lastIndexOf(':');
  const host = at === -1 ? '127.0.0.1' : text.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(at === -1 ? text : text.slice(at + 1));
  if (host === '' || !Number.isInteger(port) || port < 0 || port > 65535) problems.push(`KEYWARD_CONSOLE must be off, PORT or HOST:PORT (like 127.0.0.1:9480), not "${text.slice(0, 40)}"`);
  const headers = env.KEYWARD_CONSOLE_TRUSTED_HEADERS;
  let trustedHeaders: ConsoleSettings['trustedHeaders'];
  if (headers !== undefined && headers !== '' && headers !== 'off') {
    const [user, role, ...rest] = headers.split(',').map((h) => h.trim());
    if (user === undefined || role === undefined || rest.length > 0 || !HEADER_NAME.test(user) || !HEADER_NAME.test(role)) problems.push('KEYWARD_CONSOLE_TRUSTED_HEADERS must be two header names, user then role, like X-Forwarded-User,X-Forwarded-Role');
    else trustedHeaders = { user, role };
  }
  return { settings: { host, port, accountsFile: env.KEYWARD_CONSOLE_USERS ?? join(dataDir, 'console-users.json'), trustedHeaders }, problems };
};

/** The servers of a NATS URL setting: one URL, or several joined by commas (a cluster's seeds). */
export const natsServers = (setting: string): string[] => setting.split(',').map((url) => url.trim());

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
  if (!natsServers(natsUrl).every((url) => /^(nats|tls|ws|wss):\/\/[^\s,]+$/.test(url))) {
    problems.push(`KEYWARD_NATS_URL must be a URL like nats://127.0.0.1:4222, or several joined by commas, not "${natsUrl.slice(0, 80)}"`);
  }
  const prefix = env.KEYWARD_PREFIX ?? 'keyward';
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) problems.push(`KEYWARD_PREFIX must be subject tokens of A–Z, a–z, 0–9, _ or - joined by dots, not "${prefix.slice(0, 80)}"`);
  const portText = env.KEYWARD_HTTP_PORT ?? '9464';
  const port = Number(portText);
  const httpPort = portText === 'off' ? null : port;
  if (portText !== 'off' && !(Number.isInteger(port) && port >= 0 && port <= 65535)) problems.push(`KEYWARD_HTTP_PORT must be a port number from 0 to 65535, or off, not "${portText.slice(0, 20)}"`);
  const logLevel = env.KEYWARD_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`KEYWARD_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel.slice(0, 20)}"`);
  const store = attempt(() => loadStoreSettings(env));
  const dataDir = dirname(store?.kind === 'sqlite' ? store.path : DEFAULT_SQLITE_PATH);
  const masterKey = attempt(() => loadMasterKey(env, dataDir));
  const relayOn = (env.KEYWARD_RELAY ?? 'on') === 'on';
  if (!['on', 'off'].includes(env.KEYWARD_RELAY ?? 'on')) problems.push(`KEYWARD_RELAY must be on or off, not "${(env.KEYWARD_RELAY ?? '').slice(0, 20)}"`);
  const proxyKey = relayOn ? attempt(() => loadProxyKey(env, dataDir)) : undefined;
  const schedulerSetting = env.KEYWARD_SCHEDULER ?? 'on';
  if (!['on', 'off'].includes(schedulerSetting)) problems.push(`KEYWARD_SCHEDULER must be on or off, not "${schedulerSetting.slice(0, 20)}"`);
  const replicas = Number(env.KEYWARD_JETSTREAM_REPLICAS ?? '1');
  if (!(Number.isInteger(replicas) && replicas >= 1 && replicas <= 5)) problems.push('KEYWARD_JETSTREAM_REPLICAS must be a whole number from 1 to 5');
  const consoleSettings = loadConsoleSettings(env, dataDir);
  problems.push(...consoleSettings.problems);
  const auth = attempt(() => natsAuth(env));
  if (problems.length > 0 || auth === undefined || store === undefined || masterKey === undefined || (relayOn && proxyKey === undefined)) throw new ConfigError(problems);
  return { natsUrl, prefix, httpPort, logLevel, store, masterKey, relay: proxyKey === undefined ? null : { proxyKey, replicas }, scheduler: schedulerSetting === 'on', console: consoleSettings.settings, natsAuth: auth };
};

// How every keyward process proves itself to NATS and checks the server: one of a creds file
// (JWT and NKey, for decentralized auth), a user and password, or a token; and TLS files.
// From the environment, so the service, the relay, proxies, the console and the CLI share
// them. nats.js ignores credentials written into a URL, so they are not taken from there.
export type NatsAuth = Pick<ConnectionOptions, 'user' | 'pass' | 'token' | 'authenticator' | 'tls'>;

const readable = (name: string, path: string, problems: string[]): Uint8Array | undefined => {
  try {
    return readFileSync(path);
  } catch {
    problems.push(`${name}: cannot read ${path}`);
    return undefined;
  }
};

/** The NATS settings of the environment; ConfigError naming every unusable one. */
export const natsAuth = (env: NodeJS.ProcessEnv): NatsAuth => {
  const problems: string[] = [];
  const set = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const creds = set('KEYWARD_NATS_CREDS');
  const user = set('KEYWARD_NATS_USER');
  const pass = set('KEYWARD_NATS_PASSWORD');
  const token = set('KEYWARD_NATS_TOKEN');
  const ways = [creds !== undefined, user !== undefined || pass !== undefined, token !== undefined].filter(Boolean).length;
  if (ways > 1) problems.push('give one way to authenticate to NATS: KEYWARD_NATS_CREDS, KEYWARD_NATS_USER with KEYWARD_NATS_PASSWORD, or KEYWARD_NATS_TOKEN');
  if ((user === undefined) !== (pass === undefined)) problems.push('KEYWARD_NATS_USER and KEYWARD_NATS_PASSWORD go together');
  const auth: NatsAuth = {};
  if (creds !== undefined) {
    const bytes = readable('KEYWARD_NATS_CREDS', creds, problems);
    if (bytes !== undefined) Object.assign(auth, { authenticator: credsAuthenticator(bytes) });
  }
  if (user !== undefined && pass !== undefined) Object.assign(auth, { user, pass });
  if (token !== undefined) Object.assign(auth, { token });
  const ca = set('KEYWARD_NATS_CA');
  const cert = set('KEYWARD_NATS_CERT');
  const key = set('KEYWARD_NATS_KEY');
  if ((cert === undefined) !== (key === undefined)) problems.push('KEYWARD_NATS_CERT and KEYWARD_NATS_KEY go together');
  for (const [name, path] of [['KEYWARD_NATS_CA', ca], ['KEYWARD_NATS_CERT', cert], ['KEYWARD_NATS_KEY', key]] as const) if (path !== undefined) readable(name, path, problems);
  if (ca !== undefined || cert !== undefined) Object.assign(auth, { tls: { ...(ca === undefined ? {} : { caFile: ca }), ...(cert === undefined ? {} : { certFile: cert, keyFile: key }) } });
  if (problems.length > 0) throw new ConfigError(problems);
  return auth;
};
