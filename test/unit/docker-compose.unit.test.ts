// docker-compose.yml cannot be run where keyward is developed (no Docker engine), so this is
// what checks it: what a user starting it relies on, read the way Compose reads it (both the
// short and the long forms Compose accepts), and its keyward settings fed to keyward's own
// configuration loader.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadServiceConfig } from '../../src/config.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

type Mapping = Record<string, unknown>;

const isMapping = (value: unknown): value is Mapping => typeof value === 'object' && value !== null && !Array.isArray(value);

const mapping = (value: unknown, what: string): Mapping => {
  if (!isMapping(value)) throw new Error(`${what} is not a mapping`);
  return value;
};

const list = (value: unknown, what: string): unknown[] => {
  if (!Array.isArray(value)) throw new Error(`${what} is not a list`);
  return value;
};

const scalar = (value: unknown, what: string): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`${what} is not a scalar`);
};

const composeText = read('docker-compose.yml');
const compose = mapping(parse(composeText), 'docker-compose.yml');
const services = mapping(compose.services, 'services');
const service = (name: string): Mapping => mapping(services[name], `service ${name}`);

/** `environment` as a map or as a list of NAME=value, both as Compose takes them. */
const environmentOf = (name: string): Record<string, string> => {
  const env = service(name).environment;
  if (env === undefined) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const text = scalar(entry, `${name}'s environment entry`);
        const at = text.indexOf('=');
        return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(mapping(env, `${name}'s environment`)).map(([key, value]) => [key, value === null ? '' : scalar(value, `${name}'s ${key}`)]));
};

interface Published {
  readonly hostIp: string | undefined;
  readonly published: number;
  readonly target: number;
}

/** Published ports, from `[HOST_IP:]PUBLISHED:TARGET[/PROTOCOL]` or the long form. */
const portsOf = (name: string): Published[] =>
  list(service(name).ports ?? [], `${name}'s ports`).flatMap((entry): Published[] => {
    if (isMapping(entry)) {
      if (entry.published === undefined) return [];
      const hostIp = entry.host_ip === undefined ? undefined : scalar(entry.host_ip, 'host_ip');
      return [{ hostIp, published: Number(scalar(entry.published, 'published')), target: Number(scalar(entry.target, 'target')) }];
    }
    const parts = scalar(entry, `${name}'s port`).replace(/\/(tcp|udp)$/, '').split(':');
    if (parts.length < 2) return [];
    const target = Number(parts.at(-1));
    const published = Number(parts.at(-2));
    return [{ hostIp: parts.length > 2 ? parts.slice(0, -2).join(':') : undefined, published, target }];
  });

/** `depends_on` as service name → condition (a plain list means service_started). */
const dependsOn = (name: string): Record<string, string> => {
  const deps = service(name).depends_on;
  if (deps === undefined) return {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [scalar(d, 'depends_on entry'), 'service_started']));
  return Object.fromEntries(
    Object.entries(mapping(deps, `${name}'s depends_on`)).map(([dep, spec]) => [dep, spec === null ? 'service_started' : scalar(mapping(spec, dep).condition ?? 'service_started', 'condition')]),
  );
};

/** The health check as the words it runs; empty when there is none or it is disabled. */
const healthTest = (name: string): string[] => {
  const check = service(name).healthcheck;
  if (!isMapping(check) || check.disable === true) return [];
  const test = check.test;
  if (typeof test === 'string') return ['CMD-SHELL', test];
  const words = list(test ?? [], `${name}'s healthcheck test`).map((w) => scalar(w, 'healthcheck word'));
  return words[0] === 'NONE' ? [] : words;
};

/** The script of a `node -e SCRIPT` health check. */
const nodeScript = (name: string): string => {
  const words = healthTest(name);
  const at = words.indexOf('-e');
  expect(words.slice(0, 2), `${name}'s health check runs node`).toEqual(['CMD', 'node']);
  expect(at, `${name}'s health check is node -e SCRIPT`).toBeGreaterThan(0);
  return words[at + 1] ?? '';
};

/** Volume mounts as source → target, from `SOURCE:TARGET[:MODE]` or the long form. */
const mountsOf = (name: string): Record<string, string> =>
  Object.fromEntries(
    list(service(name).volumes ?? [], `${name}'s volumes`).map((entry) => {
      if (isMapping(entry)) return [scalar(entry.source, 'volume source'), scalar(entry.target, 'volume target')];
      const [source = '', target = ''] = scalar(entry, `${name}'s volume`).split(':');
      return [source, target];
    }),
  );

/** The word after the first of `flags` in `words`, if any. */
const flagValue = (words: readonly string[], ...flags: string[]): string | undefined => {
  const at = words.findIndex((w) => flags.includes(w));
  return at < 0 ? undefined : words[at + 1];
};

const commandOf = (name: string): string[] => {
  const command = service(name).command;
  if (command === undefined) return [];
  if (typeof command === 'string') return command.split(/\s+/).filter((w) => w !== '');
  return list(command, `${name}'s command`).map((w) => scalar(w, 'command word'));
};

/** Every `$` Compose would interpolate, with its name and whether it must be set. */
const references = (text: string): { name: string; required: boolean; whole: string }[] =>
  [...text.replace(/\$\$/g, '').matchAll(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g)].map((m) => ({
    name: m[1] ?? m[3] ?? '',
    required: (m[2] ?? '').startsWith(':?'),
    whole: m[0],
  }));

/** Compose's interpolation of one value, with `values` as the user's environment or .env. */
const interpolate = (text: string, values: Record<string, string>): string =>
  text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[?-][^}]*)?\}/g, (whole, name: string | undefined) => {
    if (name === undefined) return '$';
    const value = values[name];
    if (value === undefined) throw new Error(`${whole} is not set`);
    return value;
  });

const freshKey = (): string => randomBytes(32).toString('base64');

/** 32 bytes in base64 (padded or not, either alphabet): 42 characters, then one whose low 2 bits are 0. */
const KEY_LIKE = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{42}[AEIMQUYcgkosw048]=?(?![A-Za-z0-9+/_=-])/;

const REQUIRED_REFERENCE = (name: string): RegExp => new RegExp(`^\\$\\{${name}:\\?[^}]+\\}$`);

describe('docker-compose.yml: the services a user gets', () => {
  it('are the event store, NATS, keyward, a proxy node and MariaDB', () => {
    expect(Object.keys(services).sort()).toEqual(['eventstoredb', 'keyward', 'mariadb', 'nats', 'proxy-node']);
  });

  it('run EventStoreDB 24.10, NATS on the alpine variant (wget for its check), MariaDB; keyward and the proxy node are built from this repository', () => {
    expect(service('eventstoredb').image).toMatch(/^(docker\.eventstore\.com\/eventstore\/eventstoredb-(ee|ce)|eventstore\/eventstore):24\.10(\.\d+)?$/);
    expect(service('nats').image).toMatch(/^nats:2\.\d+(\.\d+)?-alpine$/);
    expect(service('mariadb').image).toMatch(/^mariadb:\d+\.\d+$/);
    for (const name of ['keyward', 'proxy-node']) {
      const build = service(name).build;
      const context = isMapping(build) ? build.context : build;
      expect(context, `${name} is built from the repository`).toBe('.');
      expect(service(name).image, `${name} is not pulled`).toBeUndefined();
    }
  });

  it('keep their data in named volumes the file declares', () => {
    const declared = Object.keys(mapping(compose.volumes, 'volumes'));
    const dataDir = (name: string, target: string): string => {
      const source = Object.entries(mountsOf(name)).find(([, t]) => t === target)?.[0];
      expect(source, `${name} mounts a volume at ${target}`).toBeDefined();
      expect(declared, `${name}'s volume is a named one`).toContain(source);
      return source ?? '';
    };
    dataDir('eventstoredb', '/var/lib/eventstore');
    dataDir('mariadb', '/var/lib/mysql');
    const natsArgs = commandOf('nats');
    expect(natsArgs, 'NATS runs JetStream').toContain('-js');
    const storeDir = flagValue(natsArgs, '-sd', '--store_dir');
    expect(storeDir, 'the JetStream store directory is given').toBeDefined();
    dataDir('nats', storeDir ?? '');
  });

  it('publish EventStoreDB and NATS to this machine only, and neither keyward nor MariaDB', () => {
    expect(portsOf('eventstoredb').map((p) => [p.published, p.target])).toContainEqual([2113, 2113]);
    expect(portsOf('nats').map((p) => [p.published, p.target])).toContainEqual([4222, 4222]);
    const monitor = flagValue(commandOf('nats'), '-m', '--http_port');
    for (const p of portsOf('nats').filter((q) => q.target !== 4222)) expect(String(p.target), 'the only other NATS port is its monitoring port').toBe(monitor);
    // The event store is insecure and NATS has no users here: reachable from the network, anyone could read or command.
    for (const name of ['eventstoredb', 'nats']) {
      for (const p of portsOf(name)) expect(p.hostIp, `${name}:${p.target} is bound to loopback`).toBe('127.0.0.1');
    }
    // keyward's HTTP server listens on 127.0.0.1 inside its container: a published port would lead nowhere.
    expect(portsOf('keyward')).toEqual([]);
    expect(portsOf('proxy-node')).toEqual([]);
    // Clients reach the database through the proxy.
    expect(portsOf('mariadb')).toEqual([]);
  });

  it('each have a health check, and start in order: keyward after the store and NATS, the proxy node after keyward and MariaDB', () => {
    for (const name of Object.keys(services)) {
      const words = healthTest(name);
      expect(['CMD', 'CMD-SHELL'], `${name} has a health check`).toContain(words[0]);
      expect(words.length, `${name}'s health check runs something`).toBeGreaterThan(1);
    }
    expect(dependsOn('keyward')).toEqual({ eventstoredb: 'service_healthy', nats: 'service_healthy' });
    expect(dependsOn('proxy-node')).toEqual({ keyward: 'service_healthy', mariadb: 'service_healthy' });
    expect(dependsOn('eventstoredb')).toEqual({});
    expect(dependsOn('nats')).toEqual({});
    expect(dependsOn('mariadb')).toEqual({});
  });

  it('are checked where each one answers: /health/live, /healthz on the monitoring port, healthcheck.sh, keyward /healthz on its port, the proxy node heartbeat', () => {
    expect(healthTest('eventstoredb').join(' ')).toMatch(/^CMD curl .*--fail.* http:\/\/(localhost|127\.0\.0\.1):2113\/health\/live$/);
    const monitor = flagValue(commandOf('nats'), '-m', '--http_port');
    expect(monitor, 'NATS serves monitoring').toBeDefined();
    expect(healthTest('nats').join(' ')).toContain(`http://127.0.0.1:${monitor ?? ''}/healthz`);
    expect(healthTest('mariadb')).toEqual(['CMD', 'healthcheck.sh', '--connect', '--innodb_initialized']);
    const keywardCheck = nodeScript('keyward');
    expect(keywardCheck).toContain(`http://127.0.0.1:${environmentOf('keyward').KEYWARD_HTTP_PORT ?? '9464'}/healthz`);
    const nodeCheck = nodeScript('proxy-node');
    expect(nodeCheck).toContain('.enforcement.');
    expect(nodeCheck).toContain(`kind === 'heartbeat'`);
    // YAML folds these scripts into one line; a fold that broke one would make the service never healthy.
    for (const script of [keywardCheck, nodeCheck]) expect(() => new Script(script)).not.toThrow();
  });

  it('come back after a crash and after the host restarts', () => {
    for (const name of Object.keys(services)) expect(service(name).restart, name).toMatch(/^(unless-stopped|always)$/);
  });

  it('run EventStoreDB as one insecure node, as its documentation names the settings', () => {
    const env = environmentOf('eventstoredb');
    expect(env.EVENTSTORE_CLUSTER_SIZE).toBe('1');
    expect(env.EVENTSTORE_INSECURE).toBe('true');
    expect(env.EVENTSTORE_RUN_PROJECTIONS).toBe('None');
  });
});

describe('docker-compose.yml: keyward and the proxy node', () => {
  const env = environmentOf('keyward');

  it('use the EventStoreDB service without TLS and the NATS service', () => {
    const store = new URL(env.KEYWARD_STORE ?? '');
    expect(store.protocol).toBe('esdb:');
    expect(store.host).toBe('eventstoredb:2113');
    expect(store.searchParams.get('tls')).toBe('false');
    expect(env.KEYWARD_NATS_URL).toBe('nats://nats:4222');
    expect(environmentOf('proxy-node').KEYWARD_NATS_URL).toBe('nats://nats:4222');
  });

  it('take the keys from the user: required references, the proxy node holding the same proxy key and never the master key', () => {
    expect(env.KEYWARD_MASTER_KEY).toMatch(REQUIRED_REFERENCE('KEYWARD_MASTER_KEY'));
    expect(env.KEYWARD_PROXY_KEY).toMatch(REQUIRED_REFERENCE('KEYWARD_PROXY_KEY'));
    expect(environmentOf('proxy-node').KEYWARD_PROXY_KEY).toMatch(REQUIRED_REFERENCE('KEYWARD_PROXY_KEY'));
    expect(environmentOf('proxy-node').KEYWARD_MASTER_KEY).toBeUndefined();
  });

  it('hold no secret: nothing that looks like a key, every key or password a required reference', () => {
    expect(composeText).not.toMatch(KEY_LIKE);
    for (const name of Object.keys(services)) {
      for (const [variable, value] of Object.entries(environmentOf(name))) {
        if (/(^|_)(KEY|PASSWORD|SECRET|TOKEN)(_|$)/.test(variable)) expect(value, `${name}'s ${variable}`).toMatch(REQUIRED_REFERENCE(variable));
        // A connection string with a password in it (EventStoreDB's, NATS's) would be a secret written here.
        if (URL.canParse(value)) expect(new URL(value).password, `${name}'s ${variable} carries no password`).toBe('');
      }
    }
  });

  it('ask the user for exactly the keys and the MariaDB password, each one required and each one named in the README', () => {
    const refs = references(composeText);
    expect([...new Set(refs.map((r) => r.name))].sort()).toEqual(['KEYWARD_MASTER_KEY', 'KEYWARD_PROXY_KEY', 'MARIADB_ROOT_PASSWORD']);
    for (const ref of refs) expect(ref.required, `${ref.whole} must be set`).toBe(true);
    const section = /## Running the whole system \(docker compose\)\n([\s\S]*?)\n## /.exec(read('README.md'))?.[1] ?? '';
    for (const ref of refs) expect(section, `the README says to put ${ref.name} in .env`).toContain(`${ref.name}=`);
  });

  it('set only settings keyward reads', () => {
    const config = read('src/config.ts');
    const table = read('README.md')
      .split('\n')
      .filter((line) => line.startsWith('| `KEYWARD_'));
    const used = new Set(Object.keys(services).flatMap((name) => Object.keys(environmentOf(name)).filter((v) => v.startsWith('KEYWARD_'))));
    expect(used.size).toBeGreaterThan(0);
    for (const variable of used) {
      const known = config.includes(`'${variable}'`) || config.includes(`.${variable}`) || table.some((line) => line.startsWith(`| \`${variable}\` |`));
      expect(known, `${variable} is read by keyward (src/config.ts or README's settings table)`).toBe(true);
    }
  });

  it('run the same program as npm start, and the CLI package.json names as keyward', () => {
    const pkg = mapping(JSON.parse(read('package.json')), 'package.json');
    const bin = scalar(mapping(pkg.bin, 'bin').keyward, 'bin.keyward');
    const start = scalar(mapping(pkg.scripts, 'scripts').start, 'scripts.start');
    const command = commandOf('proxy-node');
    expect(command.slice(0, 3)).toEqual(['node', bin, 'proxy-node']);
    expect(command[command.indexOf('--instance') + 1]).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    // keyward itself runs the image's CMD.
    expect(service('keyward').command).toBeUndefined();
    const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(read('Dockerfile'))?.[1] ?? '[]';
    const main = (JSON.parse(cmd) as string[]).join(' ');
    expect(start).toContain(main);
  });

  it('apart from the store, give keyward settings it accepts: NATS, the HTTP port the check asks, relay and scheduler on', () => {
    const values = { KEYWARD_MASTER_KEY: freshKey(), KEYWARD_PROXY_KEY: freshKey() };
    const { KEYWARD_STORE: _store, ...rest } = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v, values)]));
    const config = loadServiceConfig(rest);
    expect(config.natsUrl).toBe('nats://nats:4222');
    expect(config.httpPort).toBe(Number(env.KEYWARD_HTTP_PORT ?? '9464'));
    expect(config.relay).not.toBeNull();
    expect(config.scheduler).toBe(true);
  });

  it('give keyward a store setting it loads as EventStoreDB', () => {
    const values = { KEYWARD_MASTER_KEY: freshKey(), KEYWARD_PROXY_KEY: freshKey() };
    const config = loadServiceConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v, values)])));
    expect(config.store.kind).toBe('esdb');
  });
});

describe('the keyward image', () => {
  const dockerfile = read('Dockerfile');

  it('builds with the package scripts, and runs as a user other than root', () => {
    expect(dockerfile).toMatch(/^RUN .*npm ci\b/m);
    expect(dockerfile).toMatch(/^RUN .*npm run build\b/m);
    const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    expect(users.at(-1)).toBeDefined();
    expect(users.at(-1)).not.toMatch(/^(root|0)(:.*)?$/);
  });

  it('is built without .env, local data or installed modules in its context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim().replace(/\/$/, ''));
    for (const entry of ['.env', 'data', 'node_modules']) expect(ignored, entry).toContain(entry);
  });
});
