// Sieve in the PostgreSQL store: the SQLite store's Sieve tables and rules (src/store/sqlite/sieve.ts)
// in PostgreSQL. Reservations (vacation, duplicate, redirect counts) are single atomic statements,
// so two nodes delivering at once never both send the reply or both pass the redirect limit.
import { StoreError, type SieveScript, type SieveScriptInfo, type SieveStore } from '../types.js';
import { REDIRECT_DAYS_KEPT, checkScriptName, toInfo, toScript, type ScriptRow } from '../sieve-names.js';
import type { Pool, PoolClient, Queryable } from '../../db/postgres/pool.js';

export class PgSieveStore implements SieveStore {
  constructor(
    private readonly pool: Pool,
    /** Runs a write in a transaction of the store (durable on resolve). */
    private readonly write: <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>,
  ) {}

  private async requireAccount(c: Queryable, accountId: number): Promise<void> {
    // FOR SHARE: the account cannot go away before this transaction commits.
    if ((await c.query('SELECT 1 FROM accounts WHERE id = $1 FOR SHARE', [accountId])).rowCount === 0) throw new StoreError('not-found', `account ${accountId} does not exist`);
  }

  private async row(c: Queryable, accountId: number, name: string, lock = false): Promise<ScriptRow | undefined> {
    const r = await c.query<ScriptRow>(`SELECT name, text, active, updated_at FROM sieve_scripts WHERE account_id = $1 AND name = $2${lock ? ' FOR UPDATE' : ''}`, [accountId, name]);
    return r.rows[0];
  }

  async listScripts(accountId: number): Promise<SieveScriptInfo[]> {
    const r = await this.pool.query<{ name: string; active: number; size: number; updated_at: number }>(
      'SELECT name, active, octet_length(text) AS size, updated_at FROM sieve_scripts WHERE account_id = $1 ORDER BY name COLLATE "C"',
      [accountId],
    );
    return r.rows.map(toInfo);
  }

  async getScript(accountId: number, name: string): Promise<SieveScript | null> {
    const r = await this.row(this.pool, accountId, name);
    return r ? toScript(r) : null;
  }

  async getActiveScript(accountId: number): Promise<SieveScript | null> {
    const r = await this.pool.query<ScriptRow>('SELECT name, text, active, updated_at FROM sieve_scripts WHERE account_id = $1 AND active = 1', [accountId]);
    return r.rows[0] ? toScript(r.rows[0]) : null;
  }

  async putScript(accountId: number, name: string, text: string, quota: { maxScripts: number; maxBytes: number }): Promise<void> {
    checkScriptName(name);
    const size = Buffer.byteLength(text, 'utf8');
    if (quota.maxBytes > 0 && size > quota.maxBytes) throw new StoreError('over-quota', `script is ${size} octets, more than the ${quota.maxBytes} allowed`);
    return this.write(async (c) => {
      // The account row serialises this account's script changes (the count below stays exact).
      if ((await c.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId])).rowCount === 0) throw new StoreError('not-found', `account ${accountId} does not exist`);
      const now = Date.now();
      if (await this.row(c, accountId, name, true)) {
        await c.query('UPDATE sieve_scripts SET text = $1, updated_at = $2 WHERE account_id = $3 AND name = $4', [text, now, accountId, name]);
        return;
      }
      const n = (await c.query<{ n: number }>('SELECT COUNT(*) AS n FROM sieve_scripts WHERE account_id = $1', [accountId])).rows[0]!.n;
      if (quota.maxScripts > 0 && n >= quota.maxScripts) throw new StoreError('over-quota', `already ${n} scripts, the most allowed is ${quota.maxScripts}`);
      await c.query('INSERT INTO sieve_scripts (account_id, name, text, active, updated_at) VALUES ($1, $2, $3, 0, $4)', [accountId, name, text, now]);
    });
  }

  async deleteScript(accountId: number, name: string): Promise<void> {
    return this.write(async (c) => {
      const r = await this.row(c, accountId, name, true);
      if (!r) throw new StoreError('not-found', `no script named "${name}"`);
      // RFC 5804 §2.10: the active script must not be deleted
      if (r.active === 1) throw new StoreError('forbidden', 'the active script cannot be deleted; deactivate it first');
      await c.query('DELETE FROM sieve_scripts WHERE account_id = $1 AND name = $2', [accountId, name]);
    });
  }

  async renameScript(accountId: number, oldName: string, newName: string): Promise<void> {
    checkScriptName(newName);
    return this.write(async (c) => {
      await c.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId]);
      if (!(await this.row(c, accountId, oldName, true))) throw new StoreError('not-found', `no script named "${oldName}"`);
      if (oldName === newName) return;
      // RFC 5804 §2.11: renaming onto an existing script fails with ALREADYEXISTS
      if (await this.row(c, accountId, newName)) throw new StoreError('exists', `a script named "${newName}" already exists`);
      await c.query('UPDATE sieve_scripts SET name = $1, updated_at = $2 WHERE account_id = $3 AND name = $4', [newName, Date.now(), accountId, oldName]);
    });
  }

  async setActive(accountId: number, name: string | null): Promise<void> {
    return this.write(async (c) => {
      if ((await c.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId])).rowCount === 0) throw new StoreError('not-found', `account ${accountId} does not exist`);
      if (name !== null && !(await this.row(c, accountId, name))) throw new StoreError('not-found', `no script named "${name}"`);
      await c.query('UPDATE sieve_scripts SET active = 0 WHERE account_id = $1 AND active = 1', [accountId]);
      if (name !== null) await c.query('UPDATE sieve_scripts SET active = 1 WHERE account_id = $1 AND name = $2', [accountId, name]);
    });
  }

  async listGlobalScripts(): Promise<SieveScriptInfo[]> {
    const r = await this.pool.query<{ name: string; size: number; updated_at: number }>('SELECT name, octet_length(text) AS size, updated_at FROM sieve_global_scripts ORDER BY name COLLATE "C"');
    return r.rows.map(toInfo);
  }

  async getGlobalScript(name: string): Promise<SieveScript | null> {
    const r = await this.pool.query<ScriptRow>('SELECT name, text, 0 AS active, updated_at FROM sieve_global_scripts WHERE name = $1', [name]);
    return r.rows[0] ? toScript(r.rows[0]) : null;
  }

  async putGlobalScript(name: string, text: string): Promise<void> {
    checkScriptName(name);
    return this.write(async (c) => {
      await c.query('INSERT INTO sieve_global_scripts (name, text, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at', [name, text, Date.now()]);
    });
  }

  async deleteGlobalScript(name: string): Promise<void> {
    return this.write(async (c) => {
      if ((await c.query('DELETE FROM sieve_global_scripts WHERE name = $1', [name])).rowCount === 0) throw new StoreError('not-found', `no global script named "${name}"`);
    });
  }

  async vacationReserve(accountId: number, sender: string, handle: string, now: Date, until: Date): Promise<boolean> {
    const key = sender.toLowerCase();
    // One statement: inserted, or updated only when the memory had expired; otherwise no row.
    return this.write(async (c) => {
      const r = await c.query(
        `INSERT INTO sieve_vacation (account_id, sender, handle, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, sender, handle) DO UPDATE SET expires_at = excluded.expires_at WHERE sieve_vacation.expires_at <= $5`,
        [accountId, key, handle, until.getTime(), now.getTime()],
      );
      return r.rowCount === 1;
    });
  }

  async duplicateSeen(accountId: number, id: string, now: Date, until: Date): Promise<boolean> {
    return this.write(async (c) => {
      const r = await c.query(
        `INSERT INTO sieve_duplicates (account_id, id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, id) DO UPDATE SET expires_at = excluded.expires_at WHERE sieve_duplicates.expires_at <= $4`,
        [accountId, id, until.getTime(), now.getTime()],
      );
      return r.rowCount === 0;
    });
  }

  async reserveRedirects(accountId: number, day: string, n: number, max: number): Promise<boolean> {
    return this.write(async (c) => {
      if (n > max) return false;
      const r = await c.query(
        `INSERT INTO sieve_redirects (account_id, day, count) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, day) DO UPDATE SET count = sieve_redirects.count + excluded.count WHERE sieve_redirects.count + excluded.count <= $4`,
        [accountId, day, n, max],
      );
      return r.rowCount === 1;
    });
  }

  async pruneSieveMemory(now: Date): Promise<void> {
    const t = now.getTime();
    const oldest = new Date(t - REDIRECT_DAYS_KEPT * 86_400_000).toISOString().slice(0, 10);
    return this.write(async (c) => {
      await c.query('DELETE FROM sieve_vacation WHERE expires_at <= $1', [t]);
      await c.query('DELETE FROM sieve_duplicates WHERE expires_at <= $1', [t]);
      await c.query('DELETE FROM sieve_redirects WHERE day < $1', [oldest]);
    });
  }
}
