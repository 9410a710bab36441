// Sieve in the SQLite store (yubin.sqlite): users' scripts (one active per account), global
// scripts for `include :global` (RFC 6609 §3.2), and what delivery remembers durably: vacation
// replies sent (RFC 5230 §4.2), duplicate tracking ids (RFC 7352 §3) and redirects per day.
// The tables are the "sieve" module's migrations (src/db/schema/store.ts, one description for both
// engines), run by the one runner after the store's own; rows of an account go with it.
import type Database from 'better-sqlite3';
import { StatementCache } from '../../db/sqlite/statements.js';
import { StoreError, type SieveScript, type SieveScriptInfo, type SieveStore } from '../types.js';
import { SIEVE_MIGRATIONS } from '../../db/schema/store.js';
import { registerMigrations } from './migrate.js';
import { REDIRECT_DAYS_KEPT, checkScriptName, toInfo, toScript, type ScriptRow } from '../sieve-names.js';

registerMigrations('sieve', SIEVE_MIGRATIONS);

export class SqliteSieveStore implements SieveStore {
  private readonly statements: StatementCache;

  constructor(
    private readonly db: Database.Database,
    /** Runs a write in the store's group commit (durable on resolve). */
    private readonly write: <T>(fn: () => T) => Promise<T>,
  ) {
    this.statements = new StatementCache(db);
  }

  private q(sql: string): Database.Statement {
    return this.statements.get(sql);
  }

  private requireAccount(accountId: number): void {
    if (!this.q('SELECT 1 FROM accounts WHERE id = ?').get(accountId)) throw new StoreError('not-found', `account ${accountId} does not exist`);
  }

  private row(accountId: number, name: string): ScriptRow | undefined {
    return this.q('SELECT name, text, active, updated_at FROM sieve_scripts WHERE account_id = ? AND name = ?').get(accountId, name) as ScriptRow | undefined;
  }

  async listScripts(accountId: number): Promise<SieveScriptInfo[]> {
    const rows = this.q('SELECT name, active, length(CAST(text AS BLOB)) AS size, updated_at FROM sieve_scripts WHERE account_id = ? ORDER BY name').all(accountId) as Array<{
      name: string;
      active: number;
      size: number;
      updated_at: number;
    }>;
    return rows.map(toInfo);
  }

  async getScript(accountId: number, name: string): Promise<SieveScript | null> {
    const r = this.row(accountId, name);
    return r ? toScript(r) : null;
  }

  async getActiveScript(accountId: number): Promise<SieveScript | null> {
    const r = this.q('SELECT name, text, active, updated_at FROM sieve_scripts WHERE account_id = ? AND active = 1').get(accountId) as ScriptRow | undefined;
    return r ? toScript(r) : null;
  }

  async putScript(accountId: number, name: string, text: string, quota: { maxScripts: number; maxBytes: number }): Promise<void> {
    checkScriptName(name);
    const size = Buffer.byteLength(text, 'utf8');
    if (quota.maxBytes > 0 && size > quota.maxBytes) throw new StoreError('over-quota', `script is ${size} octets, more than the ${quota.maxBytes} allowed`);
    return this.write(() => {
      this.requireAccount(accountId);
      const now = Date.now();
      if (this.row(accountId, name)) {
        this.q('UPDATE sieve_scripts SET text = ?, updated_at = ? WHERE account_id = ? AND name = ?').run(text, now, accountId, name);
        return;
      }
      const n = (this.q('SELECT COUNT(*) AS n FROM sieve_scripts WHERE account_id = ?').get(accountId) as { n: number }).n;
      if (quota.maxScripts > 0 && n >= quota.maxScripts) throw new StoreError('over-quota', `already ${n} scripts, the most allowed is ${quota.maxScripts}`);
      this.q('INSERT INTO sieve_scripts (account_id, name, text, active, updated_at) VALUES (?, ?, ?, 0, ?)').run(accountId, name, text, now);
    });
  }

  async deleteScript(accountId: number, name: string): Promise<void> {
    return this.write(() => {
      const r = this.row(accountId, name);
      if (!r) throw new StoreError('not-found', `no script named "${name}"`);
      // RFC 5804 §2.10: the active script must not be deleted
      if (r.active === 1) throw new StoreError('forbidden', 'the active script cannot be deleted; deactivate it first');
      this.q('DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?').run(accountId, name);
    });
  }

  async renameScript(accountId: number, oldName: string, newName: string): Promise<void> {
    checkScriptName(newName);
    return this.write(() => {
      if (!this.row(accountId, oldName)) throw new StoreError('not-found', `no script named "${oldName}"`);
      if (oldName === newName) return;
      // RFC 5804 §2.11: renaming onto an existing script fails with ALREADYEXISTS
      if (this.row(accountId, newName)) throw new StoreError('exists', `a script named "${newName}" already exists`);
      this.q('UPDATE sieve_scripts SET name = ?, updated_at = ? WHERE account_id = ? AND name = ?').run(newName, Date.now(), accountId, oldName);
    });
  }

  async setActive(accountId: number, name: string | null): Promise<void> {
    return this.write(() => {
      this.requireAccount(accountId);
      if (name !== null && !this.row(accountId, name)) throw new StoreError('not-found', `no script named "${name}"`);
      this.q('UPDATE sieve_scripts SET active = 0 WHERE account_id = ? AND active = 1').run(accountId);
      if (name !== null) this.q('UPDATE sieve_scripts SET active = 1 WHERE account_id = ? AND name = ?').run(accountId, name);
    });
  }

  async listGlobalScripts(): Promise<SieveScriptInfo[]> {
    const rows = this.q('SELECT name, length(CAST(text AS BLOB)) AS size, updated_at FROM sieve_global_scripts ORDER BY name').all() as Array<{ name: string; size: number; updated_at: number }>;
    return rows.map(toInfo);
  }

  async getGlobalScript(name: string): Promise<SieveScript | null> {
    const r = this.q('SELECT name, text, 0 AS active, updated_at FROM sieve_global_scripts WHERE name = ?').get(name) as ScriptRow | undefined;
    return r ? toScript(r) : null;
  }

  async putGlobalScript(name: string, text: string): Promise<void> {
    checkScriptName(name);
    return this.write(() => {
      this.q('INSERT INTO sieve_global_scripts (name, text, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at').run(
        name,
        text,
        Date.now(),
      );
    });
  }

  async deleteGlobalScript(name: string): Promise<void> {
    return this.write(() => {
      if (this.q('DELETE FROM sieve_global_scripts WHERE name = ?').run(name).changes === 0) throw new StoreError('not-found', `no global script named "${name}"`);
    });
  }

  async vacationReserve(accountId: number, sender: string, handle: string, now: Date, until: Date): Promise<boolean> {
    const key = sender.toLowerCase();
    return this.write(() => {
      const r = this.q('SELECT expires_at FROM sieve_vacation WHERE account_id = ? AND sender = ? AND handle = ?').get(accountId, key, handle) as { expires_at: number } | undefined;
      if (r && r.expires_at > now.getTime()) return false;
      this.q('INSERT INTO sieve_vacation (account_id, sender, handle, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET expires_at = excluded.expires_at').run(
        accountId,
        key,
        handle,
        until.getTime(),
      );
      return true;
    });
  }

  async duplicateSeen(accountId: number, id: string, now: Date, until: Date): Promise<boolean> {
    return this.write(() => {
      const r = this.q('SELECT expires_at FROM sieve_duplicates WHERE account_id = ? AND id = ?').get(accountId, id) as { expires_at: number } | undefined;
      if (r && r.expires_at > now.getTime()) return true;
      this.q('INSERT INTO sieve_duplicates (account_id, id, expires_at) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET expires_at = excluded.expires_at').run(accountId, id, until.getTime());
      return false;
    });
  }

  async reserveRedirects(accountId: number, day: string, n: number, max: number): Promise<boolean> {
    return this.write(() => {
      const r = this.q('SELECT count FROM sieve_redirects WHERE account_id = ? AND day = ?').get(accountId, day) as { count: number } | undefined;
      const used = r?.count ?? 0;
      if (used + n > max) return false;
      this.q('INSERT INTO sieve_redirects (account_id, day, count) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET count = excluded.count').run(accountId, day, used + n);
      return true;
    });
  }

  async pruneSieveMemory(now: Date): Promise<void> {
    const t = now.getTime();
    const oldest = new Date(t - REDIRECT_DAYS_KEPT * 86_400_000).toISOString().slice(0, 10);
    return this.write(() => {
      this.q('DELETE FROM sieve_vacation WHERE expires_at <= ?').run(t);
      this.q('DELETE FROM sieve_duplicates WHERE expires_at <= ?').run(t);
      this.q('DELETE FROM sieve_redirects WHERE day < ?').run(oldest);
    });
  }
}
