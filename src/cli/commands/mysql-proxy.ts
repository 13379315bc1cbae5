// `keyward proxy --instance ID`: the endpoint users connect to. A proxy node follows the
// instance's keys; MySQL clients log in with their AccessKey pair and are relayed to the
// database with the grant's account; programs without a MySQL driver POST SQL over HTTPS.
// Every login and statement goes to the SQL audit stream. Runs until SIGTERM or SIGINT.
import { readFileSync } from 'node:fs';
import { connect } from 'nats';
import { InstanceId } from '../../../domain/index.js';
import { createLogger } from '../../log.js';
import { ensureSqlAuditStream, sqlAuditLog } from '../../mysql-proxy/audit-log.js';
import { startSqlEndpoint, type SqlEndpoint } from '../../mysql-proxy/http-sql.js';
import { startMysqlProxy, type MysqlProxy } from '../../mysql-proxy/proxy.js';
import { startProxyNode } from '../../proxy-node/index.js';
import { startHttpServer, type HttpServer } from '../../service/http.js';
import { Registry } from '../../service/metrics.js';
import { untilStopped } from '../../stopped.js';
import { settingsOr, type CliCommand } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { flagHelp, parseFlags, UsageError, type Flag } from '../flags.js';
import type { Io } from '../io.js';
import { NODE_FLAGS, nodeSettingsFrom } from './proxy-node.js';

const FLAGS: readonly Flag[] = [
  { name: 'instance', value: 'ID', help: 'the instance this proxy fronts (required)' },
  { name: 'listen', value: 'HOST:PORT', help: 'where MySQL clients connect (default 127.0.0.1:3307)' },
  { name: 'database', value: 'HOST:PORT', help: 'the MySQL or MariaDB server behind the proxy (default 127.0.0.1:3306)' },
  { name: 'https', value: 'HOST:PORT', help: 'also serve POST /v1/sql here (needs --tls-cert and --tls-key, or --plain-http)' },
  { name: 'tls-cert', value: 'FILE', help: 'PEM certificate: MySQL clients must then use TLS, and the SQL endpoint is HTTPS' },
  { name: 'tls-key', value: 'FILE', help: 'its PEM private key' },
  { name: 'plain-http', help: 'serve the SQL endpoint over plain HTTP, for local use only (the AccessSecret travels in the clear)' },
  { name: 'metrics', value: 'HOST:PORT', help: 'serve /healthz and /metrics here (default 127.0.0.1:9465; off to disable)' },
  ...NODE_FLAGS,
  { name: 'help', help: 'show this help' },
];

interface Address {
  readonly host: string;
  readonly port: number;
}

// HOST:PORT split at the last colon, so an IPv6 host in brackets keeps its own.
const addressOf = (flag: string, text: string): Address => {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(at + 1));
  if (at <= 0 || host === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--${flag} must be HOST:PORT, like 127.0.0.1:3307`);
  return { host, port };
};

const readPem = (flag: string, path: string): Buffer => {
  try {
    return readFileSync(path);
  } catch {
    throw new UsageError(`--${flag}: cannot read ${path}`);
  }
};

const settingsFrom = (argv: readonly string[], env: NodeJS.ProcessEnv) => {
  const args = parseFlags(FLAGS, argv);
  const instanceId = args.text('instance');
  if (instanceId === undefined) throw new UsageError('give --instance ID: the instance this proxy fronts');
  if (!InstanceId.is(instanceId)) throw new UsageError('--instance must be 1–64 characters of A–Z, a–z, 0–9, _ or -');
  const certFile = args.text('tls-cert');
  const keyFile = args.text('tls-key');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('give --tls-cert and --tls-key together');
  const tls = certFile === undefined || keyFile === undefined ? undefined : { cert: readPem('tls-cert', certFile), key: readPem('tls-key', keyFile) };
  const httpsText = args.text('https');
  const plainHttp = args.switch('plain-http');
  if (httpsText !== undefined && tls === undefined && !plainHttp) throw new UsageError('--https needs --tls-cert and --tls-key (or --plain-http, for local use only)');
  if (plainHttp && httpsText === undefined) throw new UsageError('--plain-http is about the SQL endpoint: give --https HOST:PORT too');
  const metricsText = args.text('metrics') ?? '127.0.0.1:9465';
  return {
    instanceId,
    listen: addressOf('listen', args.text('listen') ?? '127.0.0.1:3307'),
    database: addressOf('database', args.text('database') ?? '127.0.0.1:3306'),
    https: httpsText === undefined ? undefined : addressOf('https', httpsText),
    metrics: metricsText === 'off' ? undefined : addressOf('metrics', metricsText),
    tls,
    ...nodeSettingsFrom(args, env),
  };
};

const run = async (argv: readonly string[], io: Io): Promise<number> => {
  const parsed = settingsOr(io, 'keyward proxy', () => settingsFrom(argv, io.env));
  if ('exit' in parsed) return parsed.exit;
  const settings = parsed.settings;
  const { instanceId, logLevel, servers, natsAuth, prefix, nodeId, stalenessMs, proxyKey, tls } = settings;
  const log = createLogger({ level: logLevel, destination: process.stderr });
  const stopped = untilStopped();
  const nc = await connect({ ...natsAuth, servers, maxReconnectAttempts: -1, reconnectTimeWait: 500, name: 'keyward-proxy' }).catch((e: unknown) => e as Error);
  if (nc instanceof Error) {
    log.error({ err: nc.message }, 'keyward proxy: NATS cannot be reached');
    return ExitCode.FAILED;
  }
  const node = startProxyNode({ instances: [instanceId], proxyKey, connection: nc, prefix, nodeId, stalenessMs, logger: log });
  const audit = sqlAuditLog(nc, prefix);
  let mysqlProxy: MysqlProxy | undefined;
  let sql: SqlEndpoint | undefined;
  let http: HttpServer | undefined;
  const stop = async (): Promise<void> => {
    await Promise.allSettled([mysqlProxy?.close(), sql?.close(), http?.close()]);
    await node.close();
    audit.flush();
    await nc.drain().catch(() => undefined);
  };
  try {
    await ensureSqlAuditStream(await nc.jetstreamManager(), prefix);
    mysqlProxy = await startMysqlProxy({ node, instanceId, database: settings.database, listen: settings.listen, tls, audit, log });
    if (settings.https !== undefined) sql = await startSqlEndpoint({ node, instanceId, database: settings.database, listen: settings.https, tls, audit, log });
    if (settings.metrics !== undefined) {
      const running = mysqlProxy;
      const endpoint = sql;
      http = await startHttpServer({
        host: settings.metrics.host,
        port: settings.metrics.port,
        health: () => {
          const m = node.metrics();
          return Promise.resolve({ ok: m.ready && !m.stale, details: { ready: m.ready, stale: m.stale, connected: m.connected, sessions: running.counts().open } });
        },
        metrics: () => renderMetrics(running, endpoint, node.metrics().activeKeys, audit.counts()),
        onError: (e) => { log.error({ err: e instanceof Error ? e.message : String(e) }, 'keyward proxy: a health check or metrics render failed'); },
      });
    }
  } catch (e) {
    log.error({ err: e instanceof Error ? e.message : String(e) }, 'keyward proxy did not start');
    await stop();
    return ExitCode.FAILED;
  }
  const where = (a: { port: number } | undefined, host: string | undefined) => (a === undefined || host === undefined ? null : `${host}:${a.port}`);
  const listening = { mysql: where(mysqlProxy, settings.listen.host), sql: where(sql, settings.https?.host), metrics: where(http, settings.metrics?.host) };
  log.info({ instanceId, ...listening, database: `${settings.database.host}:${settings.database.port}`, tls: tls !== undefined }, 'keyward proxy listening');
  node.ready.then(
    () => { io.stdout(`proxy ready ${JSON.stringify(listening)}`); },
    (e: unknown) => { log.error({ err: e instanceof Error ? e.message : String(e) }, 'proxy node did not start'); },
  );
  const signal = await stopped;
  log.info({ signal }, 'keyward proxy stopping');
  await stop();
  return ExitCode.OK;
};

// A registry made afresh for each scrape from the running totals: the counters live in the
// proxy and the endpoint, which count whether or not anyone scrapes.
const renderMetrics = (proxy: MysqlProxy, sql: SqlEndpoint | undefined, activeKeys: number, audit: { published: number; failed: number }): string => {
  const registry = new Registry();
  const counts = proxy.counts();
  const logins = registry.counter('keyward_proxy_logins_total', 'Logins by protocol and outcome: ok, or why it was refused', ['via', 'outcome']);
  for (const [outcome, n] of Object.entries(counts.logins)) logins.inc({ via: 'mysql', outcome }, n);
  const statements = registry.counter('keyward_proxy_statements_total', 'Statements by protocol, command and outcome', ['via', 'command', 'outcome']);
  for (const [key, n] of Object.entries(counts.statements)) {
    const [command = '', outcome = ''] = key.split('/');
    statements.inc({ via: 'mysql', command, outcome }, n);
  }
  registry.counter('keyward_proxy_connections_total', 'MySQL client connections accepted', []).inc({}, counts.connections);
  registry.gauge('keyward_proxy_sessions', 'MySQL sessions open').set(counts.open);
  const closed = registry.counter('keyward_proxy_sessions_closed_total', 'MySQL sessions ended, by why', ['reason']);
  for (const [reason, n] of Object.entries(counts.closed)) closed.inc({ reason }, n);
  if (sql !== undefined) {
    const c = sql.counts();
    logins.inc({ via: 'https', outcome: 'ok' }, c.requests - Object.values(c.refused).reduce((a, b) => a + b, 0));
    for (const [outcome, n] of Object.entries(c.refused)) logins.inc({ via: 'https', outcome }, n);
    statements.inc({ via: 'https', command: 'query', outcome: 'ok' }, c.statements - c.failed);
    statements.inc({ via: 'https', command: 'query', outcome: 'error' }, c.failed);
  }
  registry.gauge('keyward_proxy_active_keys', 'Valid keys the proxy node holds for this instance').set(activeKeys);
  const records = registry.counter('keyward_proxy_audit_records_total', 'SQL audit records handed to NATS, and those it refused', ['outcome']);
  records.inc({ outcome: 'published' }, audit.published);
  records.inc({ outcome: 'failed' }, audit.failed);
  return registry.render();
};

export const MYSQL_PROXY: CliCommand = {
  words: ['proxy'],
  group: 'Proxy nodes',
  summary: 'run the proxy users connect to: MySQL protocol (and SQL over HTTPS) in front of one instance',
  help: () =>
    [
      'keyward proxy: run the proxy of one instance until SIGTERM or SIGINT',
      '',
      'Usage: keyward proxy --instance ID [--listen HOST:PORT] [--database HOST:PORT] [--https HOST:PORT]',
      '         [--tls-cert FILE --tls-key FILE] [--plain-http] [--metrics HOST:PORT|off] [--nats URL] [--prefix P]',
      '',
      'MySQL clients connect with the AccessID as user name and the AccessSecret as password',
      '(mysql_native_password); the proxy logs in to the database with the grant\'s account and relays.',
      'KEYWARD_PROXY_KEY (required) is the proxy sealing key (32 bytes of base64) that opens the',
      "grants' database passwords. stdout: 'proxy ready {...}' with the addresses once the keys are",
      'loaded. Logs (pino JSON, KEYWARD_LOG_LEVEL) go to stderr. Logins and statements are recorded',
      'on the SQL audit stream (keyward audit statements reads it).',
      '',
      'Flags:',
      flagHelp(FLAGS),
    ].join('\n'),
  run,
};
