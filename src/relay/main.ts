// `keyward relay`: the relay alone, for running it apart from the service (the same
// settings as the service; KEYWARD_RELAY does not apply here).
import { connect } from 'nats';
import { ConfigError, loadServiceConfig, natsServers } from '../config.js';
import { createLogger } from '../log.js';
import { openStore } from '../store/open.js';
import { untilStopped } from '../stopped.js';
import { startRelay } from './relay.js';

export const runRelay = async (env: NodeJS.ProcessEnv): Promise<number> => {
  let config;
  try {
    config = loadServiceConfig({ ...env, KEYWARD_RELAY: 'on' });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`keyward relay: ${e.explain()}\n`);
    return 1;
  }
  const relaySettings = config.relay;
  if (relaySettings === null) return 1;
  const log = createLogger({ level: config.logLevel });
  const nc = await connect({ ...config.natsAuth, servers: natsServers(config.natsUrl), name: 'keyward-relay', timeout: 3000, maxReconnectAttempts: -1, reconnectTimeWait: 500 }).catch(() => undefined);
  if (nc === undefined) {
    process.stderr.write(`keyward relay: no NATS server answers at ${config.natsUrl} (set KEYWARD_NATS_URL, or start one: nats-server -js)\n`);
    return 1;
  }
  const store = openStore(config.store);
  const relay = startRelay({ store, nc, prefix: config.prefix, masterKey: config.masterKey.key, proxyKey: relaySettings.proxyKey.key, log, replicas: relaySettings.replicas });
  await relay.ready;
  log.info({ position: relay.position() ?? null }, 'relay ready');
  await untilStopped();
  await relay.stop();
  await nc.drain();
  await store.close();
  return 0;
};
