// The mailbox index (issue 13, docs/store.md "Mailbox index in memory"): a selected mailbox's
// committed state — UIDs, flags, keywords, mod-sequences, sizes and internal dates — as compact
// arrays, loaded once per mailbox per process (paged from the store), shared by every session that
// selects the mailbox and kept current by the store's change feed. SELECT, FETCH of UID, FLAGS,
// RFC822.SIZE, MODSEQ and INTERNALDATE, STORE's replies, EXPUNGE's \Deleted scan and flag-only
// SEARCH read it instead of the database. What each session has been told (sequence numbers,
// pending expunges, RFC 9051 §7.5.1) stays in its own SelectedView.
//
// Consistency: the index is what the committed change events say. Events are applied in the order
// the feed delivers them (commit order); each entry keeps its mod-sequence, so applying an event
// twice, or an event older than what a page load or a later read already saw, changes nothing
// (flags only move to a higher mod-sequence, UIDs are never reused, so an expunge is final).
import type { Logger } from '../../log/logger.js';
import type { ChangeEvent, IndexRow, MessageMeta, Store } from '../../store/types.js';
import { formatFlags, parseFlags } from '../../store/validate.js';

/** System flag bits, as the store keeps them (store/validate.ts SYSTEM_FLAGS order). */
export const SEEN = 1;
export const DELETED = 8;
/** A slot whose message was expunged (compacted away later). */
const DEAD = 0x80;
/** The system flag bits a stored row may carry (validate.ts SYSTEM_FLAGS: five flags). */
const SYSTEM_MASK = 0x1f;


/** What one slot of the index says about a message. */
export interface IndexEntry {
  uid: number;
  flags: string[];
  modseq: number;
  size: number;
  internalDate: Date;
}

export class MailboxIndex {
  /** Messages listed per store query while loading (one short query each, DESIGN.md "Store"). */
  static loadPage = 5000;
  /** Slots used (live and dead), in ascending UID order. */
  private n = 0;
  private dead = 0;
  uids = new Uint32Array(0);
  sizes = new Uint32Array(0);
  modseqs = new Float64Array(0);
  dates = new Float64Array(0);
  /** System flag bits (SEEN, DELETED, ...), DEAD for an expunged slot. */
  sys = new Uint8Array(0);
  /** Keyword list of the message: an index into `combos` (0 = no keywords). */
  kw = new Uint32Array(0);
  /** Distinct keyword lists (each as the message spells and orders it); combos[0] is []. */
  readonly combos: string[][] = [[]];
  /** Messages per combo (SELECT's FLAGS names only keywords in use). */
  readonly comboCount: number[] = [0];
  private readonly comboIds = new Map<string, number>([['', 0]]);
  /** Combo of each keyword list as the store spells it (IndexRow's JSON text). */
  private readonly storedCombos = new Map<string, number>();
  /** The highest mod-sequence the index has seen (never above the mailbox's). */
  highestModSeq = 0;
  /** Sessions that have the mailbox selected. */
  refs = 0;
  /** Events not yet applied (a message-added needs its metadata read first). */
  private queue: ChangeEvent[] = [];
  private draining: Promise<void> | null = null;
  private failure: unknown = null;
  /** Events arrive before the load ends; they are applied after it. */
  private loaded = false;

  constructor(
    readonly mailboxId: number,
    readonly uidValidity: number,
    private readonly store: Store,
    private readonly logger?: Logger,
  ) {}

  /** Messages in the index (not counting expunged slots). */
  get length(): number {
    return this.n - this.dead;
  }

  /** Largest UID present, or 0. */
  get maxUid(): number {
    for (let i = this.n - 1; i >= 0; i--) if (!(this.sys[i]! & DEAD)) return this.uids[i]!;
    return 0;
  }

  /** Bytes held by the arrays (the memory budget counts this). */
  get bytes(): number {
    return this.uids.byteLength + this.sizes.byteLength + this.modseqs.byteLength + this.dates.byteLength + this.sys.byteLength + this.kw.byteLength + this.combos.length * 64;
  }

  /** Reads the mailbox from the store, page by page. Events delivered meanwhile are applied after. */
  async load(): Promise<void> {
    // Read first: a lower bound (a change committed later is in a page or still to be delivered).
    const mb = await this.store.getMailboxById(this.mailboxId);
    if (mb) this.highestModSeq = mb.highestModSeq;
    // Compact rows of the index's columns (Store.listIndexRows), keyed by UID; a page's rows go
    // straight into the arrays (keyword lists parsed once per distinct stored spelling).
    let after = 0;
    for (;;) {
      const page = await this.store.listIndexRows(this.mailboxId, after, MailboxIndex.loadPage);
      if (page.length && this.n + page.length > this.uids.length) this.grow(this.n + page.length);
      this.insertRows(page);
      if (page.length < MailboxIndex.loadPage) break;
      after = page[page.length - 1]![0];
    }
    this.loaded = true;
    this.kick();
  }

  /** A committed change of this mailbox, in feed order. */
  apply(ev: ChangeEvent): void {
    if (!this.loaded || this.queue.length || ev.type === 'message-added') {
      this.queue.push(ev);
      this.kick();
      return;
    }
    // Nothing queued: flag changes and expunges apply at once (in the publishing call).
    this.applyNow(ev);
  }

  /** Resolves when every event delivered so far is applied; rejects while the store cannot be read. */
  async settle(): Promise<void> {
    for (;;) {
      if (this.draining) await this.draining;
      else if (this.queue.length && this.loaded) this.kick();
      else break;
      if (this.failure) {
        const f = this.failure;
        this.failure = null;
        throw f;
      }
    }
  }

  private kick(): void {
    if (this.draining || !this.loaded || !this.queue.length) return;
    this.draining = this.drain().finally(() => (this.draining = null));
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const ev = this.queue[0]!;
      if (ev.type !== 'message-added') {
        this.queue.shift();
        this.applyNow(ev);
        continue;
      }
      // Consecutive additions are read in one query.
      let k = 0;
      const want: number[] = [];
      while (k < this.queue.length && k < MailboxIndex.loadPage) {
        const e = this.queue[k]!;
        if (e.type !== 'message-added') break;
        if (this.slotOf(e.uid) < 0) want.push(e.uid);
        this.highestModSeq = Math.max(this.highestModSeq, e.modseq);
        k++;
      }
      let metas: MessageMeta[] = [];
      try {
        if (want.length) metas = await this.store.getMessages(this.mailboxId, want);
      } catch (err) {
        // Kept queued: the next settle() tries again, and nothing answers from a stale index meanwhile.
        this.logger?.error({ err, mailboxId: this.mailboxId }, 'mailbox index: reading new messages failed');
        this.failure = err;
        return;
      }
      this.queue.splice(0, k);
      // A message expunged before it was read is missing here: its expunge event follows (or came).
      metas.sort((a, b) => a.uid - b.uid);
      for (const m of metas) if (this.slotOf(m.uid) < 0) this.insert(m);
    }
  }

  private applyNow(ev: ChangeEvent): void {
    if (ev.type === 'flags-changed') {
      for (const c of ev.changes) {
        this.highestModSeq = Math.max(this.highestModSeq, c.modseq);
        const i = this.slotOf(c.uid);
        // Older than what the index holds (a page or a read that saw the later state): skipped.
        if (i < 0 || this.modseqs[i]! >= c.modseq) continue;
        this.setFlags(i, c.flags);
        this.modseqs[i] = c.modseq;
      }
    } else if (ev.type === 'messages-expunged') {
      this.highestModSeq = Math.max(this.highestModSeq, ev.modseq);
      for (const uid of ev.uids) {
        const i = this.slotOf(uid);
        if (i < 0) continue;
        this.comboCount[this.kw[i]!]!--;
        this.sys[i] = DEAD;
        this.dead++;
      }
      if (this.dead > 1024 && this.dead * 4 > this.n) this.compact();
    }
  }

  /** Slot of a live UID, or -1 (binary search; `from` is a lower bound for the slot). */
  slotOf(uid: number, from = 0): number {
    let lo = from;
    let hi = this.n - 1;
    const u = this.uids;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = u[mid]!;
      if (v < uid) lo = mid + 1;
      else if (v > uid) hi = mid - 1;
      else return this.sys[mid]! & DEAD ? -1 : mid;
    }
    return -1;
  }

  /** First slot whose UID is ≥ uid (live or dead). */
  lowerBound(uid: number, from = 0): number {
    let lo = from;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.uids[mid]! < uid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Number of slots (live or dead); iterate with isLive(). */
  get slots(): number {
    return this.n;
  }

  isLive(i: number): boolean {
    return !(this.sys[i]! & DEAD);
  }

  flagsAt(i: number): string[] {
    return formatFlags(this.sys[i]!, this.combos[this.kw[i]!]!);
  }

  entry(i: number): IndexEntry {
    return { uid: this.uids[i]!, flags: this.flagsAt(i), modseq: this.modseqs[i]!, size: this.sizes[i]!, internalDate: new Date(this.dates[i]!) };
  }

  /** The entry of a UID, or null when the message is not in the mailbox. */
  get(uid: number): IndexEntry | null {
    const i = this.slotOf(uid);
    return i < 0 ? null : this.entry(i);
  }

  /** Keywords (as spelled) that some message has, for SELECT's FLAGS (RFC 9051 §7.3.5). */
  keywordsInUse(): string[] {
    const out: string[] = [];
    for (let c = 1; c < this.combos.length; c++) if (this.comboCount[c]! > 0) out.push(...this.combos[c]!);
    return out;
  }

  /** Combos holding a keyword (compared without case, RFC 9051 §2.3.2). */
  combosWith(keyword: string): Uint8Array {
    const want = keyword.toLowerCase();
    const out = new Uint8Array(this.combos.length);
    this.combos.forEach((c, i) => {
      if (c.some((k) => k.toLowerCase() === want)) out[i] = 1;
    });
    return out;
  }

  private comboOf(keywords: readonly string[]): number {
    const key = keywords.join(' ');
    let id = this.comboIds.get(key);
    if (id === undefined) {
      id = this.combos.length;
      this.combos.push([...keywords]);
      this.comboCount.push(0);
      this.comboIds.set(key, id);
    }
    return id;
  }

  private setFlags(i: number, flags: readonly string[]): void {
    const f = parseFlags(flags);
    this.comboCount[this.kw[i]!]!--;
    const c = this.comboOf(f.keywords);
    this.comboCount[c]!++;
    this.kw[i] = c;
    this.sys[i] = f.bits;
  }

  private grow(min: number): void {
    const cap = Math.max(min, Math.ceil(this.uids.length * 1.5), 64);
    const g = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a.subarray(0, this.n));
      return b;
    };
    this.uids = g(this.uids, (n) => new Uint32Array(n));
    this.sizes = g(this.sizes, (n) => new Uint32Array(n));
    this.modseqs = g(this.modseqs, (n) => new Float64Array(n));
    this.dates = g(this.dates, (n) => new Float64Array(n));
    this.sys = g(this.sys, (n) => new Uint8Array(n));
    this.kw = g(this.kw, (n) => new Uint32Array(n));
  }

  /** Adds a message not in the index (at the end, or in its UID place). */
  private insert(m: Pick<MessageMeta, 'uid' | 'modseq' | 'size' | 'internalDate' | 'flags'>): void {
    if (this.n === this.uids.length) this.grow(this.n + 1);
    let i = this.n;
    if (this.n && this.uids[this.n - 1]! >= m.uid) {
      i = this.lowerBound(m.uid);
      if (i < this.n && this.uids[i] === m.uid) {
        // a dead slot of the same UID cannot be (UIDs are never reused); a live one is already here
        return;
      }
      for (const a of [this.uids, this.sizes, this.modseqs, this.dates, this.sys, this.kw]) a.copyWithin(i + 1, i, this.n);
    }
    this.n++;
    this.uids[i] = m.uid;
    this.sizes[i] = m.size;
    this.modseqs[i] = m.modseq;
    this.dates[i] = m.internalDate.getTime();
    this.kw[i] = 0;
    this.comboCount[0]!++;
    this.setFlags(i, m.flags);
    this.highestModSeq = Math.max(this.highestModSeq, m.modseq);
  }

  /**
   * Rows of a page load (ascending UIDs): one tight loop writing the arrays (no per-row call or
   * object, so it is optimised early in a cold process); keyword lists parsed once per distinct
   * stored spelling.
   */
  private insertRows(rows: IndexRow[]): void {
    const { uids, sizes, modseqs, dates, sys, kw, comboCount, storedCombos } = this;
    let n = this.n;
    let high = this.highestModSeq;
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!;
      const uid = row[0];
      if (n && uids[n - 1]! >= uid) {
        // not after what the index holds (cannot happen while loading: additions wait for the load)
        this.n = n;
        if (this.slotOf(uid) < 0) this.insert({ uid, modseq: row[2], size: row[3], internalDate: new Date(row[4]), flags: formatFlags(row[1], row[5] === null ? [] : (JSON.parse(row[5]) as string[])) });
        return this.insertRows(rows.slice(r + 1));
      }
      let c = 0;
      const keywords = row[5];
      if (keywords !== null) {
        let k = storedCombos.get(keywords);
        if (k === undefined) {
          k = this.comboOf(parseFlags(JSON.parse(keywords) as string[]).keywords);
          storedCombos.set(keywords, k);
        }
        c = k;
      }
      uids[n] = uid;
      sys[n] = row[1] & SYSTEM_MASK;
      const m = row[2];
      modseqs[n] = m;
      if (m > high) high = m;
      sizes[n] = row[3];
      dates[n] = row[4];
      kw[n] = c;
      comboCount[c]!++;
      n++;
    }
    this.n = n;
    this.highestModSeq = high;
  }

  /** Drops expunged slots. */
  private compact(): void {
    let w = 0;
    for (let r = 0; r < this.n; r++) {
      if (this.sys[r]! & DEAD) continue;
      if (w !== r) {
        this.uids[w] = this.uids[r]!;
        this.sizes[w] = this.sizes[r]!;
        this.modseqs[w] = this.modseqs[r]!;
        this.dates[w] = this.dates[r]!;
        this.sys[w] = this.sys[r]!;
        this.kw[w] = this.kw[r]!;
      }
      w++;
    }
    this.n = w;
    this.dead = 0;
  }
}

/** Mailbox indexes of one store in this process, under a memory budget. */
export class MailboxIndexes {
  /** Loaded (or loading) indexes; Map order is least recently used first. */
  private readonly indexes = new Map<number, { index: MailboxIndex; accountId: number; ready: Promise<void> }>();
  private readonly accounts = new Map<number, { unsubscribe: () => void; mailboxes: number }>();

  constructor(
    private readonly store: Store,
    /** Bytes all indexes may hold before those of mailboxes no session has selected are dropped (imap.mailbox_index_memory). */
    public budget: number,
    private readonly logger?: Logger,
  ) {}

  /**
   * The index of a mailbox for a session that selects it, loaded if needed, with every change
   * delivered so far applied. Pair with release().
   */
  async acquire(accountId: number, mailboxId: number, uidValidity: number): Promise<MailboxIndex> {
    let e = this.indexes.get(mailboxId);
    if (e && e.index.uidValidity !== uidValidity) {
      // the mailbox id names another mailbox now
      this.drop(mailboxId);
      e = undefined;
    }
    if (!e) {
      this.watch(accountId);
      const index = new MailboxIndex(mailboxId, uidValidity, this.store, this.logger);
      // Registered before the load starts: every event from here on reaches it.
      const entry = { index, accountId, ready: Promise.resolve() };
      this.indexes.set(mailboxId, entry);
      entry.ready = index.load();
      e = entry;
    } else {
      // most recently used
      this.indexes.delete(mailboxId);
      this.indexes.set(mailboxId, e);
    }
    const { index } = e;
    index.refs++;
    try {
      await e.ready;
      await index.settle();
    } catch (err) {
      index.refs--;
      if (this.indexes.get(mailboxId) === e) this.drop(mailboxId);
      throw err;
    }
    this.evict();
    return index;
  }

  release(index: MailboxIndex): void {
    index.refs = Math.max(0, index.refs - 1);
    this.evict();
  }

  /** Bytes held by every index (selected or not). */
  get bytes(): number {
    let b = 0;
    for (const { index } of this.indexes.values()) b += index.bytes;
    return b;
  }

  /** Mailbox ids with an index, least recently used first (tests). */
  get cached(): number[] {
    return [...this.indexes.keys()];
  }

  /** Evicts the least recently used indexes no session has selected while the total is over budget. */
  evict(): void {
    let total = this.bytes;
    for (const [id, { index }] of [...this.indexes]) {
      if (total <= this.budget) return;
      if (index.refs > 0) continue;
      total -= index.bytes;
      this.drop(id);
    }
  }

  private drop(mailboxId: number): void {
    const e = this.indexes.get(mailboxId);
    if (!e) return;
    this.indexes.delete(mailboxId);
    const a = this.accounts.get(e.accountId);
    if (a && --a.mailboxes === 0) {
      a.unsubscribe();
      this.accounts.delete(e.accountId);
    }
  }

  private watch(accountId: number): void {
    let a = this.accounts.get(accountId);
    if (!a) {
      a = { unsubscribe: this.store.changes.subscribe(accountId, (ev) => this.onChange(ev)), mailboxes: 0 };
      this.accounts.set(accountId, a);
    }
    a.mailboxes++;
  }

  private onChange(ev: ChangeEvent): void {
    if (!('mailboxId' in ev)) return;
    const e = this.indexes.get(ev.mailboxId);
    if (!e) return;
    if (ev.type === 'mailbox-deleted') {
      // Sessions that have it selected are sent away (session.ts); a new mailbox gets a new index.
      this.drop(ev.mailboxId);
      return;
    }
    if (ev.type === 'message-added' || ev.type === 'flags-changed' || ev.type === 'messages-expunged') e.index.apply(ev);
  }
}

const registries = new WeakMap<Store, MailboxIndexes>();

/** The indexes of a server's store in this process (one per Store object). */
export function indexesOf(ctx: { store: Store; logger?: Logger; config: { imap: { mailbox_index_memory?: number } } }): MailboxIndexes {
  return mailboxIndexes(ctx.store, ctx.config.imap.mailbox_index_memory ?? DEFAULT_BUDGET, ctx.logger);
}

/** imap.mailbox_index_memory's default. */
const DEFAULT_BUDGET = 256 * 1024 * 1024;

/** The indexes of a store in this process (one per Store object). */
export function mailboxIndexes(store: Store, budget: number, logger?: Logger): MailboxIndexes {
  let r = registries.get(store);
  if (!r) {
    r = new MailboxIndexes(store, budget, logger);
    registries.set(store, r);
  } else r.budget = budget;
  return r;
}
