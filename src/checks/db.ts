// The checks' own small database, data_dir/checks.sqlite: greylisting triplets, per-user spam
// thresholds and the users' Junk verdicts. Kept apart from the Store, whose schema is not ours.
// Opened once per data_dir and shared by every check of the process.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type ChecksDb = Database.Database;

const SCHEMA_VERSION = 1;

const MIGRATIONS: string[] = [
  `CREATE TABLE greylist (
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
   CREATE INDEX verdicts_account ON verdicts (account, at);`,
];

const open = new Map<string, ChecksDb>();

/** Opens (or returns the already open) data_dir/checks.sqlite, migrating it. */
export function openChecksDb(dataDir: string): ChecksDb {
  const path = join(dataDir, 'checks.sqlite');
  const existing = open.get(path);
  if (existing && existing.open) return existing;
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new Error(`${path}: written by a newer Yubin (schema ${version} > ${SCHEMA_VERSION})`);
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  open.set(path, db);
  return db;
}

/** Closes every checks database this process opened (tests, shutdown). */
export function closeChecksDbs(): void {
  for (const db of open.values()) if (db.open) db.close();
  open.clear();
}
