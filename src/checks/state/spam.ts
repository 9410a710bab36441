// Per-user spam thresholds and users' Junk verdicts in the shared PostgreSQL database (tables
// checks_spam_threshold and checks_verdicts, migration module "checks"): a threshold set with
// `yubin user spam-threshold` on any node applies on every node, and a verdict recorded by the
// node that served the IMAP MOVE is in the one log. Each call is one statement, committed
// (synchronous_commit=on) before its promise resolves.
import type { Pool } from '../../db/postgres/pool.js';
import type { SpamPrefs, Verdict, VerdictEntry } from '../spam.js';
import { migrateChecks } from './postgres.js';

export interface PgSpamPrefs extends SpamPrefs {
  getThreshold(address: string): Promise<number | null>;
  setThreshold(address: string, threshold: number | null): Promise<void>;
  thresholdFor(address: string, defaultThreshold: number): Promise<number>;
  recordVerdict(account: string, blobId: string, verdict: Verdict, at?: Date): Promise<void>;
  listVerdicts(account: string, limit?: number): Promise<VerdictEntry[]>;
}

export function pgSpamPrefs(pool: Pool): PgSpamPrefs {
  const getThreshold = async (address: string): Promise<number | null> => {
    await migrateChecks(pool);
    const r = await pool.query<{ threshold: number }>('SELECT threshold FROM checks_spam_threshold WHERE address = $1', [address.toLowerCase()]);
    return r.rows[0]?.threshold ?? null;
  };
  return {
    getThreshold,
    async setThreshold(address, threshold) {
      await migrateChecks(pool);
      if (threshold === null) await pool.query('DELETE FROM checks_spam_threshold WHERE address = $1', [address.toLowerCase()]);
      else
        await pool.query('INSERT INTO checks_spam_threshold (address, threshold) VALUES ($1, $2) ON CONFLICT (address) DO UPDATE SET threshold = excluded.threshold', [
          address.toLowerCase(),
          threshold,
        ]);
    },
    async thresholdFor(address, def) {
      return (await getThreshold(address)) ?? def;
    },
    async recordVerdict(account, blobId, verdict, at = new Date()) {
      await migrateChecks(pool);
      await pool.query('INSERT INTO checks_verdicts (account, blob_id, verdict, at) VALUES ($1, $2, $3, $4)', [account.toLowerCase(), blobId, verdict, at.getTime()]);
    },
    async listVerdicts(account, limit = 100) {
      await migrateChecks(pool);
      const r = await pool.query<{ account: string; blob_id: string; verdict: Verdict; at: number }>(
        'SELECT account, blob_id, verdict, at FROM checks_verdicts WHERE account = $1 ORDER BY id DESC LIMIT $2',
        [account.toLowerCase(), limit],
      );
      return r.rows.map((row) => ({ account: row.account, blobId: row.blob_id, verdict: row.verdict, at: new Date(row.at) }));
    },
  };
}
