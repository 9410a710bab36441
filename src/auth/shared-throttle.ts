// The authentication throttle's failure log in the shared PostgreSQL database (docs/store.md
// "What lives where"), so a guesser spread over several nodes meets one limit: every node writes
// its failures (one row per failed attempt: IP key, account, time, the node that saw it) and,
// before deciding on an attempt, reads the other nodes' failures of that IP and account inside the
// window (AuthThrottle.pullShared). A success marks the account's failures from the same IP as no
// longer counting for the account; they still count for the IP (src/auth/throttle.ts). Rows older
// than the window are deleted now and then. Its own migration module ("auth", src/db/schema/auth.ts).
import { randomUUID } from 'node:crypto';
import type { Pool } from '../db/postgres/pool.js';
import { AUTH_MODULE } from '../db/schema/auth.js';
import { migrateOnce } from '../db/postgres/migrate-once.js';
import type { SharedFailureLog } from './throttle.js';

const migrate = (pool: Pool) => migrateOnce(pool, AUTH_MODULE);

/** One node's view of the shared log (its own rows are left out of what it reads: it counts them in memory). */
export function pgFailureLog(pool: Pool, opts: { windowMs: number; node?: string }): SharedFailureLog {
  const node = opts.node ?? randomUUID();
  let writes = 0;
  return {
    async others(ip, account, since, limit) {
      await migrate(pool);
      const r = await pool.query<{ kind: 'ip' | 'account'; at: number }>(
        `(SELECT 'ip' AS kind, at FROM auth_failures WHERE ip = $1 AND at > $3 AND node <> $4 ORDER BY at DESC LIMIT $5)
         UNION ALL
         (SELECT 'account' AS kind, at FROM auth_failures WHERE account = $2 AND at > $3 AND node <> $4 AND NOT account_cleared ORDER BY at DESC LIMIT $5)`,
        [ip, account, since, node, limit],
      );
      const out = { ip: [] as number[], account: [] as number[] };
      for (const row of r.rows) out[row.kind].push(row.at);
      out.ip.sort((x, y) => x - y);
      out.account.sort((x, y) => x - y);
      return out;
    },
    async record(ip, account, at) {
      await migrate(pool);
      await pool.query('INSERT INTO auth_failures (node, ip, account, at) VALUES ($1, $2, $3, $4)', [node, ip, account, at]);
      // Bounded table: every 100th write of a node drops what has left the window.
      if (++writes % 100 === 0) await pool.query('DELETE FROM auth_failures WHERE at < $1', [at - opts.windowMs]);
    },
    async clearAccount(account, ip) {
      await migrate(pool);
      await pool.query('UPDATE auth_failures SET account_cleared = true WHERE account = $1 AND ip = $2 AND NOT account_cleared', [account, ip]);
    },
  };
}
