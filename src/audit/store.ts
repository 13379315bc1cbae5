// The store an audit reads: the one KEYWARD_STORE names, as the service would open it. An
// embedded store must already exist: opening a path that holds none would make an empty
// store there, and an audit of the wrong path would then report an empty, intact history.
import { existsSync } from 'node:fs';
import { ConfigError, describeStore, loadStoreSettings, type StoreSettings } from '../config.js';
import { openStore } from '../store/open.js';
import type { EventStore } from '../store/types.js';

/** The settings of the store to audit: ConfigError for an unusable KEYWARD_STORE, and for a store file that is not there (a wrong path, as for any setting). */
export const auditedStoreSettings = (env: NodeJS.ProcessEnv): StoreSettings => {
  const settings = loadStoreSettings(env);
  if (settings.kind === 'sqlite' && !existsSync(settings.path)) {
    throw new ConfigError([`there is no event store at ${settings.path}: set KEYWARD_STORE=sqlite:<path> (or an EventStoreDB connection string) to the store to audit`]);
  }
  return settings;
};

export const openAuditedStore = (env: NodeJS.ProcessEnv): { store: EventStore; name: string } => {
  const settings = auditedStoreSettings(env);
  return { store: openStore(settings), name: describeStore(settings) };
};
