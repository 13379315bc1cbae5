// keyward in this process, on a real SQLite file and a real NATS server, for the end-to-end
// suites: what `npm start` runs, with the log captured so tests can read it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect, type NatsConnection } from 'nats';
import { systemClock, type AppContext } from '../../src/app/context.js';
import { startRelay, type Relay } from '../../src/relay/relay.js';
import { startScheduler, type RunningScheduler, type SchedulerClock } from '../../src/scheduler/scheduler.js';
import { Projector } from '../../src/app/projector.js';
import { SealingKey } from '../../src/crypto.js';
import { createLogger } from '../../src/log.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import type { EventStore } from '../../src/store/types.js';

export interface Answer {
  readonly ok: boolean;
  readonly result?: Record<string, unknown>;
  readonly error?: { code: string; message: string; details: { path: string; message: string }[] };
  /** The Nats-Service-Error-Code header, on failures. */
  readonly headerCode?: string;
}

/** The result of a reply that must have succeeded; the error it carried otherwise. */
export const ok = (a: Answer): Record<string, unknown> => {
  if (!a.ok || a.result === undefined) throw new Error(`expected success, got ${JSON.stringify(a.error)}`);
  return a.result;
};

export interface KeywardOptions {
  readonly prefix?: string;
  /** A data folder to open again (a restart); it is kept when this keyward stops. */
  readonly dir?: string;
  readonly masterKey?: SealingKey;
  /** The clock of every command, and of the scheduler, which runs only when a clock is given. */
  readonly clock?: SchedulerClock;
  readonly schedulerConcurrency?: number;
  /** The event store to run on (closed when keyward stops); a SQLite file in the data folder by default. */
  readonly store?: EventStore;
  /** Runs the relay in this process, sealing database passwords for proxy nodes under this key. */
  readonly proxyKey?: SealingKey;
}

export interface Keyward {
  readonly ctx: AppContext;
  readonly scheduler?: RunningScheduler;
  readonly relay?: Relay;
  readonly client: NatsConnection;
  readonly logs: string[];
  readonly dir: string;
  request(subject: string, body: unknown): Promise<Answer>;
  /** Every event in the store, for "nothing was recorded" checks. */
  eventCount(): Promise<number>;
  stop(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const startKeyward = async (natsUrl: string, options: string | KeywardOptions = {}): Promise<Keyward> => {
  const { prefix = 'keyward', dir: reopened, masterKey = SealingKey.generate(), clock, proxyKey, schedulerConcurrency, store: given } = typeof options === 'string' ? { prefix: options } : options;
  const dir = reopened ?? mkdtempSync(join(tmpdir(), 'keyward-e2e-'));
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const store = given ?? SqliteEventStore.open({ path: join(dir, 'keyward.db') });
  const projector = new Projector(store);
  projector.start();
  const ctx: AppContext = { store, masterKey, clock: clock === undefined ? systemClock : () => clock.now(), projector };
  const log = createLogger({ destination });
  const serviceConnection = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  const client = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  let service: RunningService | undefined;
  try {
    service = await startService({ nc: serviceConnection, prefix, ctx, log });
  } catch (e) {
    await Promise.allSettled([serviceConnection.close(), client.close(), projector.stop(), store.close()]);
    throw e;
  }
  const running = service;
  const relay = proxyKey === undefined ? undefined : startRelay({ store, nc: serviceConnection, prefix, masterKey, proxyKey, log });
  await relay?.ready;
  const scheduler = clock === undefined ? undefined : startScheduler({ ctx, log, clock, concurrency: schedulerConcurrency });
  await scheduler?.ready;
  let stopping: Promise<void> | undefined;
  return {
    ctx,
    scheduler,
    relay,
    client,
    logs,
    dir,
    request: async (subject, body) => {
      const msg = await client.request(`${prefix}.${subject}`, typeof body === 'string' || body instanceof Uint8Array ? body : encoder.encode(JSON.stringify(body)), { timeout: 5000 });
      const answer = JSON.parse(decoder.decode(msg.data)) as Answer;
      const headerCode = msg.headers?.get('Nats-Service-Error-Code');
      return headerCode === undefined || headerCode === '' ? answer : { ...answer, headerCode };
    },
    eventCount: async () => {
      let n = 0;
      for await (const _ of store.readAll()) n++;
      return n;
    },
    // Once, however many times it is asked: a test stops keyward itself, its cleanup again.
    stop: () => (stopping ??= (async () => {
      await scheduler?.stop();
      await running.stop();
      await relay?.stop();
      await Promise.allSettled([serviceConnection.drain(), client.close()]);
      await projector.stop();
      await store.close();
      if (reopened === undefined) rmSync(dir, { recursive: true, force: true });
    })()),
  };
};
