// The checks' own small database, data_dir/checks.sqlite: greylisting triplets, per-user spam
// thresholds and the users' Junk verdicts. Kept apart from the Store, whose schema is not ours.
// Opened once per data_dir (through src/db/sqlite/) and shared by every check of the process.
// synchronous=NORMAL: a power failure may lose the last greylist or verdict rows, which only
// means a sender is greylisted again or a verdict is not counted.
import type Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Migration } from '../db/sqlite/migrate.js';
import { openDatabase } from '../db/sqlite/open.js';

export type ChecksDb = Database.Database;

// Numbered (src/db/sqlite/migrate.ts). Version 1 was counted in PRAGMA user_version before
// schema_migrations.
export const CHECKS_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'greylist, spam thresholds, verdicts',
    up: (db) =>
      db.exec(`CREATE TABLE greylist (
     net TEXT NOT NULL, sender TEXT NOT NULL, rcpt TEXT NOT NULL,
     first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, passed_at INTEGER,
     PRIMARY KEY (net, sender, rcpt)) WITHOUT ROWID;
   CREATE TABLE greylist_known (
     net TEXT NOT NULL, sender_domain TEXT NOT NULL, last_seen INTEGER NOT NULL,
     PRIMARY KEY (net, sender_domain)) WITHOUT ROWID;
   CREATE TABLE spam_threshold (address TEXT PRIMARY KEY, threshold REAL NOT NULL) WITHOUT ROWID;
   CREATE TABLE verdicts (
     id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, blob_id TEXT NOT NULL,
     verdict TEXT NOT NULL CHECK (verdict IN ('spam', 'ham')), at INTEGER NOT NULL);
   CREATE INDEX verdicts_account ON verdicts (account, at);`),
  },
];

const open = new Map<string, ChecksDb>();

/** Opens (or returns the already open) data_dir/checks.sqlite, migrating it. */
export function openChecksDb(dataDir: string): ChecksDb {
  const path = join(dataDir, 'checks.sqlite');
  const existing = open.get(path);
  if (existing && existing.open) return existing;
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(path, {
    synchronous: 'NORMAL',
    busyTimeoutMs: 5000,
    migrations: [{ module: 'checks', migrations: CHECKS_MIGRATIONS, legacyUserVersion: true }],
  });
  open.set(path, db);
  return db;
}

/** Closes every checks database this process opened (tests, shutdown). */
export function closeChecksDbs(): void {
  for (const db of open.values()) if (db.open) db.close();
  open.clear();
}
