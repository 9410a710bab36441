// The SQLite store's change feed across processes (docs/store.md "Change feed"). Every process
// that writes to yubin.sqlite (the server, a `yubin` CLI command) also appends its change events to
// `change_log`, one row per write job, in the same transaction: they commit or roll back with the
// change. A process that has subscribers (the server: IMAP IDLE, POP3) watches
// `PRAGMA data_version`, which moves only when another connection has committed, and reads the
// rows after the last it has seen; events of other processes reach its subscribers (observers act
// once per change, in the process that made it, as with PostgreSQL's feed). Rows older than
// RETAIN_MS are deleted.
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log/logger.js';
import { InProcessChangeFeed } from '../changes.js';
import type { ChangeEvent } from '../types.js';
import { CHANGE_LOG_MIGRATIONS } from '../../db/schema/store.js';
import { registerMigrations } from './migrate.js';

registerMigrations('changes', CHANGE_LOG_MIGRATIONS);

/** How often a process with subscribers looks for other processes' commits (a cheap PRAGMA). */
export const POLL_MS = 100;
/** Rows are kept this long (a process reads them within a poll). */
const RETAIN_MS = 10 * 60_000;

export class SqliteChangeFeed extends InProcessChangeFeed {
  /** Other processes' changes: subscribers only. */
  private readonly remote: InProcessChangeFeed;
  readonly origin = randomBytes(8).toString('hex');
  private timer: NodeJS.Timeout | null = null;
  private lastId = 0;
  private dataVersion = -1;
  private lastPrune = 0;
  private closed = false;

  constructor(
    private readonly db: Database.Database,
    logger?: Logger,
  ) {
    super(logger);
    this.remote = new InProcessChangeFeed(logger);
  }

  private insert: Database.Statement | null = null;

  /** Inside a write job's transaction: its events, for the other processes (one row per job). */
  record(events: readonly ChangeEvent[]): void {
    if (!events.length) return;
    this.insert ??= this.db.prepare('INSERT INTO change_log (origin, events, at) VALUES (?, ?, ?)');
    this.insert.run(this.origin, JSON.stringify(events), Date.now());
  }

  override subscribe(accountId: number, listener: (event: ChangeEvent) => void): () => void {
    this.watch();
    const a = super.subscribe(accountId, listener);
    const b = this.remote.subscribe(accountId, listener);
    return () => {
      a();
      b();
    };
  }

  /** Starts watching for other processes' commits (once, at the first subscriber). */
  private watch(): void {
    if (this.timer || this.closed) return;
    this.lastId = (this.db.prepare('SELECT coalesce(max(id), 0) AS id FROM change_log').get() as { id: number }).id;
    this.dataVersion = this.db.pragma('data_version', { simple: true }) as number;
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.timer.unref();
  }

  /** Reads what other processes committed since the last poll and publishes it to subscribers. */
  poll(): void {
    if (this.closed || !this.db.open) return;
    try {
      const v = this.db.pragma('data_version', { simple: true }) as number;
      if (v === this.dataVersion) return;
      this.dataVersion = v;
      const rows = this.db.prepare('SELECT id, origin, events FROM change_log WHERE id > ? ORDER BY id').all(this.lastId) as Array<{ id: number; origin: string; events: string }>;
      for (const r of rows) {
        this.lastId = r.id;
        if (r.origin !== this.origin) this.remote.publish(JSON.parse(r.events) as ChangeEvent[]);
      }
      const now = Date.now();
      if (now - this.lastPrune > 60_000) {
        this.lastPrune = now;
        this.db.prepare('DELETE FROM change_log WHERE at < ?').run(now - RETAIN_MS);
      }
    } catch {
      // busy or closing: the next poll tries again (data_version still differs)
      this.dataVersion = -1;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
