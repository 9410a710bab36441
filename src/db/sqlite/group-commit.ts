// Group commit (DESIGN.md "Store"): the one committer every durable writer uses (the store, the
// queue). Each write is a job; jobs that arrive while a batch is being made durable wait together
// for the next batch:
//
//   1. prepare: the owner makes the batch's files durable (fsync of files and directories, on
//      the libuv pool). The next batch is prepared while this one's COMMIT fsyncs the WAL on the
//      main thread (pipelining);
//   2. ONE SQLite transaction (BEGIN IMMEDIATE ... COMMIT) runs every job, each in its own
//      savepoint, so one job's failure (over quota, not found) does not undo the others; with
//      synchronous=FULL the COMMIT is the one WAL fsync the whole batch shares;
//   3. after COMMIT: the owner's `committed` hook runs (e.g. publish change events in commit
//      order), then every waiting promise settles. Nothing resolves before its commit is on disk;
//      a failed prepare or transaction rejects every job of the batch with that error.
import type Database from 'better-sqlite3';

export interface GroupCommitHooks<P> {
  /**
   * Step 1, for a whole batch, before its transaction. Resolves with an error per job that cannot
   * commit (that job rejects with it and is not run; the others go on), or nothing; rejecting
   * fails every job of the batch.
   */
  prepare?(payloads: readonly P[]): Promise<ReadonlyArray<Error | undefined> | void>;
  /** After COMMIT, before any waiter settles. `ok[i]`: job i's changes are in the database. */
  committed?(payloads: readonly P[], ok: readonly boolean[]): void;
  /** The batch was not committed (prepare or the transaction failed); every job rejects with `err`. */
  failed?(payloads: readonly P[], err: unknown): void;
  /** Between batches when no next batch is being prepared; `idle`: no job is waiting. */
  between?(idle: boolean): Promise<void>;
}

interface Job<P> {
  payload: P;
  apply(): unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface Prepared<P> {
  batch: Job<P>[];
  /** Per-job errors, or an error that fails the batch. */
  ready: Promise<ReadonlyArray<Error | undefined> | Error>;
}

/** Jobs per transaction at most (keeps one synchronous step short). */
const MAX_BATCH = 512;

export class GroupCommitter<P = void> {
  private pending: Job<P>[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  /** Batches committed (for tests and the benchmarks). */
  batches = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly hooks: GroupCommitHooks<P> = {},
    private readonly maxBatch = MAX_BATCH,
  ) {}

  /** Runs `apply` inside the next group transaction; resolves after its COMMIT. */
  run<T>(apply: () => T, payload: P): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the database is closed'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ payload, apply, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) {
        // setImmediate: writes issued in the same turn of the event loop join the first batch.
        this.running = new Promise<void>((done) => setImmediate(() => void this.loop().finally(done)));
      }
    });
  }

  /** Refuses new jobs and waits until every queued one has settled. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    try {
      let next: Prepared<P> | null = null;
      while (next || this.pending.length > 0) {
        const current: Prepared<P> = next ?? this.prepare(this.pending.splice(0, this.maxBatch));
        next = null;
        const ready = await current.ready;
        // Pipelining: prepare the jobs that arrived meanwhile (on the libuv pool) while this
        // batch's COMMIT fsyncs the WAL on the main thread.
        if (this.pending.length > 0) next = this.prepare(this.pending.splice(0, this.maxBatch));
        if (ready instanceof Error) this.fail(current.batch, ready);
        else this.commit(current.batch, ready);
        if (!next && this.hooks.between) {
          await this.hooks.between(this.pending.length === 0).catch((err: unknown) => warnHook('between', err));
        }
      }
    } finally {
      this.running = null;
    }
  }

  private prepare(batch: Job<P>[]): Prepared<P> {
    const hook = this.hooks.prepare;
    const ready = hook
      ? new Promise<ReadonlyArray<Error | undefined> | void>((resolve) => resolve(hook(batch.map((j) => j.payload)))).then(
          (r) => r ?? [],
          (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
        )
      : Promise.resolve([]);
    return { batch, ready };
  }

  private fail(batch: Job<P>[], err: unknown): void {
    hookSafely('failed', () => this.hooks.failed?.(batch.map((j) => j.payload), err));
    for (const job of batch) job.reject(err);
  }

  /** Steps 2 and 3: one transaction for the batch; then the hook; then settle. */
  private commit(batch: Job<P>[], refused: ReadonlyArray<Error | undefined>): void {
    const outcome: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    const db = this.db;
    try {
      db.exec('BEGIN IMMEDIATE');
      batch.forEach((job, i) => {
        const err = refused[i];
        if (err) {
          outcome.push({ ok: false, err });
          return;
        }
        db.exec('SAVEPOINT job');
        try {
          const value = job.apply();
          db.exec('RELEASE job');
          outcome.push({ ok: true, value });
        } catch (err) {
          db.exec('ROLLBACK TO job');
          db.exec('RELEASE job');
          outcome.push({ ok: false, err });
        }
      });
      db.exec('COMMIT');
    } catch (err) {
      if (db.open && db.inTransaction) db.exec('ROLLBACK');
      this.fail(batch, err);
      return;
    }
    // Durable now.
    this.batches++;
    hookSafely('committed', () => this.hooks.committed?.(batch.map((j) => j.payload), outcome.map((o) => o.ok)));
    batch.forEach((job, i) => {
      const o = outcome[i]!;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.err);
    });
  }
}

/**
 * Hooks handle (and log) their own errors; one that throws anyway must not stop the committer or
 * leave waiters hanging, so it becomes a process warning.
 */
function hookSafely(name: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    warnHook(name, err);
  }
}

function warnHook(name: string, err: unknown): void {
  process.emitWarning(`group commit: the ${name} hook threw: ${err instanceof Error ? err.message : String(err)}`);
}
