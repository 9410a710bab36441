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
 * A change waits this long before the indexer runs, so that a mailbox receiving mail under load
 * is indexed in pages of many messages (one mark read, one listing, one transaction per page)
 * instead of one message per run; SEARCH covers what is not indexed yet (src/imap/search.ts),
 * reading those messages itself: short, so that a search right after an APPEND has little to
 * read (at 500 deliveries a second a page still holds a dozen messages).
 */
const DELAY_MS = 25;
/**
 * Under a steady stream (the indexer ran less than BUSY_WINDOW_MS ago) a change waits
 * BUSY_DELAY_MS, or until a page of messages has arrived, whichever comes first: pages of about
 * a hundred messages instead of a dozen at 900 deliveries a second. Fewer, larger FTS5
 * transactions cost the index's thread about a quarter less CPU per message (0.19-0.22 ->
 * 0.14-0.16 ms, bench/profile-smtp.ts per thread). 250 ms saved more CPU but cut SMTP ingest at 50
 * connections from about 900 to 580-810 msg/s with the CPU not saturated (the sessions waited on
 * something, probably the disk behind the index's larger commits and checkpoints).
 */
const BUSY_DELAY_MS = 100;
const BUSY_WINDOW_MS = 1000;

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
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private idleWaiters: Array<() => void> = [];
  private delay: { timer: NodeJS.Timeout; go: () => void } | null = null;
  /** When the last drain ended (ms): a drain within BUSY_WINDOW_MS means mail is streaming in. */
  private lastDrain = -Infinity;
  /** Messages added since the pending drain was scheduled (a page of them starts it at once). */
  private arrived = 0;

  constructor(
    private readonly store: Store,
    private readonly index: TextIndex,
    private readonly logger: Logger,
    /** How long a change waits before indexing starts (DELAY_MS; tests choose their own). */
    private readonly delayMs = DELAY_MS,
  ) {}

  start(): void {
    this.unobserve = this.store.changes.observe((ev) => this.onChange(ev));
    void this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Resolves once nothing is pending (tests, the bench). */
  idle(): Promise<void> {
    if (!this.running && this.pending.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unobserve?.();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.delay?.go();
    await this.running;
  }

  /** Notes a mailbox to index; the work happens later, in the background. */
  schedule(mailboxId: number): void {
    if (this.stopped) return;
    this.pending.add(mailboxId);
    this.running ??= this.later();
  }

  /** The next drain, after the delay (changes arriving meanwhile join it). */
  private async later(): Promise<void> {
    this.arrived = 0;
    const busy = performance.now() - this.lastDrain < BUSY_WINDOW_MS;
    const wait = busy ? Math.max(this.delayMs, BUSY_DELAY_MS) : this.delayMs;
    if (wait > 0)
      await new Promise<void>((resolve) => {
        const go = () => {
          if (this.delay) clearTimeout(this.delay.timer);
          this.delay = null;
          resolve();
        };
        this.delay = { timer: setTimeout(go, wait), go };
      });
    return this.drain();
  }

  private onChange(ev: ChangeEvent): void {
    switch (ev.type) {
      case 'message-added':
        this.schedule(ev.mailboxId);
        if (++this.arrived >= PAGE) this.delay?.go();
        break;
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
    try {
      while (!this.stopped && this.pending.size) {
        const id = this.pending.values().next().value as number;
        this.pending.delete(id);
        try {
          await indexMailbox(this.store, this.index, id, undefined, () => this.stopped);
        } catch (err) {
          if (this.stopped) break;
          this.logger.warn({ err, mailboxId: id }, 'full-text indexing failed; will retry');
          const t = setTimeout(() => {
            this.retryTimers.delete(t);
            this.schedule(id);
          }, RETRY_MS);
          t.unref();
          this.retryTimers.add(t);
        }
      }
    } finally {
      this.running = null;
      this.lastDrain = performance.now();
      if (this.pending.size && !this.stopped) this.running = this.later();
      else for (const w of this.idleWaiters.splice(0)) w();
    }
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
