// The outbound queue in PostgreSQL (docs/queue.md "Storage", docs/store.md "PostgreSQL"), for
// several nodes on one database. The rows mirror queue.sqlite's (same columns and units, so the
// row mapping is shared), in tables queue_messages and queue_recipients (migration module
// "queue", src/db/schema/queue.ts); the message bytes are a blob of the store held outside any mailbox (blobs.held), so
// they live wherever the store keeps blobs (blob_chunks, or the shared files of blobs = "files").
//
// Enqueue is one transaction: the blob's bytes and its reference, the message row and its
// recipients commit together (synchronous_commit=on: durable when it resolves, so SMTP's 250 comes
// after the WAL flush). Removal drops the reference in the transaction that deletes the row.
//
// Exclusive work on a message (an attempt, its DSNs, its removal) happens under a lease: the row's
// lease_owner (this node's id) and lease_until (the database clock, ms), claimed with
// `SELECT ... FOR UPDATE SKIP LOCKED` (a node never waits for another's claim), renewed every third
// of its length while this node holds it, given back when the work ends. A node killed mid-delivery
// stops renewing; once lease_until has passed any node claims the message and attempts it again
// (at-least-once: the recipients it had not recorded are tried again). While every node lives no
// two attempt one message at once, and an attempt reads the recipients' states only after its
// claim, so a recipient recorded delivered is never sent again.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import type { Logger } from '../../log/logger.js';
import { runPgMigrations } from '../../db/postgres/migrate.js';
import { QUEUE_MODULE } from '../../db/schema/queue.js';
import { transaction, type Pool, type PoolClient } from '../../db/postgres/pool.js';
import type { PostgresStore } from '../../store/postgres/store.js';
import type { StagedBlob } from '../../store/types.js';
import { domainOf } from '../../store/validate.js';
import type { DsnRecipientParams } from '../types.js';
import { MESSAGE_COLUMNS, newId, QueueError, toMessage, toRecipient, type EnqueueRecord, type MessageRow, type QueueBackend, type QueuedMessage, type QueuedRecipient, type RecipientResult, type RecipientRow } from '../queue.js';

/** The database clock in ms: leases compare against one clock whatever the nodes' clocks say. */
const DB_NOW = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;


export interface PgQueueOptions {
  /** Lease length in ms ([queue] lease). */
  leaseMs: number;
  logger: Logger;
}

export class PgQueueStore implements QueueBackend {
  readonly leasing = true;
  readonly kind = 'postgresql';
  /** This process's lease owner name: host, pid and a random part (never reused by a restart). */
  readonly nodeId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly pool: Pool;
  /** Leases this node holds, with how many holders inside the node. */
  private readonly held = new Map<string, number>();
  /** Lease operations per message run one after another (a give-back never overtakes a claim). */
  private readonly leaseOps = new Map<string, Promise<unknown>>();
  private readonly renewTimer: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly store: PostgresStore,
    private readonly opts: PgQueueOptions,
  ) {
    this.pool = store.pool;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, Math.floor(opts.leaseMs / 3)));
    this.renewTimer.unref();
  }

  static async open(store: PostgresStore, opts: PgQueueOptions): Promise<PgQueueStore> {
    await runPgMigrations(store.pool, QUEUE_MODULE, 'the PostgreSQL database');
    return new PgQueueStore(store, opts);
  }

  private check(): void {
    if (this.closed) throw new QueueError('queue is closed');
  }

  private async blobIdOf(id: string): Promise<string> {
    const r = await this.pool.query<{ blob_id: string }>('SELECT blob_id FROM queue_messages WHERE id = $1', [id]);
    if (!r.rows[0]) throw new QueueError(`no message ${id} in the queue`);
    return r.rows[0].blob_id;
  }

  openMessage(id: string, range?: { start?: number; end?: number }): Readable {
    const blobs = this.store.blobData;
    const blobIdOf = (x: string) => this.blobIdOf(x);
    return Readable.from(
      (async function* () {
        yield* blobs.open(await blobIdOf(id), range);
      })(),
      { objectMode: false },
    );
  }

  async readMessage(id: string): Promise<Buffer> {
    return this.store.blobData.read(await this.blobIdOf(id));
  }

  async enqueueStaged(blob: StagedBlob, rec: EnqueueRecord, now: number): Promise<string> {
    this.check();
    const id = newId(now);
    await transaction(this.pool, async (c) => {
      // the bytes where every node reads them, one more held reference, and the rows: one commit
      await this.store.blobData.prepare(c, blob);
      await this.store.blobData.addRef(c, blob, 1, 1);
      await c.query(
        `INSERT INTO queue_messages (${MESSAGE_COLUMNS}, blob_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14)`,
        [id, rec.from, rec.ret ?? null, rec.envid ?? null, rec.smtputf8 ? 1 : 0, rec.body ?? null, rec.requireTls ? 1 : 0, rec.size, rec.needsUtf8 ? 1 : 0, rec.headerFromDomain, rec.submittedBy ?? null, rec.clientIp ?? null, now, blob.id],
      );
      await this.insertRecipients(c, id, 0, rec.recipients, now);
    });
    return id;
  }

  async enqueueBytes(bytes: Uint8Array, rec: EnqueueRecord, now: number): Promise<string> {
    this.check();
    const staged = await this.store.blobs.stage(bytes);
    try {
      return await this.enqueueStaged(staged, rec, now);
    } finally {
      await this.store.blobs.discard(staged);
    }
  }

  private async insertRecipients(c: PoolClient, id: string, from: number, recipients: Array<{ address: string } & DsnRecipientParams>, now: number): Promise<void> {
    if (!recipients.length) return;
    const args: unknown[] = [];
    const rows = recipients.map((r, i) => {
      const b = args.length;
      args.push(id, from + i, r.address, domainOf(r.address), r.notify?.join(',') ?? null, r.orcpt?.type ?? null, r.orcpt?.address ?? null, now);
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, 'queued', $${b + 8})`;
    });
    await c.query(`INSERT INTO queue_recipients (message_id, idx, address, domain, notify, orcpt_type, orcpt_address, state, next_attempt) VALUES ${rows.join(', ')}`, args);
  }

  private async messages(rows: MessageRow[]): Promise<QueuedMessage[]> {
    if (!rows.length) return [];
    const r = await this.pool.query<RecipientRow>('SELECT * FROM queue_recipients WHERE message_id = ANY($1::text[]) ORDER BY message_id, idx', [rows.map((m) => m.id)]);
    const by = new Map<string, RecipientRow[]>();
    for (const x of r.rows) {
      let l = by.get(x.message_id);
      if (!l) by.set(x.message_id, (l = []));
      l.push(x);
    }
    return rows.map((m) => toMessage(m, by.get(m.id) ?? []));
  }

  async get(id: string): Promise<QueuedMessage | null> {
    const r = await this.pool.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM queue_messages WHERE id = $1`, [id]);
    return (await this.messages(r.rows))[0] ?? null;
  }

  async getForDelivery(id: string, maxContent: number): Promise<{ message: QueuedMessage; content: Buffer | null } | null> {
    const message = await this.get(id);
    if (!message) return null;
    return { message, content: message.size <= maxContent ? await this.readMessage(id) : null };
  }

  async mustGet(id: string): Promise<QueuedMessage> {
    const m = await this.get(id);
    if (!m) throw new QueueError(`no message ${id} in the queue`);
    return m;
  }

  async list(opts: { limit?: number; afterId?: string } = {}): Promise<QueuedMessage[]> {
    const r = await this.pool.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM queue_messages WHERE id > $1 ORDER BY id LIMIT $2`, [opts.afterId ?? '', opts.limit ?? 1000]);
    return this.messages(r.rows);
  }

  async count(): Promise<number> {
    return (await this.pool.query<{ n: number }>('SELECT count(*) AS n FROM queue_messages')).rows[0]!.n;
  }

  async due(now: number, limit: number): Promise<QueuedRecipient[]> {
    const r = await this.pool.query<RecipientRow>(
      `SELECT r.* FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id
       WHERE r.state IN ('queued', 'deferred') AND r.next_attempt <= $1 AND m.held = 0
         AND (m.lease_owner IS NULL OR m.lease_owner = $3 OR m.lease_until < ${DB_NOW})
       ORDER BY r.next_attempt, r.message_id, r.idx LIMIT $2`,
      [now, limit, this.nodeId],
    );
    return r.rows.map(toRecipient);
  }

  async record(messageId: string, results: Array<{ idx: number } & RecipientResult>, now: number): Promise<boolean> {
    if (!results.length) return false;
    const out = await transaction(this.pool, async (c) => {
      for (const r of results) {
        const reported = r.reported && (r.state === 'delivered' || r.state === 'bounced') ? 1 : 0;
        await c.query(
          `UPDATE queue_recipients SET state = $1, last_reply = $2, last_status = $3, remote_mta = $4, last_attempt = $5,
             attempts = attempts + $6, next_attempt = coalesce($7, next_attempt), dsn_action = $8, reported = $11
           WHERE message_id = $9 AND idx = $10 AND state IN ('queued', 'deferred')`,
          [r.state, r.reply, r.status, r.remoteMta ?? null, now, r.countAttempt === false ? 0 : 1, r.nextAttempt ?? null, r.dsnAction ?? null, messageId, r.idx, reported],
        );
      }
      if (!results.some((r) => r.reported)) return { deleted: false, collect: null };
      return this.deleteIfDone(c, messageId);
    });
    this.collect(out.collect);
    return out.deleted;
  }

  async addRecipients(messageId: string, recipients: Array<{ address: string } & DsnRecipientParams>, now: number): Promise<void> {
    await transaction(this.pool, async (c) => {
      // the message row locked: two additions never pick the same idx
      const m = await c.query('SELECT id FROM queue_messages WHERE id = $1 FOR UPDATE', [messageId]);
      if (!m.rows[0]) throw new QueueError(`no message ${messageId} in the queue`);
      const r = await c.query<{ m: number | null }>('SELECT max(idx) AS m FROM queue_recipients WHERE message_id = $1', [messageId]);
      await this.insertRecipients(c, messageId, (r.rows[0]?.m ?? -1) + 1, recipients, now);
    });
  }

  /** Inside `c`: deletes the message when every recipient is final and reported (as deleteMessage). */
  private async deleteIfDone(c: PoolClient, id: string): Promise<{ deleted: boolean; collect: string | null }> {
    const left = await c.query<{ n: number }>(`SELECT count(*) AS n FROM queue_recipients WHERE message_id = $1 AND (state IN ('queued','deferred') OR reported = 0)`, [id]);
    if (left.rows[0]!.n > 0) return { deleted: false, collect: null };
    return this.deleteMessage(c, id);
  }

  /** Deletes the message row and drops its blob reference (inside `c`); returns the blob if now unreferenced. */
  private async deleteMessage(c: PoolClient, id: string): Promise<{ deleted: boolean; collect: string | null }> {
    const d = await c.query<{ blob_id: string }>('DELETE FROM queue_messages WHERE id = $1 RETURNING blob_id', [id]);
    const blobId = d.rows[0]?.blob_id;
    if (!blobId) return { deleted: false, collect: null };
    const b = await c.query<{ refs: number }>('UPDATE blobs SET held = held - 1, refs = refs - 1 WHERE id = $1 AND held > 0 RETURNING refs', [blobId]);
    return { deleted: true, collect: b.rows[0] && b.rows[0].refs <= 0 ? blobId : null };
  }

  private collect(blobId: string | null): void {
    if (!blobId) return;
    // deleting an unreferenced row is always safe; a failure leaves it to the next start's sweep
    this.store.blobData.collect([blobId]).catch((err: unknown) => this.opts.logger.warn({ err, blobId }, 'queue: could not delete an unreferenced blob (the next start sweeps it)'));
  }

  async markReported(messageId: string, idxs: number[]): Promise<boolean> {
    const out = await transaction(this.pool, async (c) => {
      if (idxs.length) await c.query('UPDATE queue_recipients SET reported = 1 WHERE message_id = $1 AND idx = ANY($2::int[])', [messageId, idxs]);
      return this.deleteIfDone(c, messageId);
    });
    this.collect(out.collect);
    return out.deleted;
  }

  async markDelayWarned(messageId: string, idxs: number[]): Promise<void> {
    await this.pool.query('UPDATE queue_recipients SET delay_warned = 1 WHERE message_id = $1 AND idx = ANY($2::int[])', [messageId, idxs]);
  }

  async retry(id: string | null, now: number): Promise<number> {
    if (id !== null) await this.mustGet(id);
    const r =
      id === null
        ? await this.pool.query(`UPDATE queue_recipients SET next_attempt = $1 WHERE state IN ('queued','deferred')`, [now])
        : await this.pool.query(`UPDATE queue_recipients SET next_attempt = $1 WHERE message_id = $2 AND state IN ('queued','deferred')`, [now, id]);
    return r.rowCount ?? 0;
  }

  async setHeld(id: string, held: boolean): Promise<void> {
    const r = await this.pool.query('UPDATE queue_messages SET held = $1 WHERE id = $2', [held ? 1 : 0, id]);
    if (!r.rowCount) throw new QueueError(`no message ${id} in the queue`);
  }

  async remove(id: string): Promise<void> {
    const out = await transaction(this.pool, (c) => this.deleteMessage(c, id));
    if (!out.deleted) throw new QueueError(`no message ${id} in the queue`);
    this.collect(out.collect);
  }

  async housekeeping(): Promise<{ unreported: string[]; finished: string[] }> {
    const unreported = await this.pool.query<{ id: string }>(`SELECT DISTINCT message_id AS id FROM queue_recipients WHERE state IN ('delivered','bounced') AND reported = 0 LIMIT 1000`);
    const finished = await this.pool.query<{ id: string }>(
      `SELECT id FROM queue_messages m WHERE NOT EXISTS
         (SELECT 1 FROM queue_recipients r WHERE r.message_id = m.id AND (r.state IN ('queued','deferred') OR r.reported = 0)) LIMIT 1000`,
    );
    return { unreported: unreported.rows.map((r) => r.id), finished: finished.rows.map((r) => r.id) };
  }

  async delayCandidates(before: number): Promise<string[]> {
    const r = await this.pool.query<{ id: string }>(
      `SELECT DISTINCT r.message_id AS id FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id
       WHERE r.state = 'deferred' AND r.delay_warned = 0 AND m.created_at <= $1 AND m.mail_from <> '' LIMIT 1000`,
      [before],
    );
    return r.rows.map((x) => x.id);
  }

  async isDone(id: string): Promise<boolean> {
    const r = await this.pool.query<{ n: number }>(`SELECT count(*) AS n FROM queue_recipients WHERE message_id = $1 AND (state IN ('queued','deferred') OR reported = 0)`, [id]);
    return r.rows[0]!.n === 0;
  }

  /** Nothing to sweep: bytes and rows commit in one transaction. */
  async sweepOrphans(): Promise<number> {
    return 0;
  }

  /** Runs lease operations of one message in order. */
  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.leaseOps.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.leaseOps.set(id, tail);
    void tail.then(() => {
      if (this.leaseOps.get(id) === tail) this.leaseOps.delete(id);
    });
    return next;
  }

  lease(id: string): Promise<boolean> {
    return this.serial(id, async () => {
      this.check();
      const n = this.held.get(id);
      if (n) {
        this.held.set(id, n + 1);
        return true;
      }
      // SKIP LOCKED: a row another node is claiming right now is not waited for; its lease decides
      const r = await this.pool.query(
        `UPDATE queue_messages SET lease_owner = $2, lease_until = ${DB_NOW} + $3
         WHERE id = (SELECT id FROM queue_messages WHERE id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < ${DB_NOW}) FOR UPDATE SKIP LOCKED)
         RETURNING id`,
        [id, this.nodeId, this.opts.leaseMs],
      );
      if (!r.rowCount) return false;
      this.held.set(id, 1);
      return true;
    });
  }

  unlease(id: string): Promise<void> {
    return this.serial(id, async () => {
      const n = this.held.get(id) ?? 0;
      if (n > 1) {
        this.held.set(id, n - 1);
        return;
      }
      this.held.delete(id);
      if (this.closed) return;
      await this.pool.query('UPDATE queue_messages SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2', [id, this.nodeId]);
    });
  }

  /** Extends every lease this node holds; one it no longer holds (expired and taken) is logged. */
  private async renew(): Promise<void> {
    if (this.closed || this.held.size === 0) return;
    const ids = [...this.held.keys()];
    try {
      const r = await this.pool.query<{ id: string }>(`UPDATE queue_messages SET lease_until = ${DB_NOW} + $3 WHERE id = ANY($1::text[]) AND lease_owner = $2 RETURNING id`, [ids, this.nodeId, this.opts.leaseMs]);
      const renewed = new Set(r.rows.map((x) => x.id));
      for (const id of ids) {
        // gone (delivered and removed) or taken by another node after an expiry
        if (!renewed.has(id) && this.held.has(id)) this.opts.logger.debug({ queueId: id }, 'queue: lease not renewed (message gone or taken over)');
      }
    } catch (err) {
      this.opts.logger.warn({ err }, 'queue: renewing leases failed (retried at the next interval)');
    }
  }

  /** Gives back this node's leases (another node may take the messages at once) and stops renewing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.renewTimer);
    await Promise.allSettled([...this.leaseOps.values()]);
    try {
      await this.pool.query('UPDATE queue_messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1', [this.nodeId]);
    } catch (err) {
      this.opts.logger.warn({ err }, 'queue: could not give back leases at close (they expire)');
    }
    this.held.clear();
  }
}
