import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-store.js';
import { eventStoreContract } from '../contract/event-store.contract.js';

eventStoreContract('SQLite, on a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-contract-'));
  const store = SqliteEventStore.open({ path: join(dir, 'keyward.db') });
  return Promise.resolve({
    store,
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
});
