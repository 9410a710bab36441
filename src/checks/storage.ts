// data_dir/checks.sqlite as the server's checks use it, opened on first use (a server whose checks
// never need it never creates it). The server builds one and hands it to the checks and to the
// Junk verdict observer (junk-verdicts.ts): no protocol code reaches for the database itself.
import type { Logger } from '../log/logger.js';
import { openChecksDb, type ChecksDb } from './db.js';
import type { SpamPrefs } from './spam.js';
import { openSpamPrefs } from './spam-prefs.js';

export interface ChecksStorage {
  /** The database (greylisting); throws when it cannot be opened. */
  db(): ChecksDb;
  /** Per-user spam thresholds and the Junk verdict log; null (logged once) when the database cannot be opened. */
  spamPrefs(): SpamPrefs | null;
}

export function createChecksStorage(dataDir: string, logger: Logger): ChecksStorage {
  let unavailable = false;
  return {
    db: () => openChecksDb(dataDir),
    spamPrefs() {
      if (unavailable) return null;
      try {
        // Cheap after the first call: openChecksDb and openSpamPrefs keep one of each per database.
        return openSpamPrefs(dataDir);
      } catch (err) {
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'checks database unavailable: per-user spam thresholds and Junk verdicts ignored');
        unavailable = true;
        return null;
      }
    },
  };
}
