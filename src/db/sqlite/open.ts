// The one way Yubin opens an SQLite database: WAL journal, the durability each database needs,
// a busy timeout (the server and `yubin` CLI commands share the files), foreign keys where the
// schema relies on them, then the modules' numbered migrations (migrate.ts). On any failure the
// handle is closed before the error goes up.
import Database from 'better-sqlite3';
import { runMigrations, type ModuleMigrations } from './migrate.js';

export interface OpenOptions {
  /**
   * FULL: the WAL is fsynced at every COMMIT (nothing acknowledged is lost on power failure).
   * NORMAL: a power failure may undo the last commits (for data that can be redone).
   */
  synchronous: 'FULL' | 'NORMAL';
  /** How long a writer waits for another connection's lock before SQLITE_BUSY. */
  busyTimeoutMs: number;
  /** PRAGMA foreign_keys = ON (off by default in SQLite). */
  foreignKeys?: boolean;
  /** Run in this order at open. */
  migrations?: readonly ModuleMigrations[];
}

/** Opens (creating) the database file at `path`, sets its pragmas and migrates it. */
export function openDatabase(path: string, opts: OpenOptions): Database.Database {
  const db = new Database(path, { timeout: opts.busyTimeoutMs });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous}`);
    // Temporary data stays in memory: the statement journal of a group commit's savepoints (the
    // earlier images of pages the batch's previous jobs changed) spilled to a file in /var/tmp past
    // 64 KiB, which SQLite created, wrote and unlinked on the main thread, about 0.6 files per
    // message in the SMTP ingest bench (strace -k: memjrnlWrite -> unixOpen).
    db.pragma('temp_store = MEMORY');
    if (opts.foreignKeys) db.pragma('foreign_keys = ON');
    let applied = 0;
    for (const spec of opts.migrations ?? []) applied += runMigrations(db, spec, path).length;
    // A migration that rewrote tables (store 8) left a WAL as large as what it wrote: copy it into
    // the database and truncate it now, not at the first checkpoint under load. (Busy readers in
    // another process make it a partial checkpoint: harmless.)
    if (applied > 0 && !db.memory) db.pragma('wal_checkpoint(TRUNCATE)');
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Runs `fn` in a write transaction (BEGIN IMMEDIATE) committed with synchronous=NORMAL: in WAL mode
 * a power failure may undo it, so only for changes that are redone or harmless when lost (delivery
 * state of the queue, deleting unreferenced blobs). The database's own setting comes back after.
 */
export function relaxedTransaction<T>(db: Database.Database, fn: () => T): T {
  const before = db.pragma('synchronous', { simple: true }) as number;
  db.pragma('synchronous = NORMAL');
  try {
    return db.transaction(fn).immediate();
  } finally {
    db.pragma(`synchronous = ${before}`);
  }
}
