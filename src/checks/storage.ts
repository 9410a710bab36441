// Where the checks keep their state, as the server uses it. With the SQLite store: data_dir/checks.sqlite,
// opened on first use (a server whose checks never need it never creates it), and the rate-limit
// counters in memory. With the PostgreSQL store: greylisting, rate-limit counters, spam thresholds
// and Junk verdicts in the shared database (state/postgres.ts, state/spam.ts), so every node sees
// the same triplets, counts and preferences. The server builds
// one and hands it to the checks and to the Junk verdict observer (junk-verdicts.ts): no protocol
// code reaches for a database itself.
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/types.js';
import { PostgresStore } from '../store/postgres/store.js';
import { openChecksDb, type ChecksDb } from './db.js';
import type { SpamPrefs } from './spam.js';
import { openSpamPrefs } from './spam-prefs.js';
import { createGreylist, greylistOver, type Greylist, type GreylistOptions } from './greylist.js';
import { createRateLimiter, rateLimiterOver, type RateLimiter } from './ratelimit.js';
import { pgGreylistRows, pgRateBuckets } from './state/postgres.js';
import { pgSpamPrefs, type PgSpamPrefs } from './state/spam.js';

export interface ChecksStorage {
  /** data_dir/checks.sqlite; throws when it cannot be opened. */
  db(): ChecksDb;
  /** The greylisting triplets (the shared database with PostgreSQL). */
  greylist(opts: GreylistOptions): Greylist;
  /** Hourly counters: in memory for one node, shared by every node with PostgreSQL. */
  rateLimiter(): RateLimiter;
  /** Per-user spam thresholds and the Junk verdict log; null (logged once) when checks.sqlite cannot be opened. */
  spamPrefs(): SpamPrefs | null;
}

export function createChecksStorage(dataDir: string, logger: Logger, store?: Store): ChecksStorage {
  let unavailable = false;
  const pool = store instanceof PostgresStore ? store.pool : null;
  let pgPrefs: PgSpamPrefs | null = null;
  return {
    db: () => openChecksDb(dataDir),
    greylist: (opts) => (pool ? greylistOver(pgGreylistRows(pool), opts) : createGreylist(openChecksDb(dataDir), opts)),
    rateLimiter: () => (pool ? rateLimiterOver(pgRateBuckets(pool)) : createRateLimiter()),
    spamPrefs() {
      // With PostgreSQL an unreachable database fails the call that needs it (the check's guard, the observer's log).
      if (pool) return (pgPrefs ??= pgSpamPrefs(pool));
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

/** The spam preferences of the store's backend, for the CLI: checks.sqlite (throws when it cannot be opened) or the shared database. */
export function spamPrefsFor(dataDir: string, store: Store): SpamPrefs {
  return store instanceof PostgresStore ? pgSpamPrefs(store.pool) : openSpamPrefs(dataDir);
}
