// How the store opens its SQLite database. Its tables are the migrations of src/db/schema/store.ts,
// one description for both engines (docs/store.md "Migrations").
import type Database from 'better-sqlite3';
import { SchemaTooNewError } from '../../db/sqlite/migrate.js';
import { STORE_MODULE } from '../../db/schema/store.js';
import { openDatabase } from '../../db/sqlite/open.js';
import { StoreError } from '../types.js';
import { registeredMigrations } from './migrate.js';

/** How much of yubin.sqlite is read through a memory map (the rest, if any, through read()). */
const MMAP_BYTES = 1024 * 1024 * 1024;

/**
 * Opens (creating) yubin.sqlite and runs the store's migrations, then those of the modules that
 * registered theirs. Durable at COMMIT: the WAL is fsynced on every commit (group commit shares it).
 */
export function openStoreDatabase(path: string): Database.Database {
  try {
    const db = openDatabase(path, {
      synchronous: 'FULL',
      busyTimeoutMs: 10_000,
      foreignKeys: true,
      migrations: [STORE_MODULE, ...registeredMigrations()],
    });
    // Reads through a memory map of the file instead of a read() per page into SQLite's 2 MB
    // cache: small messages' bytes live in the database (blob_content, docs/store.md), and a FETCH of 1,000 of them
    // took 11-15 ms reading pages, 7-9 ms mapped (as from files through the reader thread).
    db.pragma(`mmap_size = ${MMAP_BYTES}`);
    return db;
  } catch (err) {
    if (err instanceof SchemaTooNewError) throw new StoreError('schema-too-new', err.message);
    throw err;
  }
}
