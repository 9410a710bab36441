// IMAP METADATA entries (RFC 5464) in the PostgreSQL store: the SQLite store's table and rules
// (src/store/sqlite/metadata.ts) in PostgreSQL. A SETMETADATA locks the account row first, so two
// nodes setting entries at once cannot both pass the limits.
import { StoreError, type ChangeEvent, type MetadataEntry, type MetadataLimits, type MetadataStore } from '../types.js';
import type { Pool, PoolClient, Queryable } from '../../db/postgres/pool.js';
import { checkMetadataLimits, selectEntries } from '../metadata.js';

export class PgMetadataStore implements MetadataStore {
  constructor(
    private readonly pool: Pool,
    /** Runs a write in a transaction of the store with its events (durable on resolve, published after commit). */
    private readonly write: <T>(fn: (c: PoolClient, events: ChangeEvent[]) => Promise<T>) => Promise<T>,
  ) {}

  private async requireTarget(c: Queryable, accountId: number, mailboxId: number | null, lock: boolean): Promise<void> {
    if ((await c.query(`SELECT 1 FROM accounts WHERE id = $1${lock ? ' FOR NO KEY UPDATE' : ''}`, [accountId])).rowCount === 0) throw new StoreError('not-found', `account ${accountId} does not exist`);
    if (mailboxId !== null && (await c.query(`SELECT 1 FROM mailboxes WHERE id = $1 AND account_id = $2${lock ? ' FOR SHARE' : ''}`, [mailboxId, accountId])).rowCount === 0) {
      throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
    }
  }

  private async counts(c: Queryable, accountId: number, mailboxId: number | null): Promise<{ entries: number; bytes: number }> {
    const r = await c.query<{ entries: string; bytes: string }>(
      `SELECT COUNT(*) FILTER (WHERE COALESCE(mailbox_id, 0) = $2) AS entries, COALESCE(SUM(octet_length(name) + octet_length(value)), 0) AS bytes
       FROM metadata WHERE account_id = $1`,
      [accountId, mailboxId ?? 0],
    );
    return { entries: Number(r.rows[0]!.entries), bytes: Number(r.rows[0]!.bytes) };
  }

  async getMetadata(accountId: number, mailboxId: number | null, names: readonly string[], depth: 0 | 1 | 'infinity'): Promise<MetadataEntry[]> {
    await this.requireTarget(this.pool, accountId, mailboxId, false);
    const uniq = [...new Set(names)];
    const r = await this.pool.query<{ name: string; value: Buffer }>(
      `SELECT m.name, m.value FROM metadata m, unnest($3::text[]) AS n(name)
       WHERE m.account_id = $1 AND COALESCE(m.mailbox_id, 0) = $2 AND (m.name = n.name OR substr(m.name, 1, length(n.name) + 1) = n.name || '/')`,
      [accountId, mailboxId ?? 0, uniq],
    );
    return selectEntries(r.rows, names, depth);
  }

  async setMetadata(accountId: number, mailboxId: number | null, entries: ReadonlyArray<{ name: string; value: Buffer | null }>, limits: MetadataLimits): Promise<void> {
    return this.write(async (c, events) => {
      await this.requireTarget(c, accountId, mailboxId, true);
      const before = await this.counts(c, accountId, mailboxId);
      for (const e of entries) {
        await c.query('DELETE FROM metadata WHERE account_id = $1 AND COALESCE(mailbox_id, 0) = $2 AND name = $3', [accountId, mailboxId ?? 0, e.name]);
        if (e.value !== null) await c.query('INSERT INTO metadata (account_id, mailbox_id, name, value) VALUES ($1, $2, $3, $4)', [accountId, mailboxId, e.name, e.value]);
      }
      // RFC 5464 §4.3: over a limit, nothing is set (the transaction rolls back on the throw)
      checkMetadataLimits(before, await this.counts(c, accountId, mailboxId), limits);
      events.push({ type: 'metadata-changed', accountId, target: mailboxId, names: [...new Set(entries.map((e) => e.name))] });
    });
  }
}
