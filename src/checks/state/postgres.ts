// The checks' state in the shared PostgreSQL database (docs/store.md "PostgreSQL"): greylisting
// triplets and hourly rate-limit counters (here), DKIM keys (dkim.ts), spam thresholds and Junk
// verdicts (spam.ts), so every node sees what the others have counted and signs with the same
// keys. Its own migration module ("checks"), run by the first node that needs it; the tables sit
// beside the store's in the database of [store] url.
import type { Pool } from '../../db/postgres/pool.js';
import type { PgMigration } from '../../db/postgres/migrate.js';
import { migrateOnce } from '../../db/postgres/migrate-once.js';
import type { GreylistRows, TripletRow } from '../greylist.js';
import type { RateBuckets } from '../ratelimit.js';

export const PG_CHECKS_MIGRATIONS: PgMigration[] = [
  {
    version: 1,
    name: 'greylist, rate-limit counters',
    sql: `CREATE TABLE checks_greylist (
     net TEXT NOT NULL, sender TEXT NOT NULL, rcpt TEXT NOT NULL,
     first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, passed_at BIGINT,
     PRIMARY KEY (net, sender, rcpt));
   CREATE TABLE checks_greylist_known (
     net TEXT NOT NULL, sender_domain TEXT NOT NULL, last_seen BIGINT NOT NULL,
     PRIMARY KEY (net, sender_domain));
   CREATE TABLE checks_rate (
     key TEXT NOT NULL, bucket BIGINT NOT NULL, n BIGINT NOT NULL,
     PRIMARY KEY (key, bucket));
   CREATE INDEX checks_rate_bucket ON checks_rate (bucket);`,
  },
  {
    version: 2,
    name: 'dkim keys',
    // One row per selector of a local domain (src/checks/state/dkim.ts); the PEM is the PKCS#8 private key.
    sql: `CREATE TABLE checks_dkim_keys (
     domain TEXT NOT NULL, selector TEXT NOT NULL,
     algorithm TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
     created BIGINT NOT NULL, pem TEXT NOT NULL,
     PRIMARY KEY (domain, selector));`,
  },
  {
    version: 3,
    name: 'spam thresholds, verdicts',
    // As data_dir/checks.sqlite has them (src/checks/db.ts), for every node (src/checks/state/spam.ts).
    sql: `CREATE TABLE checks_spam_threshold (address TEXT PRIMARY KEY, threshold DOUBLE PRECISION NOT NULL);
   CREATE TABLE checks_verdicts (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account TEXT NOT NULL, blob_id TEXT NOT NULL,
     verdict TEXT NOT NULL CHECK (verdict IN ('spam', 'ham')), at BIGINT NOT NULL);
   CREATE INDEX checks_verdicts_account ON checks_verdicts (account, id);`,
  },
];

/** Runs the checks' migrations once per pool (several nodes: the runner's advisory lock). */
export function migrateChecks(pool: Pool): Promise<unknown> {
  return migrateOnce(pool, { module: 'checks', migrations: PG_CHECKS_MIGRATIONS });
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
