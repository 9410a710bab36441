// The checks' state in the shared PostgreSQL database (docs/store.md "PostgreSQL"): greylisting
// triplets and hourly rate-limit counters (here), DKIM keys (dkim.ts), spam thresholds and Junk
// verdicts (spam.ts), so every node sees what the others have counted and signs with the same
// keys. Its own migration module ("checks", src/db/schema/checks.ts), run by the first node that needs it; the tables sit
// beside the store's in the database of [store] url.
import type { Pool } from '../../db/postgres/pool.js';
import { CHECKS_MODULE } from '../../db/schema/checks.js';
import { migrateOnce } from '../../db/postgres/migrate-once.js';
import type { GreylistRows, TripletRow } from '../greylist.js';
import type { RateBuckets } from '../ratelimit.js';

/** Runs the checks' migrations once per pool (several nodes: the runner's advisory lock). */
export function migrateChecks(pool: Pool): Promise<unknown> {
  return migrateOnce(pool, CHECKS_MODULE);
}

export function pgGreylistRows(pool: Pool): GreylistRows {
  const q = async <T extends object>(sql: string, args: unknown[]): Promise<T[]> => {
    await migrateChecks(pool);
    return (await pool.query<T>(sql, args)).rows;
  };
  return {
    async triplet(net, sender, rcpt) {
      return (await q<TripletRow>('SELECT first_seen, last_seen, passed_at FROM checks_greylist WHERE net = $1 AND sender = $2 AND rcpt = $3', [net, sender, rcpt]))[0] ?? null;
    },
    async knownSince(net, dom) {
      return (await q<{ last_seen: number }>('SELECT last_seen FROM checks_greylist_known WHERE net = $1 AND sender_domain = $2', [net, dom]))[0]?.last_seen ?? null;
    },
    async putTriplet(net, sender, rcpt, row) {
      await q(
        `INSERT INTO checks_greylist (net, sender, rcpt, first_seen, last_seen, passed_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (net, sender, rcpt) DO UPDATE SET first_seen = excluded.first_seen, last_seen = excluded.last_seen, passed_at = excluded.passed_at`,
        [net, sender, rcpt, row.first_seen, row.last_seen, row.passed_at],
      );
    },
    async putKnown(net, dom, now) {
      await q(
        `INSERT INTO checks_greylist_known (net, sender_domain, last_seen) VALUES ($1, $2, $3)
         ON CONFLICT (net, sender_domain) DO UPDATE SET last_seen = GREATEST(checks_greylist_known.last_seen, excluded.last_seen)`,
        [net, dom, now],
      );
    },
    async sweep(unpassedBefore, passedBefore) {
      await migrateChecks(pool);
      const a = await pool.query('DELETE FROM checks_greylist WHERE (passed_at IS NULL AND first_seen < $1) OR (passed_at IS NOT NULL AND last_seen < $2)', [unpassedBefore, passedBefore]);
      const b = await pool.query('DELETE FROM checks_greylist_known WHERE last_seen < $1', [passedBefore]);
      return (a.rowCount ?? 0) + (b.rowCount ?? 0);
    },
  };
}

/** Rate-limit counters shared by every node: one row per (key, hour bucket), incremented atomically. */
export function pgRateBuckets(pool: Pool): RateBuckets {
  return {
    async get(key, bucket) {
      await migrateChecks(pool);
      const r = await pool.query<{ bucket: number; n: number }>('SELECT bucket, n FROM checks_rate WHERE key = $1 AND bucket IN ($2, $3)', [key, bucket, bucket - 1]);
      let current = 0;
      let previous = 0;
      for (const row of r.rows) {
        if (row.bucket === bucket) current = row.n;
        else previous = row.n;
      }
      return { current, previous };
    },
    async add(key, bucket, n) {
      await migrateChecks(pool);
      await pool.query('INSERT INTO checks_rate (key, bucket, n) VALUES ($1, $2, $3) ON CONFLICT (key, bucket) DO UPDATE SET n = checks_rate.n + excluded.n', [key, bucket, n]);
    },
    async sweep(bucket) {
      await migrateChecks(pool);
      await pool.query('DELETE FROM checks_rate WHERE bucket < $1', [bucket - 1]);
    },
  };
}
