// The per-user spam thresholds and the Junk verdict log, in data_dir/checks.sqlite (db.ts); with
// the PostgreSQL store they are in the shared database instead (state/spam.ts, chosen by storage.ts).
import { openChecksDb, type ChecksDb } from './db.js';
import { createSpamPrefs, type SyncSpamPrefs } from './spam.js';

const spamPrefsByDb = new WeakMap<ChecksDb, SyncSpamPrefs>();

/** The per-user spam threshold and Junk verdict log (data_dir/checks.sqlite), for the CLI and the server's checks (storage.ts). */
export function openSpamPrefs(dataDir: string): SyncSpamPrefs {
  // One SpamPrefs (prepared statements) per open database.
  const db = openChecksDb(dataDir);
  let prefs = spamPrefsByDb.get(db);
  if (!prefs) spamPrefsByDb.set(db, (prefs = createSpamPrefs(db)));
  return prefs;
}
