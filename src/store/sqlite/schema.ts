// How the store opens its SQLite database. Its tables are the migrations of src/db/schema/store.ts,
// one description for both engines (docs/store.md "Migrations").
import type Database from 'better-sqlite3';
import { SchemaTooNewError } from '../../db/sqlite/migrate.js';
import { STORE_MODULE } from '../../db/schema/store.js';
import { openDatabase } from '../../db/sqlite/open.js';
import { StoreError } from '../types.js';
import { registeredMigrations } from './migrate.js';

/**
 * Opens (creating) yubin.sqlite and runs the store's migrations, then those of the modules that
 * registered theirs. Durable at COMMIT: the WAL is fsynced on every commit (group commit shares it).
 */
export function openStoreDatabase(path: string): Database.Database {
  try {
    return openDatabase(path, {
      synchronous: 'FULL',
      busyTimeoutMs: 10_000,
      foreignKeys: true,
      migrations: [STORE_MODULE, ...registeredMigrations()],
    });
  } catch (err) {
    if (err instanceof SchemaTooNewError) throw new StoreError('schema-too-new', err.message);
    throw err;
  }
}
