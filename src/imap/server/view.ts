// A session's view of its selected mailbox: the UIDs it has announced, in order (message
// sequence number n is uids[n-1]), and the changes other sessions made that it has not yet
// told its client about. Changes are applied only where RFC 9051 §7.5.1 allows: EXISTS and
// FETCH at the end of any command or during IDLE, EXPUNGE never while a FETCH, STORE or
// SEARCH that uses sequence numbers is being answered.
import type { ChangeEvent } from '../../store/types.js';
import type { MailboxIndex, MailboxIndexes } from '../index/mailbox-index.js';
import { flagList } from '../wire/compose.js';

export const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];
/** Keywords every mailbox announces at SELECT, present or not (RFC 9051 §2.3.2, RFC 5788 registry). */
export const COMMON_KEYWORDS = ['$Forwarded', '$MDNSent', '$Junk', '$NotJunk', '$Phishing'];

/**
 * Ascending UIDs kept as runs of consecutive numbers: a mailbox of 100,000 messages with few
 * holes costs a few numbers, not 100,000 (thousands of sessions may have it selected at once).
 */
export class UidList {
  private starts: number[] = [];
  private lens: number[] = [];
  /** cum[i] = number of UIDs in runs before run i. */
  private cum: number[] = [];
  private count = 0;

  get length(): number {
    return this.count;
  }

  get last(): number {
    const n = this.starts.length;
    return n ? this.starts[n - 1]! + this.lens[n - 1]! - 1 : 0;
  }

  get runs(): number {
    return this.starts.length;
  }

  /** Appends a UID larger than every UID in the list. */
  push(uid: number): void {
    const n = this.starts.length;
    if (n && uid <= this.last) throw new Error('UidList.push: not ascending');
    if (n && uid === this.last + 1) this.lens[n - 1]!++;
    else {
      this.starts.push(uid);
      this.lens.push(1);
      this.cum.push(this.count);
    }
    this.count++;
  }

  /** Run index holding uid, or -1. */
  private runOf(uid: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.starts[mid]!;
      if (uid < s) hi = mid - 1;
      else if (uid >= s + this.lens[mid]!) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** 0-based index of uid, or -1. */
  indexOf(uid: number): number {
    const r = this.runOf(uid);
    return r < 0 ? -1 : this.cum[r]! + (uid - this.starts[r]!);
  }

  /** The UID at a 0-based index. */
  at(i: number): number | undefined {
    if (i < 0 || i >= this.count) return undefined;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.cum[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.starts[lo]! + (i - this.cum[lo]!);
  }

  /** Removes uid; returns the 0-based index it had, or -1. */
  remove(uid: number): number {
    const r = this.runOf(uid);
    if (r < 0) return -1;
    const idx = this.cum[r]! + (uid - this.starts[r]!);
    const s = this.starts[r]!;
    const len = this.lens[r]!;
    if (len === 1) {
      this.starts.splice(r, 1);
      this.lens.splice(r, 1);
      this.cum.splice(r, 1);
    } else if (uid === s) {
      this.starts[r] = s + 1;
      this.lens[r] = len - 1;
    } else if (uid === s + len - 1) {
      this.lens[r] = len - 1;
    } else {
      // split the run in two
      this.lens[r] = uid - s;
      this.starts.splice(r + 1, 0, uid + 1);
      this.lens.splice(r + 1, 0, s + len - 1 - uid);
      this.cum.splice(r + 1, 0, 0);
    }
    this.count--;
    if (this.starts.length) this.cum[0] = 0;
    for (let k = Math.max(r, 1); k < this.starts.length; k++) this.cum[k] = this.cum[k - 1]! + this.lens[k - 1]!;
    return idx;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    for (let r = 0; r < this.starts.length; r++) {
      const s = this.starts[r]!;
      const e = s + this.lens[r]!;
      for (let u = s; u < e; u++) yield u;
    }
  }

  /** UIDs in [lo, hi], ascending. */
  *between(lo: number, hi: number): IterableIterator<number> {
    for (let r = 0; r < this.starts.length; r++) {
      const s = Math.max(this.starts[r]!, lo);
      const e = Math.min(this.starts[r]! + this.lens[r]! - 1, hi);
      for (let u = s; u <= e; u++) yield u;
    }
  }

  /** UIDs above `mark`, descending. */
  *above(mark: number): IterableIterator<number> {
    for (let r = this.starts.length - 1; r >= 0; r--) {
      const s = this.starts[r]!;
      for (let u = s + this.lens[r]! - 1; u >= s; u--) {
        if (u <= mark) return;
        yield u;
      }
    }
  }
}

export class SelectedView {
  /** Announced UIDs, ascending. */
  readonly uids = new UidList();
  /** \Recent UIDs for this session (IMAP4rev1 only, RFC 3501 §2.3.2). */
  recent: Set<number> | null = null;
  /** Changes to this mailbox not yet reported. */
  pending: ChangeEvent[] = [];
  /**
   * Set when `pending` grew past maxPending (a client that neither sends commands nor IDLEs):
   * the events are dropped and the next report compares the view with the store instead,
   * sending FETCH FLAGS for messages changed after this modseq.
   */
  resyncFrom: number | null = null;
  /** Most pending events kept per session before switching to a resync. */
  static maxPending = 10_000;
  /** "uid:modseq" of flag changes this session made itself (reported by its own STORE). */
  ownChanges = new Set<string>();
  /**
   * Keywords announced to the client in `* FLAGS` (lower case). RFC 9051 §7.3.5: a keyword is
   * announced before any response uses it (announceKeywords).
   */
  readonly keywords = new Set<string>();
  /** The keywords announced, as first spelled (for the FLAGS list). */
  private readonly keywordList: string[] = [];

  /**
   * The mailbox's shared index (src/imap/index): its committed state, read by SELECT, FETCH of
   * metadata, STORE, EXPUNGE and flag-only SEARCH. Null until SELECT has it, and after close().
   */
  index: MailboxIndex | null = null;
  private indexes: MailboxIndexes | null = null;
  private closed = false;

  constructor(
    readonly mailboxId: number,
    /** UTF-8 name. */
    public name: string,
    readonly readOnly: boolean,
    readonly uidValidity: number,
  ) {}

  /** Takes the index acquired for this view (released at once if the view was closed meanwhile). */
  attach(indexes: MailboxIndexes, index: MailboxIndex): void {
    if (this.closed) {
      indexes.release(index);
      return;
    }
    this.indexes = indexes;
    this.index = index;
  }

  /** The mailbox is no longer selected by this session: its index may be evicted. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.index && this.indexes) this.indexes.release(this.index);
    this.index = null;
    this.indexes = null;
  }

  /** Adds keywords to the announced set; returns true when one was new. */
  addKeywords(flags: Iterable<string>): boolean {
    let grew = false;
    for (const f of flags) {
      if (f.startsWith('\\')) continue;
      const k = f.toLowerCase();
      if (this.keywords.has(k)) continue;
      this.keywords.add(k);
      this.keywordList.push(f);
      grew = true;
    }
    return grew;
  }

  /** RFC 9051 §7.3.5, §7.1 PERMANENTFLAGS: the FLAGS and PERMANENTFLAGS responses for the announced set. */
  flagResponses(): string[] {
    const flags = [...SYSTEM_FLAGS, ...this.keywordList];
    return [`* FLAGS ${flagList(flags)}`, `* OK [PERMANENTFLAGS ${this.readOnly ? '()' : flagList([...flags, '\\*'])}] Flags permitted`];
  }

  /** Queues a change; past maxPending, drops the queue and marks the view for a resync. */
  queue(ev: ChangeEvent): void {
    const low = minModseq(ev);
    if (this.resyncFrom !== null) {
      this.resyncFrom = Math.min(this.resyncFrom, low - 1);
      return;
    }
    this.pending.push(ev);
    if (this.pending.length > SelectedView.maxPending) {
      this.resyncFrom = Math.min(...this.pending.map(minModseq)) - 1;
      this.pending = [];
    }
  }

  get exists(): number {
    return this.uids.length;
  }

  /** Sequence number of a UID, or 0. */
  seqOf(uid: number): number {
    return this.uids.indexOf(uid) + 1;
  }

  uidOf(seq: number): number | undefined {
    return this.uids.at(seq - 1);
  }

  get maxUid(): number {
    return this.uids.last;
  }

  /** Removes one UID; returns the sequence number it had (0 if not present). */
  remove(uid: number): number {
    this.recent?.delete(uid);
    return this.uids.remove(uid) + 1;
  }
}

function minModseq(ev: ChangeEvent): number {
  if (ev.type === 'flags-changed') return ev.changes.reduce((m, c) => Math.min(m, c.modseq), Number.MAX_SAFE_INTEGER);
  return 'modseq' in ev ? ev.modseq : Number.MAX_SAFE_INTEGER;
}
