// The durable outbound queue (DESIGN.md "Queue"): its own SQLite database data_dir/queue.sqlite
// (WAL, numbered migrations; opened through src/db/sqlite/; the connection at synchronous=NORMAL,
// every write that must be durable made so explicitly: docs/queue.md "On disk"), holding a message
// of up to INLINE_MAX octets in its row and a larger one as data_dir/queue/<id>.eml. A message is
// on disk (row committed and the WAL fsynced; a file and its directory fsynced first) before
// enqueue resolves; enqueues arriving together share one commit, one WAL fsync and one directory
// fsync (the shared group committer). The CLI opens the same database from another process; the
// scheduler polls it.
import type Database from 'better-sqlite3';
import { mkdirSync, createReadStream, openSync, readSync, closeSync, constants as fsConstants } from 'node:fs';
import { open, copyFile, link, unlink, rm, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { StagedBlob } from '../store/types.js';
import { GroupCommitter } from '../db/sqlite/group-commit.js';
import { BackgroundCheckpointer } from '../db/sqlite/checkpoint.js';
import { QUEUE_MODULE } from '../db/schema/queue.js';
import { openDatabase } from '../db/sqlite/open.js';
import { StatementCache } from '../db/sqlite/statements.js';
import { fsyncDir, stagedFile } from '../store/blobs.js';
import type { OutboundMessage, DsnRecipientParams } from './types.js';
import { domainOf } from '../store/validate.js';

export type RecipientState = 'queued' | 'deferred' | 'delivered' | 'bounced';

export interface QueuedRecipient extends DsnRecipientParams {
  messageId: string;
  idx: number;
  address: string;
  domain: string;
  state: RecipientState;
  attempts: number;
  /** ms since the epoch. */
  nextAttempt: number;
  lastAttempt: number | null;
  /** Last reply, e.g. "550 5.1.1 no such user" (ours or the remote's). */
  lastReply: string | null;
  /** Enhanced status of the last result, e.g. "5.1.1". */
  lastStatus: string | null;
  /** The server that gave the last reply, e.g. "mx.b.test". */
  remoteMta: string | null;
  /** A DSN (or the decision not to send one) was made for the final state. */
  reported: boolean;
  /** A delay warning was sent. */
  delayWarned: boolean;
  /** For a delivered recipient: the success DSN action we owe when NOTIFY=SUCCESS ("delivered" locally, "relayed" to a server without DSN), or null. */
  dsnAction: 'delivered' | 'relayed' | 'expanded' | null;
}

export interface QueuedMessage {
  id: string;
  from: string;
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
  smtputf8: boolean;
  body: '7BIT' | '8BITMIME' | 'BINARYMIME' | null;
  requireTls: boolean;
  size: number;
  /** The message needs SMTPUTF8 (the flag, a non-ASCII address, or UTF-8 headers). */
  needsUtf8: boolean;
  /** Domain of the From: header (for DKIM signing), or null. */
  headerFromDomain: string | null;
  submittedBy: string | null;
  clientIp: string | null;
  /** ms since the epoch. */
  createdAt: number;
  held: boolean;
  recipients: QueuedRecipient[];
}

export class QueueError extends Error {
  readonly userFacing = true;
  constructor(message: string) {
    super(message);
    this.name = 'QueueError';
  }
}

export interface MessageRow {
  id: string;
  mail_from: string;
  ret: string | null;
  envid: string | null;
  smtputf8: number;
  body: string | null;
  require_tls: number;
  size: number;
  needs_utf8: number;
  header_from_domain: string | null;
  submitted_by: string | null;
  client_ip: string | null;
  created_at: number;
  held: number;
}

export interface RecipientRow {
  message_id: string;
  idx: number;
  address: string;
  domain: string;
  notify: string | null;
  orcpt_type: string | null;
  orcpt_address: string | null;
  state: string;
  attempts: number;
  next_attempt: number;
  last_attempt: number | null;
  last_reply: string | null;
  last_status: string | null;
  remote_mta: string | null;
  reported: number;
  delay_warned: number;
  dsn_action: string | null;
}

export function toRecipient(r: RecipientRow): QueuedRecipient {
  return {
    messageId: r.message_id,
    idx: r.idx,
    address: r.address,
    domain: r.domain,
    notify: r.notify ? (r.notify.split(',') as QueuedRecipient['notify']) : undefined,
    orcpt: r.orcpt_type && r.orcpt_address !== null ? { type: r.orcpt_type, address: r.orcpt_address } : undefined,
    state: r.state as RecipientState,
    attempts: r.attempts,
    nextAttempt: r.next_attempt,
    lastAttempt: r.last_attempt,
    lastReply: r.last_reply,
    lastStatus: r.last_status,
    remoteMta: r.remote_mta,
    reported: r.reported === 1,
    delayWarned: r.delay_warned === 1,
    dsnAction: (r.dsn_action as QueuedRecipient['dsnAction']) ?? null,
  };
}

export function toMessage(m: MessageRow, rcpts: RecipientRow[]): QueuedMessage {
  return {
    id: m.id,
    from: m.mail_from,
    ret: (m.ret as QueuedMessage['ret']) ?? null,
    envid: m.envid,
    smtputf8: m.smtputf8 === 1,
    body: (m.body as QueuedMessage['body']) ?? null,
    requireTls: m.require_tls === 1,
    size: m.size,
    needsUtf8: m.needs_utf8 === 1,
    headerFromDomain: m.header_from_domain,
    submittedBy: m.submitted_by,
    clientIp: m.client_ip,
    createdAt: m.created_at,
    held: m.held === 1,
    recipients: rcpts.map(toRecipient),
  };
}

/**
 * Messages up to this size are kept in their row of queue.sqlite (docs/queue.md "On disk"): the
 * enqueue is one transaction, with no file to link and no directory to fsync.
 */
export const INLINE_MAX = 64 * 1024;

/**
 * Shortest time between two shared state transactions (ms): results recorded meanwhile wait for
 * the next one (the delivery slots do not wait for it, docs/queue.md "Scheduling").
 */
export const STATE_FLUSH_GAP_MS = 5;

/** Small messages inserted by one job of the group commit, at most. */
const INLINE_BATCH = 512;

/** The columns of a message row (MessageRow), without the bytes. */
export const MESSAGE_COLUMNS = 'id, mail_from, ret, envid, smtputf8, body, require_tls, size, needs_utf8, header_from_domain, submitted_by, client_ip, created_at, held';
const MESSAGE_FIELDS = MESSAGE_COLUMNS.split(',').length;

/** The columns of a recipient row (RecipientRow), in the order recipientRowOf reads them. */
const RECIPIENT_COLUMNS = ['message_id', 'idx', 'address', 'domain', 'notify', 'orcpt_type', 'orcpt_address', 'state', 'attempts', 'next_attempt', 'last_attempt', 'last_reply', 'last_status', 'remote_mta', 'reported', 'delay_warned', 'dsn_action'] as const;

/** A raw row whose first columns are MESSAGE_COLUMNS, as a MessageRow. */
function messageRowOf(a: unknown[]): MessageRow {
  return {
    id: a[0] as string,
    mail_from: a[1] as string,
    ret: a[2] as string | null,
    envid: a[3] as string | null,
    smtputf8: a[4] as number,
    body: a[5] as string | null,
    require_tls: a[6] as number,
    size: a[7] as number,
    needs_utf8: a[8] as number,
    header_from_domain: a[9] as string | null,
    submitted_by: a[10] as string | null,
    client_ip: a[11] as string | null,
    created_at: a[12] as number,
    held: a[13] as number,
  };
}

/** The RECIPIENT_COLUMNS of a raw row, from column `at` on, as a RecipientRow. */
function recipientRowOf(a: unknown[], at: number): RecipientRow {
  return {
    message_id: a[at] as string,
    idx: a[at + 1] as number,
    address: a[at + 2] as string,
    domain: a[at + 3] as string,
    notify: a[at + 4] as string | null,
    orcpt_type: a[at + 5] as string | null,
    orcpt_address: a[at + 6] as string | null,
    state: a[at + 7] as string,
    attempts: a[at + 8] as number,
    next_attempt: a[at + 9] as number,
    last_attempt: a[at + 10] as number | null,
    last_reply: a[at + 11] as string | null,
    last_status: a[at + 12] as string | null,
    remote_mta: a[at + 13] as string | null,
    reported: a[at + 14] as number,
    delay_warned: a[at + 15] as number,
    dsn_action: a[at + 16] as string | null,
  };
}

/**
 * A small file just written (a staged blob), read with one synchronous open/read/close: four
 * requests to the libuv pool cost more than the read. O_NOATIME (allowed on our own files): a
 * read never dirties the inode, so it never waits for the file system's journal.
 */
function readSmallFile(path: string, size: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NOATIME ?? 0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    fd = openSync(path, fsConstants.O_RDONLY); // not the file's owner
  }
  try {
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) throw new QueueError(`${path}: ${got} of ${size} octets (the staged file is shorter than its blob)`);
      got += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** A queue id: sortable by time, unique (10 base-36 time digits + 8 hex: a per-process random start, counting up). */
let idCounter = randomBytes(4).readUInt32BE(0);
export function newId(now: number): string {
  idCounter = (idCounter + 1) >>> 0;
  return now.toString(36).padStart(10, '0').toUpperCase() + idCounter.toString(16).padStart(8, '0').toUpperCase();
}

/** What enqueueing needs besides the message file. */
export interface EnqueueRecord {
  from: string;
  recipients: Array<{ address: string } & DsnRecipientParams>;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  smtputf8?: boolean;
  body?: '7BIT' | '8BITMIME' | 'BINARYMIME';
  requireTls?: boolean;
  size: number;
  needsUtf8: boolean;
  headerFromDomain: string | null;
  submittedBy?: string;
  clientIp?: string;
}

/**
 * The message as an enqueue of `rec` at `now` writes it (every recipient queued, never tried):
 * what getForDelivery reads back for it until something changes it. The scheduler starts a message
 * this process has just enqueued from this copy instead of reading it again (docs/queue.md
 * "Scheduling"). src/queue/carried.test.ts compares the two.
 */
export function freshMessage(id: string, rec: EnqueueRecord, now: number): QueuedMessage {
  return {
    id,
    from: rec.from,
    ret: rec.ret ?? null,
    envid: rec.envid ?? null,
    smtputf8: !!rec.smtputf8,
    body: rec.body ?? null,
    requireTls: !!rec.requireTls,
    size: rec.size,
    needsUtf8: rec.needsUtf8,
    headerFromDomain: rec.headerFromDomain,
    submittedBy: rec.submittedBy ?? null,
    clientIp: rec.clientIp ?? null,
    createdAt: now,
    held: false,
    recipients: rec.recipients.map((r, idx) => ({
      messageId: id,
      idx,
      address: r.address,
      domain: domainOf(r.address),
      // as stored (a comma-joined list, an empty one as none) and read back by toRecipient
      notify: r.notify?.length ? ([...r.notify] as QueuedRecipient['notify']) : undefined,
      orcpt: r.orcpt?.type && r.orcpt.address !== null && r.orcpt.address !== undefined ? { type: r.orcpt.type, address: r.orcpt.address } : undefined,
      state: 'queued',
      attempts: 0,
      nextAttempt: now,
      lastAttempt: null,
      lastReply: null,
      lastStatus: null,
      remoteMta: null,
      reported: false,
      delayWarned: false,
      dsnAction: null,
    })),
  };
}

export interface RecipientResult {
  state: RecipientState;
  reply: string;
  status: string;
  remoteMta?: string | null;
  /** For deferrals: when to try again (ms since epoch). */
  nextAttempt?: number;
  /** Count this as an attempt (false for a delivery cut short by shutdown). */
  countAttempt?: boolean;
  /** Delivered: which success DSN we owe if NOTIFY=SUCCESS (null: the next server reports). */
  dsnAction?: 'delivered' | 'relayed' | 'expanded' | null;
  /**
   * A final result for which no DSN is owed: recorded as reported at once, and a message left
   * finished by it is removed in the same transaction (no separate report step).
   */
  reported?: boolean;
}

/**
 * The queue's storage (docs/queue.md "Storage"), one interface with two backends: QueueStore
 * (SQLite, data_dir/queue.sqlite and data_dir/queue/, one server per data directory) and
 * PgQueueStore (src/queue/store/postgres.ts: rows in PostgreSQL, bytes as held store blobs,
 * several nodes). Every method is durable when its promise resolves.
 */
export interface QueueBackend {
  readonly kind: 'sqlite' | 'postgresql';
  /** Streams the message bytes [start, end). */
  openMessage(id: string, range?: { start?: number; end?: number }): Readable;
  readMessage(id: string): Promise<Buffer>;
  /** Takes a staged message into the queue; durable (bytes and rows) when it resolves. */
  enqueueStaged(blob: StagedBlob, rec: EnqueueRecord, now: number): Promise<string>;
  /** Writes bytes (a DSN) into the queue and commits the record. */
  enqueueBytes(bytes: Uint8Array, rec: EnqueueRecord, now: number): Promise<string>;
  get(id: string): Promise<QueuedMessage | null>;
  /**
   * What an attempt reads: the message with its recipients and, when it is at most `maxContent`
   * octets, its bytes (else null: streamed with openMessage); null when there is no such message.
   */
  getForDelivery(id: string, maxContent: number): Promise<{ message: QueuedMessage; content: Buffer | null } | null>;
  mustGet(id: string): Promise<QueuedMessage>;
  list(opts?: { limit?: number; afterId?: string }): Promise<QueuedMessage[]>;
  count(): Promise<number>;
  /** Pending recipients of messages not on hold and not leased by another node, due at `now`, oldest first. */
  due(now: number, limit: number): Promise<QueuedRecipient[]>;
  /**
   * Records results in one transaction; true when that finished the message and removed it
   * (results marked `reported`). `by` 'attempt': the results of this process's delivery attempt
   * (copyMark does not move); anything else, such as an administrator's bounce, moves it.
   */
  record(messageId: string, results: Array<{ idx: number } & RecipientResult>, now: number, by?: 'attempt'): Promise<boolean>;
  addRecipients(messageId: string, recipients: Array<{ address: string } & DsnRecipientParams>, now: number): Promise<void>;
  /** Marks final recipients reported; a finished message is removed in the same transaction. True when it is gone. */
  markReported(messageId: string, idxs: number[]): Promise<boolean>;
  markDelayWarned(messageId: string, idxs: number[]): Promise<void>;
  retry(id: string | null, now: number): Promise<number>;
  setHeld(id: string, held: boolean): Promise<void>;
  remove(id: string): Promise<void>;
  housekeeping(): Promise<{ unreported: string[]; finished: string[] }>;
  delayCandidates(before: number): Promise<string[]>;
  isDone(id: string): Promise<boolean>;
  /** Leftovers of a crash before commit, removed at start; returns how many. */
  sweepOrphans(): Promise<number>;
  /**
   * Takes this node's lease on a message before attempting, reporting or removing it: true when
   * this node now holds it (leases nest within a node), false when another node does. With
   * SQLite (one server per data directory) always true.
   */
  lease(id: string): Promise<boolean>;
  /**
   * Whether leases mean anything: false when one server owns the database (SQLite), where lease()
   * is always true and unlease() does nothing, so the scheduler need not call them per attempt.
   */
  readonly leasing: boolean;
  /** Gives back one lease() of this node. */
  unlease(id: string): Promise<void>;
  /**
   * A mark that moves whenever the queue's rows may have changed other than by an enqueue or a
   * delivery's record: another process committed (the CLI), or this process held, released,
   * retried, deleted, reported or added recipients. While it has not moved, a copy of a new
   * message taken at its enqueue is still the message's rows (Scheduler.offer). Absent: no such
   * mark (copies are trusted for the poll interval).
   */
  copyMark?(): number;
  close(): Promise<void>;
}

export class QueueStore implements QueueBackend {
  readonly kind = 'sqlite';
  readonly leasing = false;
  readonly dir: string;
  private readonly db: Database.Database;
  /** copyMark(): bumped by this process's changes outside enqueue and record, and when data_version moved. */
  private mark = 0;
  private dataVersion: number | null = null;
  private dataVersionStmt: Database.Statement | null = null;
  /** Enqueues share one directory fsync (when one of them has a file: the payload) and one commit. */
  private readonly committer: GroupCommitter<boolean>;
  /** Queue ids whose file is being written or committed (not orphans). */
  private readonly inFlight = new Set<string>();
  private closed = false;

  constructor(
    dataDir: string,
    /** The WAL's fdatasync (tests gate it to see that nothing resolves before it). */
    opts: { syncWal?: (fd: number) => Promise<void> } = {},
  ) {
    this.dir = join(dataDir, 'queue');
    mkdirSync(this.dir, { recursive: true });
    this.db = openDatabase(join(dataDir, 'queue.sqlite'), {
      synchronous: 'FULL',
      busyTimeoutMs: 5000,
      foreignKeys: true,
      // Numbered migrations (src/db/schema/queue.ts); a database newer than the code refuses to open.
      migrations: [QUEUE_MODULE],
    });
    // The connection's own level is NORMAL: delivery-state changes (most of the writes) commit
    // without an fsync and without switching the level around each transaction (two PRAGMA
    // statements, as much as the transaction's own work); enqueues are made durable by the group
    // committer's WAL fdatasync, and the other writes that must be durable by durableTx (FULL).
    this.db.pragma('synchronous = NORMAL');
    this.statements = new StatementCache(this.db);
    this.tx = this.db.transaction((fn: () => unknown) => fn());
    // WAL checkpoints in a thread of their own, not inside a COMMIT on the main thread (they
    // showed as 11-46 ms pauses in the relay profile; src/db/sqlite/checkpoint.ts).
    this.checkpointer = this.db.memory ? null : new BackgroundCheckpointer(this.db);
    this.committer = new GroupCommitter<boolean>(
      this.db,
      {
        // The new directory entries must be on disk before the rows that name them.
        prepare: async (hasFile) => {
          if (this.closed) throw new QueueError('queue is closed');
          if (hasFile.some(Boolean)) await fsyncDir(this.dir);
        },
        committed: () => this.checkpointer?.noteCommit(),
      },
      // The WAL's fsync on the libuv pool after a synchronous=NORMAL COMMIT, before any enqueue of
      // the batch resolves (src/db/sqlite/group-commit.ts): as durable as FULL, and the main
      // thread (the SMTP sessions, the deliveries) goes on meanwhile.
      { asyncWalSync: true, syncWal: opts.syncWal },
    );
  }

  private readonly statements: StatementCache;
  private readonly checkpointer: BackgroundCheckpointer | null;

  /** Prepared once, reused (preparing is a large part of a small query's cost). */
  private stmt(sql: string): Database.Statement {
    return this.statements.get(sql);
  }

  /**
   * Delivery-state changes commit with synchronous=NORMAL (the connection's level): in WAL mode a
   * power loss may undo the last of them, which only means a delivery (or a DSN) happens again
   * (at-least-once). Enqueues are durable before they resolve (the group committer's fdatasync):
   * an acknowledged message is never lost.
   */
  private stateTx<T>(fn: () => T): T {
    return this.tx.immediate(fn) as T;
  }

  /**
   * Runs its argument in a transaction (BEGIN IMMEDIATE with .immediate), or in a savepoint inside
   * one: made once (better-sqlite3 builds a wrapper per transaction() call, a cost per job).
   */
  private readonly tx: Database.Transaction<(fn: () => unknown) => unknown>;

  /** A write that must be on disk when it returns (the admin's changes, added recipients): COMMIT with synchronous=FULL. */
  private durableTx<T>(fn: () => T): T {
    this.db.exec('PRAGMA synchronous = FULL');
    try {
      return this.tx.immediate(fn) as T;
    } finally {
      if (this.db.open) this.db.exec('PRAGMA synchronous = NORMAL');
    }
  }

  /** State changes waiting for the next shared transaction. */
  private stateJobs: Array<{ fn: () => unknown; atomic: boolean; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];

  /** When the last shared state transaction ran (performance.now()). */
  private lastStateFlush = -Infinity;

  /**
   * A state change (as stateTx) that shares one transaction with the others issued until it runs:
   * in the next turn of the event loop, and at least STATE_FLUSH_GAP_MS after the previous one
   * (deliveries finishing one after another share it: a transaction's own cost, BEGIN and a
   * COMMIT writing every changed page to the WAL, is most of a small change's). With several
   * jobs each runs in its own savepoint, so one that throws undoes only itself, unless it is
   * `atomic` (it leaves nothing when it throws, e.g. a single statement). Resolves after the
   * shared COMMIT.
   */
  private stateBatch<T>(fn: () => T, atomic = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.stateJobs.push({ fn, atomic, resolve: resolve as (v: unknown) => void, reject });
      if (this.stateJobs.length > 1) return;
      const wait = this.lastStateFlush + STATE_FLUSH_GAP_MS - performance.now();
      if (wait <= 0) setImmediate(() => this.flushState());
      else setTimeout(() => this.flushState(), wait);
    });
  }

  private flushState(): void {
    const jobs = this.stateJobs.splice(0);
    this.lastStateFlush = performance.now();
    const out: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    try {
      if (this.closed) throw new QueueError('queue is closed');
      this.stateTx(() => {
        for (const j of jobs) {
          try {
            // alone in the transaction, or undoing itself when it fails (atomic): no savepoint
            out.push({ ok: true, value: jobs.length === 1 || j.atomic ? j.fn() : this.tx(j.fn) });
          } catch (err) {
            if (jobs.length === 1) throw err;
            out.push({ ok: false, err });
          }
        }
      });
    } catch (err) {
      for (const j of jobs) j.reject(err);
      return;
    }
    this.checkpointer?.noteCommit();
    jobs.forEach((j, i) => {
      const o = out[i]!;
      if (o.ok) j.resolve(o.value);
      else j.reject(o.err);
    });
  }

  filePath(id: string): string {
    if (!/^[0-9A-Z]+$/.test(id)) throw new QueueError(`malformed queue id: ${id}`);
    return join(this.dir, `${id}.eml`);
  }

  /** The bytes of a message kept in its row, or null (a file, or no such message). */
  private inline(id: string): Buffer | null {
    const r = this.stmt('SELECT content FROM messages WHERE id = ?').get(id) as { content: Buffer | null } | undefined;
    return r?.content ?? null;
  }

  openMessage(id: string, range?: { start?: number; end?: number }): Readable {
    const bytes = this.inline(id);
    if (bytes) return Readable.from([bytes.subarray(range?.start ?? 0, range?.end ?? bytes.length)], { objectMode: false });
    return createReadStream(this.filePath(id), { start: range?.start, end: range?.end === undefined ? undefined : range.end - 1 });
  }

  async readMessage(id: string): Promise<Buffer> {
    return this.inline(id) ?? readFile(this.filePath(id));
  }

  async enqueueStaged(blob: StagedBlob, rec: EnqueueRecord, now: number): Promise<string> {
    // Staged in memory (BlobWriterOptions.memory: under 64 KiB, so never over INLINE_MAX): no file to read.
    if (blob.bytes && blob.size <= INLINE_MAX) return this.enqueueInline(blob.bytes, rec, now);
    if (blob.size <= INLINE_MAX) return this.enqueueInline(readSmallFile(stagedFile(blob), blob.size), rec, now);
    return this.enqueueFile(stagedFile(blob), rec, now);
  }

  /** Small messages waiting for the next group commit (one job of the committer for all of them). */
  private inlineWaiting: Array<{ id: string; rec: EnqueueRecord; now: number; bytes: Uint8Array; resolve: (id: string) => void; reject: (err: unknown) => void }> = [];

  /**
   * A small message into its row: durable with the group's COMMIT, nothing else to sync. The small
   * messages that arrive until the committer runs its next batch are inserted by one job of that
   * batch (one savepoint of the group transaction for all of them, not one each); insert() undoes
   * one that fails by itself, so the others go on.
   */
  private enqueueInline(bytes: Uint8Array, rec: EnqueueRecord, now: number): Promise<string> {
    const id = newId(now);
    return new Promise<string>((resolve, reject) => {
      this.inlineWaiting.push({ id, rec, now, bytes, resolve, reject });
      if (this.inlineWaiting.length === 1) this.submitInline();
    });
  }

  /**
   * One committer job for the small messages waiting when it runs, INLINE_BATCH at most: with more
   * waiting, the next job goes into the committer's next batch, so the first ones are durable
   * (and delivering) while the next batch commits.
   */
  private submitInline(): void {
    let taken: typeof this.inlineWaiting = [];
    this.committer
      .run(() => {
        taken = this.inlineWaiting.splice(0, INLINE_BATCH);
        if (this.inlineWaiting.length) this.submitInline();
        return taken.map((e) => {
          try {
            this.insert(e.id, e.rec, e.now, e.bytes);
            return null;
          } catch (err) {
            if (taken.length === 1) throw err;
            return err;
          }
        });
      }, false)
      .then(
        (errs) => taken.forEach((e, i) => (errs[i] ? e.reject(errs[i]) : e.resolve(e.id))),
        (err: unknown) => {
          // the batch failed after this job ran: the enqueues it took fail; before: every one
          // waiting fails (this job was to take them, and no other job is coming for them)
          for (const e of taken.length ? taken : this.inlineWaiting.splice(0)) e.reject(err);
        },
      );
  }

  async lease(): Promise<boolean> {
    return true;
  }

  async unlease(): Promise<void> {}

  /**
   * Takes a file (a staged blob, fsynced by its writer and never written again) into the queue and
   * commits the record: a hard link, so the bytes are neither copied nor fsynced a second time
   * (the new directory entry is made durable by the group's directory fsync before the commit).
   * Where links fail (another file system, no hard links) the file is copied and fsynced.
   */
  enqueueFile(sourcePath: string, rec: EnqueueRecord, now: number): Promise<string> {
    return this.enqueue(rec, now, async (dest) => {
      try {
        // link() never replaces an existing file: never over another message.
        await link(sourcePath, dest);
        return 'synced';
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EMLINK') throw err;
        // COPYFILE_EXCL: never over another message.
        await copyFile(sourcePath, dest, fsConstants.COPYFILE_EXCL);
      }
    });
  }

  /** Writes bytes (a DSN) into the queue and commits the record. */
  enqueueBytes(bytes: Uint8Array, rec: EnqueueRecord, now: number): Promise<string> {
    if (bytes.length <= INLINE_MAX) return this.enqueueInline(bytes, rec, now);
    return this.enqueue(rec, now, async (dest) => {
      const fh = await open(dest, 'wx');
      try {
        await fh.writeFile(bytes);
      } finally {
        await fh.close();
      }
    });
  }

  /** Writes the file, fsyncs it, then commits its rows in the next group commit. */
  private async enqueue(rec: EnqueueRecord, now: number, write: (dest: string) => Promise<void | 'synced'>): Promise<string> {
    const id = newId(now);
    const dest = this.filePath(id);
    this.inFlight.add(id);
    try {
      const synced = (await write(dest)) === 'synced';
      try {
        if (!synced) {
          const fh = await open(dest, 'r+');
          try {
            await fh.sync();
          } finally {
            await fh.close();
          }
        }
        await this.committer.run(() => this.insert(id, rec, now, null), true);
        return id;
      } catch (err) {
        await unlink(dest).catch(() => undefined);
        throw err;
      }
    } finally {
      this.inFlight.delete(id);
    }
  }

  /**
   * One enqueue's rows (inside the group transaction); `content`: the bytes of an inline message.
   * All or nothing without a savepoint (one costs about as much as the inserts): a statement that
   * fails leaves nothing of itself, and a recipient that fails takes the message row back out
   * (its recipients already in with it, ON DELETE CASCADE).
   */
  private insert(id: string, rec: EnqueueRecord, now: number, content: Uint8Array | null): void {
    const insM = this.stmt(
      `INSERT INTO messages (id, mail_from, ret, envid, smtputf8, body, require_tls, size, needs_utf8, header_from_domain, submitted_by, client_ip, created_at, content)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insR = this.stmt(
      `INSERT INTO recipients (message_id, idx, address, domain, notify, orcpt_type, orcpt_address, state, next_attempt)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)`,
    );
    insM.run(id, rec.from, rec.ret ?? null, rec.envid ?? null, rec.smtputf8 ? 1 : 0, rec.body ?? null, rec.requireTls ? 1 : 0, rec.size, rec.needsUtf8 ? 1 : 0, rec.headerFromDomain, rec.submittedBy ?? null, rec.clientIp ?? null, now, content);
    try {
      rec.recipients.forEach((r, i) => insR.run(id, i, r.address, domainOf(r.address), r.notify?.join(',') ?? null, r.orcpt?.type ?? null, r.orcpt?.address ?? null, now));
    } catch (err) {
      this.stmt('DELETE FROM messages WHERE id = ?').run(id);
      throw err;
    }
  }

  async get(id: string): Promise<QueuedMessage | null> {
    const m = this.stmt(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ?`).get(id) as MessageRow | undefined;
    if (!m) return null;
    const rcpts = this.stmt('SELECT * FROM recipients WHERE message_id = ? ORDER BY idx').all(id) as RecipientRow[];
    return toMessage(m, rcpts);
  }

  async mustGet(id: string): Promise<QueuedMessage> {
    const m = await this.get(id);
    if (!m) throw new QueueError(`no message ${id} in the queue`);
    return m;
  }

  /**
   * One query for the message, its recipients and its bytes when they are in the row (only on
   * recipient 0's row: not copied per recipient). Rows as arrays, in the order of the SELECT
   * (better-sqlite3's row objects cost as much as the query).
   */
  async getForDelivery(id: string, maxContent: number): Promise<{ message: QueuedMessage; content: Buffer | null } | null> {
    if (!this.deliveryRead) {
      this.deliveryRead = this.db
        .prepare(
          `SELECT ${MESSAGE_COLUMNS}, CASE WHEN r.idx = 0 AND m.size <= ? THEN m.content END AS content, ${RECIPIENT_COLUMNS.map((c) => `r.${c}`).join(', ')}
             FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.id = ? ORDER BY r.idx`,
        )
        .raw(true);
    }
    const rows = this.deliveryRead.all(maxContent, id) as unknown[][];
    if (!rows.length) return null;
    const first = rows[0]!;
    const message = toMessage(messageRowOf(first), rows.map((r) => recipientRowOf(r, MESSAGE_FIELDS + 1)));
    let content = message.recipients[0]!.idx === 0 ? (first[MESSAGE_FIELDS] as Buffer | null) : null;
    // a message in a file (or without a recipient 0, which enqueue always makes)
    if (!content && message.size <= maxContent) content = await this.readMessage(id);
    return { message, content };
  }

  /** getForDelivery's statement, in raw mode. */
  private deliveryRead: Database.Statement | null = null;

  async list(opts: { limit?: number; afterId?: string } = {}): Promise<QueuedMessage[]> {
    const rows = this.stmt(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id > ? ORDER BY id LIMIT ?`).all(opts.afterId ?? '', opts.limit ?? 1000) as MessageRow[];
    if (!rows.length) return [];
    const rc = this.stmt('SELECT * FROM recipients WHERE message_id = ? ORDER BY idx');
    return rows.map((m) => toMessage(m, rc.all(m.id) as RecipientRow[]));
  }

  async count(): Promise<number> {
    return (this.stmt('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
  }

  /** Pending (queued or deferred) recipients of messages not on hold, due at `now`, oldest first. */
  async due(now: number, limit: number): Promise<QueuedRecipient[]> {
    // INDEXED BY: without ANALYZE statistics the planner takes recipients_due and sorts every
    // pending recipient; recipients_pending (migration 2) is already in this order
    const rows = this.stmt(
      `SELECT r.* FROM recipients r INDEXED BY recipients_pending JOIN messages m ON m.id = r.message_id
         WHERE r.state IN ('queued', 'deferred') AND r.next_attempt <= ? AND m.held = 0
         ORDER BY r.next_attempt, r.message_id, r.idx LIMIT ?`,
    ).all(now, limit) as RecipientRow[];
    return rows.map(toRecipient);
  }

  /** Earliest next attempt of any pending recipient (not held), or null. */
  async nextDue(): Promise<number | null> {
    const r = this.stmt(`SELECT min(r.next_attempt) AS t FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.state IN ('queued','deferred') AND m.held = 0`).get() as {
      t: number | null;
    };
    return r.t;
  }

  /** Records delivery results (one transaction); removes the message when they finish it. */
  async record(messageId: string, results: Array<{ idx: number } & RecipientResult>, now: number, by?: 'attempt'): Promise<boolean> {
    if (by !== 'attempt') this.mark++;
    const st = this.stmt(
      `UPDATE recipients SET state = ?, last_reply = ?, last_status = ?, remote_mta = ?, last_attempt = ?,
         attempts = attempts + ?, next_attempt = coalesce(?, next_attempt), dsn_action = ?, reported = ?
       WHERE message_id = ? AND idx = ? AND state IN ('queued', 'deferred')`,
    );
    const one = results.length === 1 && results[0]!.reported && (results[0]!.state === 'delivered' || results[0]!.state === 'bounced') ? results[0]! : null;
    const update = (): { file: boolean } | null => {
      for (const r of results) {
        const reported = r.reported && (r.state === 'delivered' || r.state === 'bounced') ? 1 : 0;
        st.run(r.state, r.reply, r.status, r.remoteMta ?? null, now, r.countAttempt === false ? 0 : 1, r.nextAttempt ?? null, r.dsnAction ?? null, reported, messageId, r.idx);
      }
      return results.some((r) => r.reported) ? this.removeIfDone(messageId) : null;
    };
    // atomic jobs need no savepoint of their own in the shared transaction: one UPDATE, or the
    // direct DELETE (a statement that fails leaves nothing) with the rest in a savepoint
    const atomic = one !== null || (results.length === 1 && !results[0]!.reported);
    const done = await this.stateBatch(() => {
      if (one) {
        // The result finishes the message when it is the last one pending: then the message row
        // goes (its recipients with it: ON DELETE CASCADE) without updating the recipient first.
        const gone = this.stmt(
          `DELETE FROM messages WHERE id = :id
             AND EXISTS (SELECT 1 FROM recipients WHERE message_id = :id AND idx = :idx AND state IN ('queued', 'deferred'))
             AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = :id AND idx <> :idx AND (state IN ('queued', 'deferred') OR reported = 0))
           RETURNING content IS NULL AS file`,
        ).get({ id: messageId, idx: one.idx }) as { file: number } | undefined;
        if (gone) return { file: gone.file === 1 };
        return this.tx(update) as { file: boolean } | null;
      }
      return update();
    }, atomic);
    if (done?.file) await this.unlinkFile(messageId);
    return !!done;
  }

  /** Inside a state transaction: deletes the message row when every recipient is final and reported; null when not. */
  private removeIfDone(id: string): { file: boolean } | null {
    if (!this.isDoneSync(id)) return null;
    return this.deleteRow(id);
  }

  /** Deletes a message row; says whether its bytes are a file (to remove after the commit); null when there was none. */
  private deleteRow(id: string): { file: boolean } | null {
    const r = this.stmt('DELETE FROM messages WHERE id = ? RETURNING content IS NULL AS file').get(id) as { file: number } | undefined;
    return r ? { file: r.file === 1 } : null;
  }

  /** Removes a message file whose row is gone (already gone is fine). */
  private async unlinkFile(id: string): Promise<void> {
    // asynchronous: an unlink waits for the file system's journal, busy with the enqueues' fsyncs
    await unlink(this.filePath(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Adds recipients to a message (alias expansion to remote addresses). */
  async addRecipients(messageId: string, recipients: Array<{ address: string } & DsnRecipientParams>, now: number): Promise<void> {
    this.mark++;
    this.durableTx(() => {
      const max = (this.stmt('SELECT max(idx) AS m FROM recipients WHERE message_id = ?').get(messageId) as { m: number | null }).m ?? -1;
      const ins = this.stmt(
        `INSERT INTO recipients (message_id, idx, address, domain, notify, orcpt_type, orcpt_address, state, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)`,
      );
      recipients.forEach((r, i) => ins.run(messageId, max + 1 + i, r.address, domainOf(r.address), r.notify?.join(',') ?? null, r.orcpt?.type ?? null, r.orcpt?.address ?? null, now));
    });
  }

  /**
   * Marks final recipients reported; when that finishes the message, deletes its row in the same
   * transaction and its file after. Returns true when the message is gone.
   */
  async markReported(messageId: string, idxs: number[]): Promise<boolean> {
    this.mark++;
    const st = this.stmt('UPDATE recipients SET reported = 1 WHERE message_id = ? AND idx = ?');
    const done = await this.stateBatch(() => {
      idxs.forEach((i) => st.run(messageId, i));
      return this.removeIfDone(messageId);
    });
    if (done?.file) await this.unlinkFile(messageId);
    return !!done;
  }

  async markDelayWarned(messageId: string, idxs: number[]): Promise<void> {
    this.mark++;
    const st = this.stmt('UPDATE recipients SET delay_warned = 1 WHERE message_id = ? AND idx = ?');
    this.stateTx(() => idxs.forEach((i) => st.run(messageId, i)));
  }

  /** Makes pending recipients due now (`yubin queue retry`). Returns the number of recipients. */
  async retry(id: string | null, now: number): Promise<number> {
    this.mark++;
    if (id !== null) await this.mustGet(id);
    const r = this.durableTx(() =>
      id === null
        ? this.stmt(`UPDATE recipients SET next_attempt = ? WHERE state IN ('queued','deferred')`).run(now)
        : this.stmt(`UPDATE recipients SET next_attempt = ? WHERE message_id = ? AND state IN ('queued','deferred')`).run(now, id),
    );
    return r.changes;
  }

  async setHeld(id: string, held: boolean): Promise<void> {
    this.mark++;
    const r = this.durableTx(() => this.stmt('UPDATE messages SET held = ? WHERE id = ?').run(held ? 1 : 0, id));
    if (!r.changes) throw new QueueError(`no message ${id} in the queue`);
  }

  /** Removes a message whose recipients are all final and reported (or any message: `queue delete`). */
  async remove(id: string): Promise<void> {
    this.mark++;
    const r = this.stateTx(() => this.deleteRow(id));
    if (!r) throw new QueueError(`no message ${id} in the queue`);
    if (r.file) await rm(this.filePath(id), { force: true });
  }

  /** Messages with a final recipient not yet reported, and messages that are finished (to remove). */
  async housekeeping(): Promise<{ unreported: string[]; finished: string[] }> {
    const unreported = this.db
      .prepare(`SELECT DISTINCT message_id AS id FROM recipients WHERE state IN ('delivered','bounced') AND reported = 0 LIMIT 1000`)
      .all() as Array<{ id: string }>;
    const finished = this.db
      .prepare(
        `SELECT id FROM messages m WHERE NOT EXISTS
           (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND (r.state IN ('queued','deferred') OR r.reported = 0)) LIMIT 1000`,
      )
      .all() as Array<{ id: string }>;
    return { unreported: unreported.map((r) => r.id), finished: finished.map((r) => r.id) };
  }

  /** Messages with deferred recipients not yet warned, that arrived before `before`. */
  async delayCandidates(before: number): Promise<string[]> {
    const rows = this.db
      .prepare(
        `SELECT DISTINCT r.message_id AS id FROM recipients r JOIN messages m ON m.id = r.message_id
         WHERE r.state = 'deferred' AND r.delay_warned = 0 AND m.created_at <= ? AND m.mail_from <> '' LIMIT 1000`,
      )
      .all(before) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  /** True when every recipient is final and reported. */
  async isDone(id: string): Promise<boolean> {
    return this.isDoneSync(id);
  }

  private isDoneSync(id: string): boolean {
    const r = this.stmt(`SELECT count(*) AS n FROM recipients WHERE message_id = ? AND (state IN ('queued','deferred') OR reported = 0)`).get(id) as { n: number };
    return r.n === 0;
  }

  /** Files in the queue directory without a row (a crash between copy and commit): removed at start. */
  async sweepOrphans(): Promise<number> {
    const { readdir } = await import('node:fs/promises');
    const names = await readdir(this.dir);
    const has = this.stmt('SELECT 1 FROM messages WHERE id = ?');
    let n = 0;
    for (const name of names) {
      const m = /^([0-9A-Z]+)\.eml$/.exec(name);
      if (!m || has.get(m[1])) continue;
      if (this.inFlight.has(m[1]!)) continue;
      // a file younger than a minute may belong to an enqueue in progress in another process (the CLI)
      const st = await stat(join(this.dir, name)).catch(() => null);
      if (!st || Date.now() - st.mtimeMs < 60_000) continue;
      await rm(join(this.dir, name), { force: true });
      n++;
    }
    return n;
  }

  copyMark(): number {
    // PRAGMA data_version moves only when another connection (another process: `yubin queue`)
    // has committed to the database (SQLite's documentation of the pragma)
    this.dataVersionStmt ??= this.db.prepare('PRAGMA data_version').pluck();
    const v = this.dataVersionStmt.get() as number;
    if (v !== this.dataVersion) {
      this.dataVersion = v;
      this.mark++;
    }
    return this.mark;
  }

  /** Closes the database at once: enqueues not yet committed fail ("queue is closed"). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    void this.committer.close();
    await this.checkpointer?.close();
    this.db.close();
  }
}

export type { OutboundMessage };
