// Group commit (DESIGN.md "Store"): the one committer every durable writer uses (the store, the
// queue). Each write is a job; jobs that arrive while a batch is being made durable wait together
// for the next batch:
//
//   1. prepare: the owner makes the batch's files durable (fsync of files and directories, on
//      the libuv pool). The next batch is prepared while this one commits (pipelining);
//   2. ONE SQLite transaction (BEGIN IMMEDIATE ... COMMIT) runs every job, each in its own
//      savepoint, so one job's failure (over quota, not found) does not undo the others. The WAL
//      fsync the whole batch shares is either
//        - inside COMMIT (synchronous=FULL, the default): the main thread waits for the disk, or
//        - with `asyncWalSync`: COMMIT runs with synchronous=NORMAL (it writes the WAL frames,
//          no fsync) and the committer then fdatasyncs the -wal file on the libuv pool while
//          the main thread goes on (jobs arriving meanwhile wait for it, then commit in one
//          transaction and share the next fdatasync). docs/store.md "Durability" argues why a
//          transaction is then exactly as durable when its waiters settle as with FULL;
//   3. after the WAL is on disk: the owner's `committed` hook runs (e.g. publish change events in
//      commit order), then every waiting promise settles. Nothing resolves before its commit is
//      on disk; a failed prepare or transaction rejects every job of the batch with that error.
import { close, fdatasync, openSync } from 'node:fs';
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

export interface GroupCommitOptions {
  /** Jobs per transaction at most. */
  maxBatch?: number;
  /**
   * COMMIT with synchronous=NORMAL, then fdatasync the -wal file off the main thread before the
   * batch's hook and waiters (see the header). For a database opened in WAL mode.
   */
  asyncWalSync?: boolean;
  /** The WAL's fdatasync (tests observe or fail it); default fs.fdatasync on the libuv pool. */
  syncWal?: (fd: number) => Promise<void>;
}

/** A batch committed to the WAL whose fdatasync is still to come (asyncWalSync). */
interface Unsynced<P> {
  batch: Job<P>[];
  outcome: Outcome[];
  /** This batch's place in commit order (asyncWalSync). */
  seq: number;
}

type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };

export class GroupCommitter<P = void> {
  private pending: Job<P>[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  /** Batches committed (for tests and the benchmarks). */
  batches = 0;
  private readonly maxBatch: number;
  private readonly asyncWalSync: boolean;
  private readonly syncWal: (fd: number) => Promise<void>;
  /** asyncWalSync: the database's own synchronous level, restored after each group COMMIT. */
  private readonly level: number = 2;
  /** asyncWalSync: the -wal file, opened at the first group COMMIT (SQLite creates it lazily). */
  private walFd: number | null = null;
  /** asyncWalSync: batches in the WAL, waiting for the next fdatasync. */
  private unsynced: Unsynced<P>[] = [];
  /** asyncWalSync: the fdatasync in flight (one at a time; batches after it wait for the next). */
  private syncing: Promise<void> | null = null;
  /** A WAL fdatasync failed: what was written may not be on disk, and a later fdatasync cannot tell. */
  private broken: Error | null = null;
  /** asyncWalSync: batches COMMITted so far, and of those the ones whose WAL is on disk (commit order). */
  private committedSeq = 0;
  private syncedSeq = 0;
  /** Readers waiting until what was committed when they asked is on disk (durable()). */
  private barriers: Array<{ seq: number; resolve: () => void }> = [];

  constructor(
    private readonly db: Database.Database,
    private readonly hooks: GroupCommitHooks<P> = {},
    options: number | GroupCommitOptions = {},
  ) {
    const opts = typeof options === 'number' ? { maxBatch: options } : options;
    this.maxBatch = opts.maxBatch ?? MAX_BATCH;
    this.asyncWalSync = opts.asyncWalSync ?? false;
    this.syncWal = opts.syncWal ?? ((fd) => new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve()))));
    if (this.asyncWalSync) {
      if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') throw new Error('asyncWalSync needs a database in WAL mode');
      this.level = db.pragma('synchronous', { simple: true }) as number;
    }
  }

  /** Runs `apply` inside the next group transaction; resolves after its COMMIT. */
  run<T>(apply: () => T, payload: P): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the database is closed'));
    if (this.broken) return Promise.reject(this.broken);
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
    while (this.running || this.syncing) await (this.running ?? this.syncing);
    if (this.walFd !== null) {
      const fd = this.walFd;
      this.walFd = null;
      await new Promise<void>((resolve) => close(fd, () => resolve()));
    }
  }

  private async loop(): Promise<void> {
    try {
      let next: Prepared<P> | null = null;
      while (next || this.pending.length > 0) {
        // asyncWalSync: jobs that arrive while the WAL's fdatasync runs wait for it, then commit
        // together. Committed at once they would still wait for the next fdatasync, each in a
        // transaction of its own: a COMMIT writes every page it changed to the WAL, and the pages
        // messages share (their mailbox, account, index leaves) were written once per message
        // (SMTP ingest at 10 connections: 1.09 jobs per transaction, 110 µs per COMMIT).
        if (!next && this.syncing) await this.syncing;
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

  /** Steps 2 and 3: one transaction for the batch; then (its WAL on disk) the hook; then settle. */
  private commit(batch: Job<P>[], refused: ReadonlyArray<Error | undefined>): void {
    if (this.broken) {
      this.fail(batch, this.broken);
      return;
    }
    const outcome: Outcome[] = [];
    const db = this.db;
    const relaxed = this.asyncWalSync;
    try {
      // synchronous=NORMAL for this transaction only: other writers on this connection (outside
      // the committer) keep the database's own level and its fsync inside their COMMIT.
      if (relaxed) db.exec('PRAGMA synchronous = NORMAL');
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
    } finally {
      if (relaxed && db.open) db.exec(`PRAGMA synchronous = ${this.level}`);
    }
    if (!relaxed) {
      // Durable now (COMMIT fsynced the WAL).
      this.settle(batch, outcome);
      return;
    }
    // In the WAL, not yet on disk: the next fdatasync makes it durable.
    this.unsynced.push({ batch, outcome, seq: ++this.committedSeq });
    this.syncNext();
  }

  /**
   * asyncWalSync: one fdatasync of the -wal file at a time, covering every batch COMMITted before
   * it started (WAL frames are appended in commit order, so a later fdatasync covers earlier
   * batches too); batches committed while it runs wait for the next one.
   */
  private syncNext(): void {
    if (this.syncing || this.unsynced.length === 0) return;
    const batches = this.unsynced;
    this.unsynced = [];
    let fd: number;
    try {
      // SQLite made the -wal file at this connection's first write in WAL mode, and removes it
      // only when the last connection closes (each connection holds a SHARED lock on the
      // database file until then): this descriptor names the WAL for as long as the database is open.
      fd = this.walFd ??= openSync(`${this.db.name}-wal`, 'r');
    } catch (err) {
      this.walFailed(batches, err);
      return;
    }
    this.syncing = new Promise<void>((resolve) => resolve(this.syncWal(fd))).then(
      () => {
        this.syncedSeq = Math.max(this.syncedSeq, batches[batches.length - 1]!.seq);
        for (const b of batches) this.settle(b.batch, b.outcome);
        this.releaseBarriers();
      },
      (err: unknown) => this.walFailed(batches, err),
    );
    void this.syncing.finally(() => {
      this.syncing = null;
      this.syncNext();
    });
  }

  /**
   * The WAL's fdatasync failed: the batches' changes are in the database file's WAL but may not be
   * on disk, and after a failed fsync Linux may drop the dirty pages and report the next fsync as
   * a success. Their waiters reject, and the committer refuses every later job (the process must
   * reopen the database) rather than acknowledge anything it cannot know is durable.
   */
  private walFailed(batches: Unsynced<P>[], err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.broken ??= new Error(`the database's WAL could not be synced to disk (${e.message}); restart to reopen it`);
    for (const b of [...batches, ...this.unsynced.splice(0)]) this.fail(b.batch, e);
    // nothing will be synced any more: readers are not kept waiting (writes fail from now on)
    this.syncedSeq = this.committedSeq;
    this.releaseBarriers();
  }

  /**
   * A read barrier (asyncWalSync): null when everything committed so far is on disk, else a
   * promise that resolves once it is. A COMMIT with synchronous=NORMAL is visible to readers of
   * this connection before the fdatasync that makes it durable; a reader that shows data to a
   * client (an IMAP or POP3 command) waits here first, so no client ever sees a change that a
   * power cut could still take back (a UID it saw reused, a message it fetched gone).
   */
  durable(): Promise<void> | null {
    if (this.syncedSeq >= this.committedSeq) return null;
    const seq = this.committedSeq;
    return new Promise<void>((resolve) => this.barriers.push({ seq, resolve }));
  }

  private releaseBarriers(): void {
    if (!this.barriers.length) return;
    const still: Array<{ seq: number; resolve: () => void }> = [];
    for (const b of this.barriers) {
      if (b.seq <= this.syncedSeq) b.resolve();
      else still.push(b);
    }
    this.barriers = still;
  }

  /** Step 3, the batch durable: the hook, then every waiter. */
  private settle(batch: Job<P>[], outcome: readonly Outcome[]): void {
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
