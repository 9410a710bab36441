// The checks' own small database, data_dir/checks.sqlite: greylisting triplets, per-user spam
// thresholds and the users' Junk verdicts. Kept apart from the Store, whose schema is not ours.
// Opened once per data_dir (through src/db/sqlite/) and shared by every check of the process.
// synchronous=NORMAL: a power failure may lose the last greylist or verdict rows, which only
// means a sender is greylisted again or a verdict is not counted.
import type Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKS_MODULE } from '../db/schema/checks.js';
import { openDatabase } from '../db/sqlite/open.js';

export type ChecksDb = Database.Database;

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
    // Numbered migrations (src/db/schema/checks.ts).
    migrations: [CHECKS_MODULE],
  });
  open.set(path, db);
  return db;
}

/** Closes every checks database this process opened (tests, shutdown). */
export function closeChecksDbs(): void {
  for (const db of open.values()) if (db.open) db.close();
  open.clear();
}
