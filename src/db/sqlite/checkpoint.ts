// WAL checkpoints off the main thread (docs/store.md "Checkpoints").
//
// SQLite copies the WAL back into the database file (a checkpoint) by itself when a COMMIT leaves
// the WAL over 1,000 pages: inside that COMMIT, on the connection that made it. With
// better-sqlite3 that is the main thread, and a checkpoint writes megabytes and fsyncs the
// database file: the profiles showed 11-46 ms pauses of the event loop inside COMMIT (more since
// small messages live in the store's rows). Here the connection's automatic checkpoints are
// turned off and a thread with its own connection to the same file runs PASSIVE checkpoints
// (they never block a reader or a writer; they copy what no reader still needs) at most every
// INTERVAL_MS while the database is written; the next write after a complete one starts the WAL
// over from its beginning, as after an automatic checkpoint.
//
// The thread is a ThreadClient (src/workers/thread-client.ts): plain JavaScript evaluated from this
// string (runs the same compiled and from source); better-sqlite3 is loaded from the path the main
// thread resolved.
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { ThreadClient } from '../../workers/thread-client.js';

/** How often the thread checkpoints while there are commits. */
const INTERVAL_MS = 250;

const CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.path, { timeout: 5000 });
db.pragma('wal_autocheckpoint = 0');
parentPort.on('message', (m) => {
  let r = null;
  try {
    // [busy, pages in the WAL, pages checkpointed]
    r = { id: m.id, ...db.pragma('wal_checkpoint(PASSIVE)')[0] };
  } catch (e) {
    r = { id: m.id, error: String((e && e.message) || e) };
  }
  parentPort.postMessage(r);
});
`;

export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

export class BackgroundCheckpointer {
  private readonly thread: ThreadClient<{ id: number } & (CheckpointResult | { error: string })>;
  private timer: NodeJS.Timeout | null = null;
  /** The checkpoint the thread is running. */
  private inFlight: Promise<void> | null = null;
  private dirty = false;
  private closed = false;
  /** Checkpoints run so far and the last one's result (tests). */
  runs = 0;
  last: CheckpointResult | { error: string } | null = null;

  /** Turns off `db`'s own checkpoints; a thread checkpoints the file from now on. */
  constructor(
    db: Database.Database,
    private readonly intervalMs = INTERVAL_MS,
  ) {
    db.pragma('wal_autocheckpoint = 0');
    this.thread = new ThreadClient(CODE, { path: db.name, sqlite: createRequire(import.meta.url).resolve('better-sqlite3') }, 'checkpointer');
  }

  /** A commit happened: a checkpoint runs within intervalMs. Cheap enough for every commit. */
  noteCommit(): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.timer || this.inFlight) return;
    this.timer = setTimeout(() => void this.run(), this.intervalMs);
    this.timer.unref();
  }

  /** Runs a checkpoint (or joins the one running); a thread that died is started again next time. */
  private run(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight) return this.inFlight;
    if (this.closed) return Promise.resolve();
    this.dirty = false;
    this.inFlight = this.thread.request({}).then(
      ({ id: _id, ...result }) => {
        this.runs++;
        this.last = result;
      },
      () => undefined,
    );
    void this.inFlight.finally(() => {
      this.inFlight = null;
      if (this.dirty) this.noteCommit();
    });
    return this.inFlight;
  }

  /** Runs a checkpoint now and resolves when it is done (tests). */
  checkpointNow(): Promise<void> {
    return this.run();
  }

  /** Stops the thread, after a checkpoint in progress (the connection's own close then checkpoints what is left). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
    await this.thread.close();
  }
}
