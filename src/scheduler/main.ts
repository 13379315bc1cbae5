// `keyward scheduler`: the scheduler alone, for running it apart from the service (the same
// settings; KEYWARD_SCHEDULER does not apply here). It needs the event store and the master
// key (a rotation seals the new secret), not NATS: the relay carries its changes to proxy nodes.
import { Projector } from '../app/projector.js';
import { systemClock } from '../app/context.js';
import { ConfigError, describeStore, loadServiceConfig } from '../config.js';
import { createLogger } from '../log.js';
import { openStore } from '../store/open.js';
import { untilStopped } from '../stopped.js';
import { health } from '../service/health.js';
import { startHttpServer } from '../service/http.js';
import { createServiceMetrics } from '../service/metrics.js';
import { startScheduler } from './scheduler.js';

export const runScheduler = async (env: NodeJS.ProcessEnv): Promise<number> => {
  let config;
  try {
    config = loadServiceConfig({ ...env, KEYWARD_RELAY: 'off', KEYWARD_SCHEDULER: 'on' });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`keyward scheduler: ${e.explain()}\n`);
    return 1;
  }
  const log = createLogger({ level: config.logLevel });
  if (config.masterKey.warning !== undefined) log.warn(config.masterKey.warning);
  const store = openStore(config.store);
  const projector = new Projector(store);
  projector.start();
  const ctx = { store, masterKey: config.masterKey.key, clock: systemClock, projector };
  const metrics = createServiceMetrics();
  const scheduler = startScheduler({
    ctx,
    log,
    observe: (kind, outcome, lateSeconds) => {
      metrics.scheduled.inc({ kind, outcome });
      if (outcome !== 'failed') metrics.scheduledLateness.observe({ kind }, lateSeconds);
    },
  });
  // The same /healthz and /metrics as the service (KEYWARD_HTTP_PORT), without NATS in the health.
  const http =
    config.httpPort === null
      ? undefined
      : await startHttpServer({
          port: config.httpPort,
          health: () => health(ctx),
          metrics: () => metrics.render(),
          onError: (e) => {
            log.error({ err: e instanceof Error ? e.message : String(e) }, 'health or metrics failed');
          },
        });
  await scheduler.ready;
  log.info({ store: describeStore(config.store), http: http?.port ?? 'off' }, 'scheduler ready: following the schedule');
  await untilStopped();
  await scheduler.stop();
  await http?.close();
  await projector.stop();
  await store.close();
  log.info('scheduler stopped');
  return 0;
};
