// The store a setting names: the one place that knows every adapter.
import type { StoreSettings } from '../config.js';
import { EsdbEventStore } from './esdb/esdb-store.js';
import { SqliteEventStore } from './sqlite/sqlite-store.js';
import type { EventStore } from './types.js';

export const openStore = (settings: StoreSettings): EventStore =>
  settings.kind === 'sqlite'
    ? SqliteEventStore.open({ path: settings.path, synchronous: settings.synchronous })
    : EsdbEventStore.open({ connectionString: settings.connectionString });
