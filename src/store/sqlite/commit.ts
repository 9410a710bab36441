// The store's use of the group committer (src/db/sqlite/group-commit.ts, DESIGN.md "Store"):
// every write of the store is a job; what the store adds to each batch is
//
//   1. prepare: the batch's staged blobs are linked to their content address and their
//      directories fsynced, in parallel (fs.promises on the libuv pool), before the metadata
//      that references them commits; a job whose blob could not be linked fails alone;
//   2. (the one SQLite transaction, WAL, one savepoint per job), committed with
//      synchronous=NORMAL and the -wal file then fdatasynced on the libuv pool (asyncWalSync:
//      the main thread does not wait for the disk; docs/store.md "Durability");
//   3. committed, once that fdatasync is done: change events are published in commit order,
//      then every waiting promise settles; nothing is acknowledged before the commit is on disk.
//
// Blob files whose last reference went are deleted after the commit, when the committer is
// idle, by a short transaction that holds SQLite's write lock while it checks the row and unlinks
// the file (so another process sharing the data directory cannot revive the blob in between: an
// inserter checks the file inside its own write transaction, see BlobFiles.ensureFileSync).
import type Database from 'better-sqlite3';
import { GroupCommitter } from '../../db/sqlite/group-commit.js';
import { relaxedTransaction } from '../../db/sqlite/open.js';
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

/** One job of the store: its context and the staged blobs it references. */
interface StoreJob extends TxContext {
  blobs: readonly StagedBlob[];
}

/**
 * The batch's staged blobs that have a file to link. A small message staged in memory goes in its
 * blob row instead (SqliteStore.addBlobRef), inside the transaction: no file before, nothing to
 * collect after.
 */
function withFiles(jobs: readonly StoreJob[]): StagedBlob[] {
  return jobs.flatMap((j) => j.blobs).filter((b) => !b.bytes);
}

/** Deleted-blob candidates that trigger a collection even while busy. */
const GC_THRESHOLD = 1000;

export class StoreCommitter {
  private readonly group: GroupCommitter<StoreJob>;
  private garbage = new Set<string>();

  constructor(
    private readonly db: Database.Database,
    private readonly files: BlobFiles,
    private readonly feed: InProcessChangeFeed,
    private readonly logger: Logger,
    /** Inside each job's savepoint: its events for other processes (change-log.ts). */
    private readonly recordEvents?: (events: readonly ChangeEvent[]) => void,
    /** After each batch's commit (the background checkpointer's cue). */
    private readonly afterCommit?: () => void,
  ) {
    this.group = new GroupCommitter<StoreJob>(
      db,
      {
        prepare: (jobs) => this.link(jobs),
        committed: (jobs, ok) => this.committed(jobs, ok),
        failed: (jobs, err) => {
          this.logger.error({ err }, 'store commit failed');
          // Files linked for this batch may now have no row: collect them.
          for (const job of jobs) for (const s of job.blobs) this.garbage.add(s.id);
        },
        between: (idle) => (idle || this.garbage.size >= GC_THRESHOLD ? this.collect() : Promise.resolve()),
      },
      { asyncWalSync: true },
    );
  }

  /** The read barrier: null when every commit so far is on disk, else when it will be (GroupCommitter.durable). */
  durable(): Promise<void> | null {
    return this.group.durable();
  }

  /** Batches committed (for tests and the benchmark). */
  get batches(): number {
    return this.group.batches;
  }

  /** Runs `apply` inside the next group transaction; resolves after COMMIT. */
  run<T>(apply: (ctx: TxContext) => T, blobs: readonly StagedBlob[] = []): Promise<T> {
    const job: StoreJob = { events: [], released: new Set(), blobs };
    const record = this.recordEvents;
    return this.group.run(
      record
        ? () => {
            const result = apply(job);
            record(job.events);
            return result;
          }
        : () => apply(job),
      job,
    );
  }

  /** Waits for every queued job, then collects garbage; refuses new jobs. */
  async close(): Promise<void> {
    await this.group.close();
    await this.collect();
  }

  /** Step 1: the batch's blob files, durable at their content address (runs on the libuv pool). */
  private async link(jobs: readonly StoreJob[]): Promise<Array<Error | undefined> | void> {
    const staged = withFiles(jobs);
    if (staged.length === 0) return;
    const failed = await this.files.commitFiles(staged);
    if (failed.size === 0) return;
    return jobs.map((j) => {
      const broken = j.blobs.find((b) => failed.has(b.id));
      return broken ? new StoreError('not-found', `could not store message ${broken.id}: ${failed.get(broken.id)!.message}`) : undefined;
    });
  }

  /** Step 3: durable now. Publish in commit order (the committer settles the waiters next). */
  private committed(jobs: readonly StoreJob[], ok: readonly boolean[]): void {
    this.afterCommit?.();
    const events: ChangeEvent[] = [];
    jobs.forEach((job, i) => {
      if (!ok[i]) return;
      events.push(...job.events);
      for (const id of job.released) this.garbage.add(id);
    });
    // A blob linked for this batch may have no reference at all (its job or its targets failed,
    // e.g. over quota): collect it. (A row-kept one exists only if a reference committed.)
    const staged = withFiles(jobs);
    if (staged.length > 0) {
      const refs = this.db.prepare('SELECT refs FROM blobs WHERE id = ?');
      for (const b of staged) {
        const row = refs.get(b.id) as { refs: number } | undefined;
        if (!row || row.refs <= 0) this.garbage.add(b.id);
      }
    }
    this.feed.publish(events);
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
    const remove = deadBlobRemover(db, this.files);
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      try {
        relaxedTransaction(db, () => {
          for (const id of chunk) remove(id);
        });
      } catch (err) {
        this.logger.warn({ err }, 'could not delete unreferenced blobs (the next start sweeps them)');
      }
      if (i + 200 < ids.length) await new Promise<void>((r) => setImmediate(r));
    }
  }
}

/**
 * The one way a blob without references goes (the collector above, the start-up sweep in
 * ../index.ts): inside a write transaction, if its row is gone or at refs <= 0, delete the row,
 * its bytes kept in blob_content and its file together. Returns whether the blob was removed.
 */
export function deadBlobRemover(db: Database.Database, files: BlobFiles): (id: string) => boolean {
  const get = db.prepare('SELECT refs FROM blobs WHERE id = ?');
  const del = db.prepare('DELETE FROM blobs WHERE id = ? AND refs <= 0');
  const delContent = db.prepare('DELETE FROM blob_content WHERE id = ?');
  return (id) => {
    const row = get.get(id) as { refs: number } | undefined;
    if (row && row.refs > 0) return false;
    if (row) del.run(id);
    delContent.run(id);
    files.removeFileSync(id);
    return true;
  };
}
