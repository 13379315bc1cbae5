// `keyward proxy-node`: one proxy node in a process of its own, for demonstrations and for
// end-to-end tests that run several. stdout is a line protocol a test can read: `proxy-node
// ready`, then one JSON line per verification asked on stdin and per invalidated key. Logs go
// to stderr so they never mix with it. It reads stdin and signals itself: it runs until
// SIGTERM or SIGINT, which the request-and-reply Io has no words for.
import { natsServers } from '../../config.js';
import { untilStopped } from '../../stopped.js';
import { createInterface } from 'node:readline';
import { InstanceId } from '../../../domain/index.js';
import { SealingKey } from '../../crypto.js';
import { createLogger } from '../../log.js';
import { startProxyNode, type VerifyResult } from '../../proxy-node/index.js';
import { settingsOr, type CliCommand } from '../command.js';
import { DEFAULT_NATS_URL, DEFAULT_PREFIX, natsTargetFrom } from '../common.js';
import { ExitCode } from '../exit-codes.js';
import { flagHelp, parseFlags, UsageError, type Args, type Flag } from '../flags.js';
import type { Io } from '../io.js';

/** What every process that runs a proxy node is told: where NATS is, and how to name itself. */
export const NODE_FLAGS: readonly Flag[] = [
  { name: 'nats', value: 'URL', help: `the NATS server (or KEYWARD_NATS_URL; default ${DEFAULT_NATS_URL})` },
  { name: 'prefix', value: 'P', help: `the subject prefix of enforcement reports (or KEYWARD_PREFIX; default ${DEFAULT_PREFIX})` },
  { name: 'node-id', value: 'ID', help: 'the name in enforcement reports (default hostname-pid)' },
  { name: 'staleness-ms', value: 'MS', help: 'refuse everything after this long without NATS (default 30000)' },
];

const FLAGS: readonly Flag[] = [
  { name: 'instance', value: 'ID', multiple: true, help: 'an instance this node serves (repeat it for more)' },
  { name: 'all-instances', help: 'serve every instance instead' },
  ...NODE_FLAGS,
  { name: 'help', help: 'show this help' },
];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const proxyKeyFrom = (env: NodeJS.ProcessEnv): SealingKey => {
  const text = env.KEYWARD_PROXY_KEY;
  if (text === undefined || text === '') throw new UsageError('KEYWARD_PROXY_KEY is not set: give the proxy sealing key the relay seals with (32 bytes of base64)');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== 32 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new UsageError('KEYWARD_PROXY_KEY must be 32 bytes of base64 (openssl rand -base64 32), the key the relay seals with');
  return new SealingKey(bytes);
};

/** The NODE_FLAGS and the environment a proxy node needs (KEYWARD_PROXY_KEY, KEYWARD_LOG_LEVEL). */
export const nodeSettingsFrom = (args: Args, env: NodeJS.ProcessEnv) => {
  const { natsUrl, natsAuth, prefix } = natsTargetFrom(args, env);
  const nodeId = args.text('node-id');
  if (nodeId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(nodeId)) throw new UsageError('--node-id must be 1–64 characters of A–Z, a–z, 0–9, _ or -');
  const stalenessMs = args.integer('staleness-ms');
  if (stalenessMs !== undefined && stalenessMs < 1) throw new UsageError('--staleness-ms must be at least 1');
  const logLevel = env.KEYWARD_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`KEYWARD_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  return { servers: natsServers(natsUrl), natsAuth, prefix, nodeId, stalenessMs, logLevel, proxyKey: proxyKeyFrom(env) };
};

const settingsFrom = (argv: readonly string[], env: NodeJS.ProcessEnv) => {
  const args = parseFlags(FLAGS, argv);
  const listed = args.list('instance');
  const all = args.switch('all-instances');
  if (all === (listed.length > 0)) throw new UsageError('give --instance ID (one or more) or --all-instances');
  if (!listed.every((i) => InstanceId.is(i))) throw new UsageError('--instance must be 1–64 characters of A–Z, a–z, 0–9, _ or -');
  return { instances: all ? ('all' as const) : listed, ...nodeSettingsFrom(args, env) };
};

// The database account's password is left out altogether, not even as [redacted].
const printable = (instanceId: string, accessId: string, r: VerifyResult): Record<string, unknown> =>
  r.ok
    ? { kind: 'verify', instanceId, accessId, ok: true, userId: r.userId, username: r.databaseAccount.username }
    : { kind: 'verify', instanceId, accessId, ...r };

const run = async (argv: readonly string[], io: Io): Promise<number> => {
  const parsed = settingsOr(io, 'keyward proxy-node', () => settingsFrom(argv, io.env));
  if ('exit' in parsed) return parsed.exit;
  const { logLevel, ...options } = parsed.settings;
  const log = createLogger({ level: logLevel, destination: process.stderr });
  const stopped = untilStopped();
  const node = startProxyNode({ ...options, logger: log });
  node.onInvalidated((event) => { io.stdout(JSON.stringify({ kind: 'invalidated', ...event })); });
  node.ready.then(
    () => { io.stdout('proxy-node ready'); },
    (e: unknown) => { log.error({ err: e instanceof Error ? e.message : String(e) }, 'proxy node did not start'); },
  );

  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', (line) => {
    const words = line.trim().split(/\s+/);
    if (words.length === 1 && words[0] === '') return;
    const [instanceId, accessId, secret] = words;
    // The line is never repeated: its third word is a secret.
    if (words.length !== 3 || instanceId === undefined || accessId === undefined || secret === undefined) {
      io.stdout(JSON.stringify({ kind: 'error', message: 'a line is: instanceId accessId accessSecret' }));
      return;
    }
    io.stdout(JSON.stringify(printable(instanceId, accessId, node.verify(instanceId, accessId, secret))));
  });

  const signal = await stopped;
  log.info({ signal, nodeId: node.nodeId }, 'proxy node stopping');
  lines.close();
  await node.close();
  return ExitCode.OK;
};

export const PROXY_NODE: CliCommand = {
  words: ['proxy-node'],
  group: 'Proxy nodes',
  summary: 'run a proxy node: follow the keys of some instances and check AccessKey pairs from memory',
  help: () =>
    [
      'keyward proxy-node: run a proxy node until SIGTERM or SIGINT',
      '',
      'Usage: keyward proxy-node --instance ID [--instance ID ...] | --all-instances [--nats URL] [--prefix P] [--node-id ID] [--staleness-ms MS]',
      '',
      'KEYWARD_PROXY_KEY (required) is the proxy sealing key, 32 bytes of base64, that opens the database',
      'passwords in KV. stdout: "proxy-node ready" once the keys are loaded, then one JSON line for each',
      'line "instanceId accessId accessSecret" read on stdin (the verification result; never the secret',
      'nor the password) and for each key that stops being valid ({"kind":"invalidated",...}).',
      'Logs (pino JSON, KEYWARD_LOG_LEVEL) go to stderr.',
      '',
      'Flags:',
      flagHelp(FLAGS),
    ].join('\n'),
  run,
};
