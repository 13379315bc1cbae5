// Versioned schema of the embedded store. PRAGMA user_version holds the version a file is
// at; each entry below moves a file one version up, inside one transaction.
import type { Database } from 'better-sqlite3';
import { StoreIncompatibleError } from '../errors.js';

/** Marks the file as keyward's ("KWrd"), so a stranger's SQLite file is never migrated. */
export const APPLICATION_ID = 0x4b577264;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     -- AUTOINCREMENT: positions never go back, even if rows were ever removed.
     position  INTEGER PRIMARY KEY AUTOINCREMENT,
     event_id  TEXT    NOT NULL,
     stream_id TEXT    NOT NULL,
     category  TEXT    NOT NULL,
     revision  INTEGER NOT NULL,
     type      TEXT    NOT NULL,
     data      TEXT    NOT NULL,
     metadata  TEXT    NOT NULL,
     UNIQUE (stream_id, revision)
   );
   CREATE INDEX events_by_category ON events (category, position);
   CREATE INDEX events_by_id ON events (event_id);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

const check = (db: Database, path: string): number => {
  const version = db.pragma('user_version', { simple: true }) as number;
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new StoreIncompatibleError(`${path} was written by a newer keyward (schema ${version}; this one knows up to ${SCHEMA_VERSION})`);
  }
  if (appId !== APPLICATION_ID) {
    const tables = db.prepare(`SELECT count(*) AS n FROM sqlite_master`).get() as { n: number };
    if (appId !== 0 || tables.n > 0) throw new StoreIncompatibleError(`${path} is an SQLite file, but not a keyward event store`);
  }
  return version;
};

export const migrate = (db: Database, path: string): void => {
  if (check(db, path) === SCHEMA_VERSION) return;
  db.transaction(() => {
    // Checked again under the write lock: another process may have migrated the file since.
    const version = check(db, path);
    for (const sql of MIGRATIONS.slice(version)) db.exec(sql);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
};
