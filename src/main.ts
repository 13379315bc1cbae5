// `npm start`: the keyward service on the settings of the environment (embedded defaults:
// SQLite under ./data, NATS at nats://127.0.0.1:4222).
import { connect, NatsError, type NatsConnection } from 'nats';
import { Projector } from './app/projector.js';
import { systemClock } from './app/context.js';
import { ConfigError, describeStore, loadServiceConfig, natsServers } from './config.js';
import { createLogger } from './log.js';
import { health } from './service/health.js';
import { startHttpServer } from './service/http.js';
import { createServiceMetrics } from './service/metrics.js';
import { startService } from './service/service.js';
import { startRelay } from './relay/relay.js';
import { startScheduler } from './scheduler/scheduler.js';
import { openStore } from './store/open.js';
import { startConsole, type RunningConsole } from './console/server.js';

const fail = (message: string): never => {
  process.stderr.write(`keyward: ${message}\n`);
  process.exit(1);
};

const config = (() => {
  try {
    return loadServiceConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.explain());
    throw e;
  }
})();

const log = createLogger({ level: config.logLevel });
if (config.masterKey.warning !== undefined) log.warn(config.masterKey.warning);

const nc: NatsConnection = await connect({ ...config.natsAuth, servers: natsServers(config.natsUrl), name: 'keyward', timeout: 3000, maxReconnectAttempts: -1, reconnectTimeWait: 500 }).catch((e: unknown) =>
  fail(
    e instanceof NatsError && e.isAuthError()
      ? `the NATS server at ${config.natsUrl} refused keyward's credentials (${e.code}): check KEYWARD_NATS_CREDS, KEYWARD_NATS_USER and KEYWARD_NATS_PASSWORD, or KEYWARD_NATS_TOKEN`
      : `no NATS server answers at ${config.natsUrl} (set KEYWARD_NATS_URL, or start one: nats-server -js)`,
  ),
);

const store = openStore(config.store);
const projector = new Projector(store);
projector.start();
const ctx = { store, masterKey: config.masterKey.key, clock: systemClock, projector };
const metrics = createServiceMetrics();
const service = await startService({
  nc,
  prefix: config.prefix,
  ctx,
  log,
  observe: ({ endpoint, outcome, seconds }) => {
    metrics.commands.inc({ subject: endpoint, outcome });
    metrics.commandDuration.observe({ subject: endpoint }, seconds);
  },
});
const http =
  config.httpPort === null
    ? undefined
    : await startHttpServer({
        port: config.httpPort,
        health: () => health(ctx, nc),
        metrics: () => {
          if (projector.position !== undefined) metrics.storePositionApplied(projector.position);
          return metrics.render();
        },
        onError: (e) => {
          log.error({ err: e instanceof Error ? e.message : String(e) }, 'health or metrics failed');
        },
      });
const relay =
  config.relay === null
    ? undefined
    : startRelay({ store, nc, prefix: config.prefix, masterKey: config.masterKey.key, proxyKey: config.relay.proxyKey.key, log, replicas: config.relay.replicas });
const scheduler = config.scheduler
  ? startScheduler({
      ctx,
      log,
      observe: (kind, outcome, lateSeconds) => {
        metrics.scheduled.inc({ kind, outcome });
        if (outcome !== 'failed') metrics.scheduledLateness.observe({ kind }, lateSeconds);
      },
    })
  : undefined;
// The console is an add-on: a port it cannot have is logged, and the service serves on.
const consoleServer: RunningConsole | undefined =
  config.console === null
    ? undefined
    : await startConsole({ nc, prefix: config.prefix, listen: config.console, accountsFile: config.console.accountsFile, trustedHeaders: config.console.trustedHeaders, store, log }).catch((e: unknown) => {
        log.error({ err: e instanceof Error ? e.message : String(e), console: `${config.console?.host ?? ''}:${config.console?.port ?? ''}` }, 'the console could not start');
        return undefined;
      });
if (config.relay?.proxyKey.warning !== undefined) log.warn(config.relay.proxyKey.warning);
relay?.ready.then(
  () => {
    log.info({ position: relay.position() ?? null }, 'relay: KV reconciled, following the store');
  },
  (e: unknown) => {
    log.error({ err: e instanceof Error ? e.message : String(e) }, 'relay could not start');
  },
);
log.info({ nats: config.natsUrl, prefix: config.prefix, store: describeStore(config.store), http: http?.port ?? 'off', relay: relay === undefined ? 'off' : 'on', scheduler: scheduler === undefined ? 'off' : 'on', console: consoleServer === undefined ? 'off' : `${config.console?.host ?? ''}:${consoleServer.port}` }, 'keyward is serving');

void (async () => {
  for await (const status of nc.status()) log.info({ nats: status.type, data: typeof status.data === 'string' ? status.data : undefined }, 'nats connection');
})();

let stopping = false;
const shutdown = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping: no new requests, finishing those in flight');
  await scheduler?.stop();
  await service.stop();
  await relay?.stop();
  await http?.close();
  await consoleServer?.close();
  await nc.drain();
  await projector.stop();
  await store.close();
  log.info('stopped');
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
