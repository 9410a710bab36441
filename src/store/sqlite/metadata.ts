// IMAP METADATA entries (RFC 5464) in the SQLite store (yubin.sqlite). The table is the
// "metadata" module's migrations (src/db/schema/store.ts), run by the one runner after the
// store's own. Entries are kept by mailbox id, so RENAME keeps them and DELETE drops them
// (ON DELETE CASCADE); mailbox_id NULL holds the server's entries of the account.
import type Database from 'better-sqlite3';
import { StatementCache } from '../../db/sqlite/statements.js';
import { StoreError, type ChangeEvent, type MetadataEntry, type MetadataLimits, type MetadataStore } from '../types.js';
import { METADATA_MIGRATIONS } from '../../db/schema/store.js';
import { registerMigrations } from './migrate.js';
import { checkMetadataLimits, selectEntries } from '../metadata.js';

registerMigrations('metadata', METADATA_MIGRATIONS);

export class SqliteMetadataStore implements MetadataStore {
  private readonly statements: StatementCache;

  constructor(
    private readonly db: Database.Database,
    /** Runs a write in the store's group commit with its events (durable on resolve, published after commit). */
    private readonly write: <T>(fn: (events: ChangeEvent[]) => T) => Promise<T>,
  ) {
    this.statements = new StatementCache(db);
  }

  private q(sql: string): Database.Statement {
    return this.statements.get(sql);
  }

  private requireTarget(accountId: number, mailboxId: number | null): void {
    if (!this.q('SELECT 1 FROM accounts WHERE id = ?').get(accountId)) throw new StoreError('not-found', `account ${accountId} does not exist`);
    if (mailboxId !== null && !this.q('SELECT 1 FROM mailboxes WHERE id = ? AND account_id = ?').get(mailboxId, accountId)) {
      throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
    }
  }

  private counts(accountId: number, mailboxId: number | null): { entries: number; bytes: number } {
    const entries = (this.q('SELECT COUNT(*) AS n FROM metadata WHERE account_id = ? AND ifnull(mailbox_id, 0) = ?').get(accountId, mailboxId ?? 0) as { n: number }).n;
    const bytes = (this.q('SELECT ifnull(SUM(length(CAST(name AS BLOB)) + length(value)), 0) AS n FROM metadata WHERE account_id = ?').get(accountId) as { n: number }).n;
    return { entries, bytes };
  }

  async getMetadata(accountId: number, mailboxId: number | null, names: readonly string[], depth: 0 | 1 | 'infinity'): Promise<MetadataEntry[]> {
    this.requireTarget(accountId, mailboxId);
    const rows: MetadataEntry[] = [];
    const st = this.q('SELECT name, value FROM metadata WHERE account_id = ? AND ifnull(mailbox_id, 0) = ? AND (name = ? OR substr(name, 1, ?) = ?)');
    for (const n of new Set(names)) {
      for (const r of st.all(accountId, mailboxId ?? 0, n, n.length + 1, n + '/') as Array<{ name: string; value: Buffer }>) rows.push({ name: r.name, value: Buffer.from(r.value) });
    }
    return selectEntries(rows, names, depth);
  }

  async setMetadata(accountId: number, mailboxId: number | null, entries: ReadonlyArray<{ name: string; value: Buffer | null }>, limits: MetadataLimits): Promise<void> {
    return this.write((events) => {
      this.requireTarget(accountId, mailboxId);
      const before = this.counts(accountId, mailboxId);
      for (const e of entries) {
        this.q('DELETE FROM metadata WHERE account_id = ? AND ifnull(mailbox_id, 0) = ? AND name = ?').run(accountId, mailboxId ?? 0, e.name);
        if (e.value !== null) this.q('INSERT INTO metadata (account_id, mailbox_id, name, value) VALUES (?, ?, ?, ?)').run(accountId, mailboxId, e.name, e.value);
      }
      // RFC 5464 §4.3: over a limit, nothing is set (the group commit rolls back on the throw)
      checkMetadataLimits(before, this.counts(accountId, mailboxId), limits);
      events.push({ type: 'metadata-changed', accountId, target: mailboxId, names: [...new Set(entries.map((e) => e.name))] });
    });
  }
}
