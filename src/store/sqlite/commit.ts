// Group commit (DESIGN.md "Store"): every write of the store is a job. Jobs that arrive while a
// batch is being made durable wait together for the next batch:
//
//   1. the batch's staged blobs are linked to their content address and their directories
//      fsynced, in parallel (fs.promises on the libuv pool);
//   2. ONE SQLite transaction (WAL, synchronous=FULL) runs every job, each in its own savepoint,
//      so one job's failure (over quota, not found) does not undo the others;
//   3. after COMMIT: change events are published in commit order and every waiting promise
//      settles; nothing is acknowledged before the commit is on disk.
//
// Blob files whose last reference went are deleted after the commit, when the committer is
// idle, by a short transaction that holds SQLite's write lock while it checks the row and unlinks
// the file (so another process sharing the data directory cannot revive the blob in between: an
// inserter checks the file inside its own write transaction, see BlobFiles.ensureFileSync).
import type Database from 'better-sqlite3';
import type { Logger } from '../../log/logger.js';
import type { BlobFiles } from '../blobs.js';
import type { InProcessChangeFeed } from '../changes.js';
import { StoreError, type ChangeEvent, type StagedBlob } from '../types.js';

/** What a job leaves for after the commit. */
export interface TxContext {
  events: ChangeEvent[];
  /** Blob ids whose reference count reached 0. */
  released: Set<string>;
}

interface Linked {
  batch: Job[];
  /** Blob ids that could not be linked (with the reason), or an error that fails the batch. */
  files: Promise<Map<string, Error> | Error>;
}

interface Job {
  blobs: readonly StagedBlob[];
  apply(ctx: TxContext): unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** Jobs per transaction at most (keeps one synchronous step short). */
const MAX_BATCH = 512;
/** Deleted-blob candidates that trigger a collection even while busy. */
const GC_THRESHOLD = 1000;

export class GroupCommitter {
  private pending: Job[] = [];
  private running: Promise<void> | null = null;
  private garbage = new Set<string>();
  private closed = false;
  /** Batches committed (for tests and the benchmark). */
  batches = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly files: BlobFiles,
    private readonly feed: InProcessChangeFeed,
    private readonly logger: Logger,
  ) {}

  /** Runs `apply` inside the next group transaction; resolves after COMMIT. */
  run<T>(apply: (ctx: TxContext) => T, blobs: readonly StagedBlob[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ blobs, apply, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) {
        // setImmediate: writes issued in the same turn of the event loop join the first batch.
        this.running = new Promise<void>((done) => setImmediate(() => void this.loop().finally(done)));
      }
    });
  }

  /** Waits for every queued job, then collects garbage; refuses new jobs. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running) await this.running;
    await this.collect();
  }

  private async loop(): Promise<void> {
    try {
      let next: Linked | null = null;
      while (next || this.pending.length > 0) {
        const current: Linked = next ?? this.link(this.pending.splice(0, MAX_BATCH));
        next = null;
        const failedBlobs = await current.files;
        // Pipelining: link (and fsync) the blobs of the jobs that arrived meanwhile on the libuv
        // pool while this batch's COMMIT fsyncs the WAL on the main thread.
        if (this.pending.length > 0) next = this.link(this.pending.splice(0, MAX_BATCH));
        if (failedBlobs instanceof Error) {
          for (const job of current.batch) job.reject(failedBlobs);
        } else {
          this.commitBatch(current.batch, failedBlobs);
        }
        if (!next && (this.garbage.size >= GC_THRESHOLD || this.pending.length === 0)) await this.collect();
      }
    } finally {
      this.running = null;
    }
  }

  /** Step 1: the batch's blob files, durable at their content address (runs on the libuv pool). */
  private link(batch: Job[]): Linked {
    const staged = batch.flatMap((j) => j.blobs);
    const files = staged.length === 0 ? Promise.resolve(new Map<string, Error>()) : this.files.commitFiles(staged).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
    return { batch, files };
  }

  /** Steps 2 and 3: one transaction for the batch; then publish and settle. */
  private commitBatch(batch: Job[], failedBlobs: Map<string, Error>): void {
    const staged = batch.flatMap((j) => j.blobs);
    const outcome: Array<{ ok: true; value: unknown; ctx: TxContext } | { ok: false; err: unknown }> = [];
    const db = this.db;
    try {
      db.exec('BEGIN IMMEDIATE');
      for (const job of batch) {
        const broken = job.blobs.find((b) => failedBlobs.has(b.id));
        if (broken) {
          outcome.push({ ok: false, err: new StoreError('not-found', `could not store message ${broken.id}: ${failedBlobs.get(broken.id)!.message}`) });
          continue;
        }
        const ctx: TxContext = { events: [], released: new Set() };
        db.exec('SAVEPOINT job');
        try {
          const value = job.apply(ctx);
          db.exec('RELEASE job');
          outcome.push({ ok: true, value, ctx });
        } catch (err) {
          db.exec('ROLLBACK TO job');
          db.exec('RELEASE job');
          outcome.push({ ok: false, err });
        }
      }
      db.exec('COMMIT');
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      this.logger.error({ err }, 'store commit failed');
      for (const job of batch) job.reject(err);
      // Files linked for this batch may now have no row: collect them.
      for (const s of staged) this.garbage.add(s.id);
      return;
    }
    this.batches++;
    // Durable now. Publish in commit order, then settle.
    const events: ChangeEvent[] = [];
    batch.forEach((job, i) => {
      const o = outcome[i]!;
      if (o.ok) {
        events.push(...o.ctx.events);
        for (const id of o.ctx.released) this.garbage.add(id);
      }
    });
    // A blob linked for this batch may have no reference at all (its job or its targets failed,
    // e.g. over quota): collect it.
    if (staged.length > 0) {
      const refs = db.prepare('SELECT refs FROM blobs WHERE id = ?');
      for (const b of staged) {
        const row = refs.get(b.id) as { refs: number } | undefined;
        if (!row || row.refs <= 0) this.garbage.add(b.id);
      }
    }
    this.feed.publish(events);
    batch.forEach((job, i) => {
      const o = outcome[i]!;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.err);
    });
  }

  /**
   * Deletes blobs without references: under the write lock, delete the row (refs = 0 or none)
   * and unlink the file. This transaction need not be durable: if it is lost, the row (refs = 0)
   * comes back without a file, which the next inserter re-links and the next sweep removes.
   */
  private async collect(): Promise<void> {
    if (this.garbage.size === 0) return;
    const ids = [...this.garbage];
    this.garbage.clear();
    const db = this.db;
    const get = db.prepare('SELECT refs FROM blobs WHERE id = ?');
    const del = db.prepare('DELETE FROM blobs WHERE id = ? AND refs <= 0');
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      try {
        db.pragma('synchronous = NORMAL');
        db.exec('BEGIN IMMEDIATE');
        try {
          for (const id of chunk) {
            const row = get.get(id) as { refs: number } | undefined;
            if (row && row.refs > 0) continue;
            if (row) del.run(id);
            this.files.removeFileSync(id);
          }
          db.exec('COMMIT');
        } catch (err) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw err;
        } finally {
          db.pragma('synchronous = FULL');
        }
      } catch (err) {
        this.logger.warn({ err }, 'could not delete unreferenced blobs (the next start sweeps them)');
      }
      if (i + 200 < ids.length) await new Promise<void>((r) => setImmediate(r));
    }
  }
}
