// The walk-through on EventStoreDB: keyward on the adapter, talking to the test emulator.
import { EsdbEventStore } from '../../src/store/esdb/esdb-store.js';
import { startEsdbEmulator } from '../support/esdb-emulator/index.js';
import { walkthrough } from './walkthrough.js';

walkthrough('on EventStoreDB (the test emulator)', async () => {
  const emulator = await startEsdbEmulator();
  return { store: EsdbEventStore.open({ connectionString: emulator.url }), dispose: () => emulator.dispose() };
});
