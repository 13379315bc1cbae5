// An in-memory EventStoreDB for tests, where no server can be installed: a gRPC server that
// answers @eventstore/db-client's Streams.Read and Streams.Append (and ServerFeatures) with
// EventStoreDB 23.10's semantics. See log.ts for the append rules, services.ts for reads and
// subscriptions. Not emulated: deleting or tombstoning streams, stream metadata and ACLs,
// BatchAppend, links, persistent subscriptions, projections, users, TLS and clusters.
import { setTimeout as sleep } from 'node:timers/promises';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { EventLog } from './log.js';
import { cutSubscriptions, featuresImplementation, featuresService, streamsImplementation, streamsService, type Emulated } from './services.js';

export interface EsdbEmulator {
  readonly port: number;
  /** Connection string for the client: `esdb://127.0.0.1:<port>?tls=false` */
  readonly url: string;
  /** Stops serving (connections fail, live subscriptions end with an error like a server going away); keeps the data. */
  stop(): Promise<void>;
  /** Serves again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops for good. */
  dispose(): Promise<void>;
}

const HOST = '127.0.0.1';
// A port just closed can take a moment to be free again.
const BIND_ATTEMPTS = 50;
const BIND_RETRY_MS = 20;
const GRACE_MS = 1000;

const bind = (server: Server, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    server.bindAsync(`${HOST}:${port}`, ServerCredentials.createInsecure(), (error, bound) => {
      if (error) reject(error);
      else resolve(bound);
    });
  });

interface Serving {
  readonly server: Server;
  readonly emulated: Emulated;
  readonly port: number;
}

const serve = async (log: EventLog, port: number): Promise<Serving> => {
  for (let attempt = 1; ; attempt++) {
    const emulated: Emulated = { log, live: new Set() };
    const server = new Server();
    server.addService(streamsService, streamsImplementation(emulated));
    server.addService(featuresService, featuresImplementation);
    try {
      return { server, emulated, port: await bind(server, port) };
    } catch (error) {
      server.forceShutdown();
      const inUse = error instanceof Error && error.message.includes('EADDRINUSE');
      if (port === 0 || !inUse || attempt >= BIND_ATTEMPTS) throw error;
      await sleep(BIND_RETRY_MS);
    }
  }
};

export const startEsdbEmulator = async (options: { port?: number } = {}): Promise<EsdbEmulator> => {
  const log = new EventLog();
  const first = await serve(log, options.port ?? 0);
  let serving: Serving | undefined = first;
  let disposed = false;
  const stop = async (): Promise<void> => {
    if (!serving) return;
    const { server, emulated } = serving;
    serving = undefined;
    // Live subscriptions get UNAVAILABLE, as from a server that goes away. A graceful
    // shutdown lets that status out and refuses new connections at once; forceShutdown then
    // cuts whatever is still open (alone it would cut the status off too: the client would
    // see CANCELLED).
    cutSubscriptions(emulated);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    server.forceShutdown();
  };
  return {
    port: first.port,
    url: `esdb://${HOST}:${first.port}?tls=false`,
    stop,
    start: async () => {
      if (disposed) throw new Error('the EventStoreDB emulator was disposed');
      serving ??= await serve(log, first.port);
    },
    dispose: () => {
      disposed = true;
      return stop();
    },
  };
};
