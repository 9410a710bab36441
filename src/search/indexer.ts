// Fills the full-text index (TextIndex, src/store/types.ts) after messages are stored: the
// server's change feed tells it which mailboxes grew, and it indexes each mailbox from its
// progress mark upwards, a page at a time, between other work (never on the path that
// acknowledges a delivery or an APPEND: observing an event only notes the mailbox). The mark
// moves in the same transaction as the entries, so a crash loses no finished page and redoes at
// most one. Expunges drop entries; a deleted mailbox drops all of its own. Changes made by
// another process (a CLI command) are caught by a sweep of every mailbox at start and every few
// minutes; until then SEARCH reads the messages above the mark itself (src/imap/search.ts).
import type { Logger } from '../log/logger.js';
import type { ChangeEvent, MessageMeta, Store, TextField, TextIndex } from '../store/types.js';
import { messageReader, searchDocument } from './text.js';

/** Messages per index transaction. */
export const PAGE = 200;
/** How often every mailbox is looked at (changes of other processes). */
const SWEEP_MS = 5 * 60_000;
/** After a failure, a mailbox is tried again this much later. */
const RETRY_MS = 10_000;
/**
 * When the indexer runs. Indexing yields to the mail flow: while messages keep arriving (one
 * within `quietMs`), it waits for a pause, so a burst of mail is taken at the speed of delivery
 * alone (indexing each message as it arrives was about a fifth of SMTP ingest's CPU, docs/smtp.md
 * "sixth pass"); the index catches up in the pause, in pages of PAGE messages. The wait ends
 * anyway `maxLagMs` after the first message not indexed, or once `maxBacklog` messages wait, so
 * a steady stream is still indexed (in large pages). Until then SEARCH reads the messages above
 * the index's mark itself (src/imap/search.ts): a lagging index costs search time, never results,
 * and such a search ends the wait at once (indexWanted), so the next one finds the index up to
 * date. (Dovecot's fts plugin, off by default, indexes when a mailbox is first searched unless
 * told to index at delivery.)
 */
export interface IndexerTiming {
  /** A change waits at least this long (ms): changes close together share a run. */
  delayMs: number;
  /** Mail is flowing while a message arrived less than this long ago (ms). */
  quietMs: number;
  /** The longest a message waits for indexing while mail flows (ms). */
  maxLagMs: number;
  /** Messages arrived and not indexed that start indexing even while mail flows. */
  maxBacklog: number;
}

export const INDEXER_TIMING: IndexerTiming = { delayMs: 25, quietMs: 1000, maxLagMs: 60_000, maxBacklog: 20_000 };

/** The running indexer of each index (to hear indexWanted). */
const wanters = new WeakMap<TextIndex, (mailboxId: number) => void>();

/**
 * A search read messages of this mailbox above the index's mark: the indexer (if one runs for
 * this index) indexes now, mail flowing or not, rather than at the next pause.
 */
export function indexWanted(index: TextIndex, mailboxId: number): void {
  wanters.get(index)?.(mailboxId);
}

export interface IndexProgress {
  mailboxId: number;
  /** Messages indexed by this call so far. */
  indexed: number;
}

function yieldToLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Indexes a mailbox's messages above its mark, up to the last message present; returns how many
 * were indexed. `onPage` hears after every page.
 */
export async function indexMailbox(store: Store, index: TextIndex, mailboxId: number, onPage?: (p: IndexProgress) => void, shouldStop: () => boolean = () => false): Promise<number> {
  let mb = await store.getMailboxById(mailboxId);
  if (!mb) {
    await index.dropMailbox(mailboxId);
    return 0;
  }
  const validity = mb.uidValidity;
  let upTo = await index.progress(mailboxId, validity);
  let indexed = 0;
  // Copies of one message share a blob: its text is extracted once per page run.
  const byBlob = new Map<string, Record<TextField, string>>();
  for (;;) {
    if (shouldStop()) return indexed;
    const page = await store.listMessages(mailboxId, { fromUid: upTo + 1, limit: PAGE });
    if (!page.length) break;
    const structures = await store.getStructures(mailboxId, page.map((m) => m.uid));
    const docs: Array<{ uid: number; text: Record<TextField, string> }> = [];
    for (const m of page) {
      const st = structures.get(m.uid);
      if (!st) continue; // expunged meanwhile
      let text = byBlob.get(m.blobId);
      if (!text) {
        try {
          text = { ...(await searchDocument(st, messageReader(m.size, (start, end) => store.blobs.read(m.blobId, { start, end })))) };
        } catch (err) {
          if (!(await stillThere(store, m))) continue; // expunged while read: nothing to index
          throw err;
        }
        if (byBlob.size > 1000) byBlob.clear();
        byBlob.set(m.blobId, text);
      }
      docs.push({ uid: m.uid, text });
    }
    upTo = page[page.length - 1]!.uid;
    await index.put(mailboxId, validity, docs, upTo);
    indexed += docs.length;
    onPage?.({ mailboxId, indexed });
    await yieldToLoop();
  }
  // Nothing above the mark is left: UIDs below uidNext that are gone were expunged, and a
  // message stored later gets a UID at or above the uidNext read here.
  mb = await store.getMailboxById(mailboxId);
  if (mb && mb.uidValidity === validity && mb.uidNext - 1 > upTo) {
    const more = await store.listMessages(mailboxId, { fromUid: upTo + 1, limit: 1 });
    if (more.length === 0) await index.put(mailboxId, validity, [], mb.uidNext - 1);
    else return indexed + (await indexMailbox(store, index, mailboxId, onPage, shouldStop));
  }
  return indexed;
}

async function stillThere(store: Store, m: MessageMeta): Promise<boolean> {
  return (await store.getMessages(m.mailboxId, [m.uid])).length > 0;
}

/** Every mailbox of the store, or of one account. */
export async function allMailboxIds(store: Store, accountId?: number): Promise<number[]> {
  const accounts = accountId === undefined ? (await store.listAccounts()).map((a) => a.id) : [accountId];
  const ids: number[] = [];
  for (const a of accounts) for (const mb of await store.listMailboxes(a)) ids.push(mb.id);
  return ids;
}

/** The server's indexer: follows the change feed, one mailbox at a time. */
export class TextIndexer {
  private readonly pending = new Set<number>();
  private running: Promise<void> | null = null;
  private stopped = false;
  private unobserve: (() => void) | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Mailboxes whose indexing failed, with the timer that schedules them again. */
  private readonly retrying = new Map<number, NodeJS.Timeout>();
  private idleWaiters: Array<() => void> = [];
  private delay: { timer: NodeJS.Timeout; go: () => void } | null = null;
  /** When the last message arrived (performance.now()). */
  private lastArrival = -Infinity;
  /** When the oldest message not indexed yet arrived, or null when every arrival is indexed. */
  private backlogSince: number | null = null;
  /** Messages arrived since every arrival was last indexed. */
  private backlog = 0;
  /** A search wants the index now (indexWanted): no waiting for a pause until a run completes. */
  private wanted = false;
  private readonly timing: IndexerTiming;

  constructor(
    private readonly store: Store,
    private readonly index: TextIndex,
    private readonly logger: Logger,
    /** INDEXER_TIMING, or parts of it (tests choose their own). */
    timing: Partial<IndexerTiming> = {},
  ) {
    this.timing = { ...INDEXER_TIMING, ...timing };
  }

  start(): void {
    this.unobserve = this.store.changes.observe((ev) => this.onChange(ev));
    wanters.set(this.index, this.wantFn);
    void this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Resolves once nothing is pending, or once a stopped indexer's last run is over (tests, the bench). */
  idle(): Promise<void> {
    if (this.stopped) return this.running ?? Promise.resolve();
    if (!this.running && this.pending.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unobserve?.();
    if (wanters.get(this.index) === this.wantFn) wanters.delete(this.index);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const t of this.retrying.values()) clearTimeout(t);
    this.retrying.clear();
    this.delay?.go();
    await this.running;
  }

  /** Notes a mailbox to index; the work happens later, in the background. */
  schedule(mailboxId: number): void {
    if (this.stopped) return;
    this.pending.add(mailboxId);
    this.running ??= this.later();
  }

  /** This indexer's entry in `wanters`. */
  private readonly wantFn = (mailboxId: number): void => this.want(mailboxId);

  /**
   * indexWanted: the mailbox is indexed now, not at the next pause of the mail flow (unless its
   * indexing failed: then at its retry, not at every search).
   */
  private want(mailboxId: number): void {
    if (this.stopped || this.retrying.has(mailboxId)) return;
    this.wanted = true;
    this.schedule(mailboxId);
    this.delay?.go();
  }

  /** Too long or too many waiting: indexing runs even while mail flows. */
  private overdue(now: number): boolean {
    return this.backlog >= this.timing.maxBacklog || (this.backlogSince !== null && now - this.backlogSince >= this.timing.maxLagMs);
  }

  /** Mail is arriving, and the index may wait for a pause: ms to wait, else 0. */
  private holdFor(now: number): number {
    if (this.wanted || this.overdue(now)) return 0;
    const pause = this.lastArrival + this.timing.quietMs - now;
    if (pause <= 0) return 0;
    return this.backlogSince === null ? pause : Math.min(pause, this.backlogSince + this.timing.maxLagMs - now);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const go = () => {
        if (this.delay) clearTimeout(this.delay.timer);
        this.delay = null;
        resolve();
      };
      this.delay = { timer: setTimeout(go, ms), go };
    });
  }

  /** The next drain: after the delay (changes arriving meanwhile join it), in a pause of the mail flow. */
  private async later(): Promise<void> {
    if (this.timing.delayMs > 0) await this.sleep(this.timing.delayMs);
    for (let wait: number; !this.stopped && (wait = this.holdFor(performance.now())) > 0; ) await this.sleep(wait);
    return this.drain();
  }

  private onChange(ev: ChangeEvent): void {
    switch (ev.type) {
      case 'message-added': {
        const now = performance.now();
        this.lastArrival = now;
        this.backlogSince ??= now;
        this.schedule(ev.mailboxId);
        // the backlog reached: the wait ends now (the drain starts overdue and runs through)
        if (++this.backlog >= this.timing.maxBacklog) this.delay?.go();
        break;
      }
      case 'mailbox-renamed':
        this.schedule(ev.mailboxId);
        break;
      case 'messages-copied':
        this.schedule(ev.dstMailboxId);
        break;
      case 'messages-expunged':
        this.background(() => this.index.remove(ev.mailboxId, ev.uids));
        break;
      case 'mailbox-deleted':
        this.background(() => this.index.dropMailbox(ev.mailboxId));
        break;
      default:
        break;
    }
  }

  /** Index upkeep that may fail without harm (a lingering entry only widens a search). */
  private background(fn: () => Promise<void>): void {
    fn().catch((err: unknown) => this.logger.warn({ err }, 'full-text index upkeep failed'));
  }

  private async sweep(): Promise<void> {
    try {
      for (const id of await allMailboxIds(this.store)) this.schedule(id);
    } catch (err) {
      if (!this.stopped) this.logger.warn({ err }, 'full-text index sweep failed');
    }
  }

  private async drain(): Promise<void> {
    // A forced run (the lag or the backlog reached, or a search wants it) indexes the mailboxes
    // pending when it starts, to their last message, whatever arrives meanwhile, and the counts
    // start again with it: what arrives during the run waits for the next pause (or the limits)
    // as before, in large pages, not a page per arrival. A run in a pause stops between pages
    // when mail arrives again (and not overdue): the rest waits, its mailbox pending again.
    const forced = this.wanted || this.overdue(performance.now());
    let batch: Set<number> | null = null;
    if (forced) {
      batch = new Set(this.pending);
      this.backlog = 0;
      this.backlogSince = null;
      this.wanted = false;
    }
    let yielded = false;
    const shouldStop = forced ? () => this.stopped : () => this.stopped || (yielded ||= this.holdFor(performance.now()) > 0);
    try {
      for (;;) {
        if (this.stopped) break;
        const id = batch ? batch.values().next().value : this.pending.values().next().value;
        if (id === undefined) break;
        batch?.delete(id);
        this.pending.delete(id);
        try {
          await indexMailbox(this.store, this.index, id, undefined, shouldStop);
          if (yielded) {
            this.pending.add(id);
            break;
          }
        } catch (err) {
          if (this.stopped) break;
          this.logger.warn({ err, mailboxId: id }, 'full-text indexing failed; will retry');
          this.retryLater(id);
        }
      }
    } finally {
      this.running = null;
      if (!forced && !this.pending.size && !yielded) {
        // every arrival so far is indexed (one arriving during the run made its mailbox pending)
        this.backlog = 0;
        this.backlogSince = null;
      }
      if (this.pending.size && !this.stopped) this.running = this.later();
      else for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** A mailbox whose indexing failed is tried again RETRY_MS later (not sooner for a search). */
  private retryLater(id: number): void {
    if (this.retrying.has(id)) return;
    const t = setTimeout(() => {
      this.retrying.delete(id);
      this.schedule(id);
    }, RETRY_MS);
    t.unref();
    this.retrying.set(id, t);
  }
}

/**
 * `yubin index rebuild`: forgets the index of every mailbox (of one account, or all) and indexes
 * them again; `onProgress` hears messages done out of the total as it goes. Safe while the server
 * runs (its indexer and this one skip what the other has put).
 */
export async function rebuildIndex(store: Store, index: TextIndex, opts: { accountId?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<{ mailboxes: number; messages: number }> {
  const ids = await allMailboxIds(store, opts.accountId);
  let total = 0;
  for (const id of ids) total += (await store.mailboxStatus(id)).messages;
  let done = 0;
  for (const id of ids) {
    await index.dropMailbox(id);
    const before = done;
    done += await indexMailbox(store, index, id, (p) => opts.onProgress?.(before + p.indexed, Math.max(total, before + p.indexed)));
  }
  opts.onProgress?.(done, Math.max(total, done));
  return { mailboxes: ids.length, messages: done };
}
