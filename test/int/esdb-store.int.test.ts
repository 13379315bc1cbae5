// The EventStoreDB adapter: the store contract against the test emulator (and against a real
// EventStoreDB when KEYWARD_TEST_ESDB names one), then the faults a server going away causes.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EsdbEventStore } from '../../src/store/esdb/esdb-store.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { ExpectedRevision, type StoredEvent } from '../../src/store/types.js';
import { eventStoreContract } from '../contract/event-store.contract.js';
import { withCleanups } from '../support/cleanups.js';
import { startEsdbEmulator } from '../support/esdb-emulator/index.js';

eventStoreContract('EventStoreDB adapter, on the test emulator', async () => {
  const emulator = await startEsdbEmulator();
  const store = EsdbEventStore.open({ connectionString: emulator.url });
  return {
    store,
    dispose: async () => {
      await store.close();
      await emulator.dispose();
    },
  };
});

const real = process.env.KEYWARD_TEST_ESDB;
if (real === undefined || real === '') {
  process.stdout.write('EventStoreDB contract on a real server skipped: set KEYWARD_TEST_ESDB to a connection string (esdb://localhost:2113?tls=false) to run it\n');
} else {
  // A namespace per test: the server is shared and keeps every earlier run's events.
  eventStoreContract(`EventStoreDB adapter, on ${real.replace(/\/\/[^@/]*@/, '//')}`, () => {
    const store = EsdbEventStore.open({ connectionString: real, namespace: `kwtest-${randomUUID().slice(0, 8)}.` });
    return Promise.resolve({ store, dispose: () => store.close() });
  });
}

const cleanups = withCleanups();

const event = (n: number) => ({ id: randomUUID(), type: 'Tested', data: { n }, metadata: { by: 'fault-test' } });

describe('EventStoreDB adapter faults, on the emulator', () => {
  it('a server that goes away and comes back: appends in between are refused as unavailable; a live subscription misses nothing and repeats nothing', async () => {
    const emulator = await startEsdbEmulator();
    cleanups.push(() => emulator.dispose());
    const store = EsdbEventStore.open({ connectionString: emulator.url, resubscribeMs: 20 });
    cleanups.push(() => store.close());

    const seen: StoredEvent[] = [];
    const subscription = store.subscribe();
    cleanups.push(() => subscription.close());
    const following = (async () => {
      for await (const e of subscription) {
        seen.push(e);
        if (seen.length === 200) return;
      }
    })();

    for (let i = 0; i < 100; i++) await store.append(`s-${i}`, [event(i)], ExpectedRevision.noStream);
    await emulator.stop();
    await expect(store.append('s-down', [event(-1)], ExpectedRevision.noStream)).rejects.toBeInstanceOf(StoreUnavailableError);
    await emulator.start();
    for (let i = 100; i < 200; i++) {
      // The client may need a moment to reconnect: what it refuses meanwhile is tried again.
      for (let attempt = 0; ; attempt++) {
        try {
          await store.append(`s-${i}`, [event(i)], ExpectedRevision.noStream);
          break;
        } catch (e) {
          if (!(e instanceof StoreUnavailableError) || attempt > 50) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    await following;
    expect(seen.map((e) => (e.data as { n: number }).n)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(new Set(seen.map((e) => e.id)).size).toBe(200);
    for (let i = 1; i < seen.length; i++) expect(store.comparePositions(seen[i - 1]?.position ?? '', seen[i]?.position ?? '')).toBeLessThan(0);
    expect((await store.readStream('s-down'))).toEqual([]);
  }, 60_000);
});
