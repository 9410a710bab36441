// The change feed across nodes (DESIGN.md "Scale-out"): every write transaction of the
// PostgreSQL store sends its events with NOTIFY on one channel before it commits. PostgreSQL
// delivers a transaction's notifications only if and when it commits, and in commit order, to
// every node that LISTENs (one dedicated connection per store). Locally the events are published
// right after COMMIT, as with SQLite (subscribers and observers); a node ignores its own
// notifications. Other nodes' events reach subscribers only: observers act once per change, on
// the node that made it (ChangeFeed.observe).
//
// Payloads: {"n": node id, "e": event}. An event bigger than a NOTIFY payload may be (8000 bytes:
// a flags change or expunge of thousands of messages) goes into change_events and the
// notification carries its row id ({"n", "r"}); such rows are pruned after ten minutes.
import type pg from 'pg';
import type { Logger } from '../../log/logger.js';
import { InProcessChangeFeed } from '../changes.js';
import type { ChangeEvent, ChangeFeed } from '../types.js';
import { connectClient, type Pool, type PoolClient } from '../../db/postgres/pool.js';

export const CHANNEL = 'yubin_changes';
/** Below PostgreSQL's 8000-byte payload limit, with room for the envelope. */
const MAX_PAYLOAD = 7900;
const KEEP_OVERFLOW_MS = 10 * 60_000;

type Observer = (event: ChangeEvent) => void | Promise<void>;

export class PgChangeFeed implements ChangeFeed {
  /** This node's changes: subscribers and observers. */
  readonly local: InProcessChangeFeed;
  /** Other nodes' changes: subscribers only. */
  private readonly remote: InProcessChangeFeed;
  private client: pg.Client | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;
  /** Notifications are handled one after another (an overflow row is fetched in order). */
  private chain: Promise<void> = Promise.resolve();
  /** Resolves once LISTEN is in place (the first time). */
  readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(
    private readonly url: string,
    private readonly pool: Pool,
    readonly nodeId: string,
    private readonly logger: Logger,
  ) {
    this.local = new InProcessChangeFeed(logger);
    this.remote = new InProcessChangeFeed(logger);
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  subscribe(accountId: number, listener: (event: ChangeEvent) => void): () => void {
    const a = this.local.subscribe(accountId, listener);
    const b = this.remote.subscribe(accountId, listener);
    return () => {
      a();
      b();
    };
  }

  observe(listener: Observer): () => void {
    return this.local.observe(listener);
  }

  /** Inside the writing transaction, just before COMMIT: the events go out if and when it commits. */
  async notify(c: PoolClient, events: readonly ChangeEvent[]): Promise<void> {
    for (const e of events) {
      let payload = JSON.stringify({ n: this.nodeId, e });
      if (Buffer.byteLength(payload) > MAX_PAYLOAD) {
        const now = Date.now();
        const r = await c.query<{ id: number }>('INSERT INTO change_events (payload, created_at) VALUES ($1, $2) RETURNING id', [JSON.stringify(e), now]);
        await c.query('DELETE FROM change_events WHERE created_at < $1', [now - KEEP_OVERFLOW_MS]);
        payload = JSON.stringify({ n: this.nodeId, r: r.rows[0]!.id });
      }
      await c.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]);
    }
  }

  /** Connects the listening client (and reconnects it whenever it is lost). */
  start(): Promise<void> {
    if (this.closed || this.client) return Promise.resolve();
    return this.connect();
  }

  private async connect(): Promise<void> {
    let client: pg.Client | null = null;
    try {
      client = await connectClient(this.url, 'yubin-feed');
      client.on('notification', (msg: pg.Notification) => {
        if (msg.channel !== CHANNEL || !msg.payload) return;
        const payload = msg.payload;
        this.chain = this.chain.then(() => this.received(payload)).catch((err: unknown) => this.logger.warn({ err }, 'change feed: could not read a notification'));
      });
      client.on('error', (err: Error) => this.lost(client!, err));
      client.on('end', () => this.lost(client!, new Error('connection ended')));
      await client.query(`LISTEN ${CHANNEL}`);
      if (this.closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
      this.markReady();
    } catch (err) {
      await client?.end().catch(() => undefined);
      this.lost(null, err instanceof Error ? err : new Error(String(err)));
    }
  }

  private lost(client: pg.Client | null, err: Error): void {
    if (client && this.client !== client) return;
    this.client = null;
    if (this.closed || this.retry) return;
    // Events of other nodes are missed until the connection is back (IMAP clients see them at their next command).
    this.logger.warn({ err: err.message }, 'change feed: LISTEN connection lost; reconnecting');
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.connect();
    }, 1000);
    this.retry.unref();
  }

  private async received(payload: string): Promise<void> {
    const msg = JSON.parse(payload) as { n: string; e?: ChangeEvent; r?: number };
    if (msg.n === this.nodeId) return;
    let event = msg.e;
    if (!event && msg.r !== undefined) {
      const r = await this.pool.query<{ payload: string }>('SELECT payload FROM change_events WHERE id = $1', [msg.r]);
      if (!r.rows[0]) return;
      event = JSON.parse(r.rows[0].payload) as ChangeEvent;
    }
    if (event) this.remote.publish([event]);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
    await this.chain;
  }
}
