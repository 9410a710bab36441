// The POP3 maildrop: the INBOX as a snapshot taken at login (RFC 1939 §5) and the DELE marks.
// The exclusive lock that gives one POP3 session per maildrop (RFC 1939 §4) is the store's
// (Store.lockMaildrop: in-process with SQLite, a database lock shared by every node with PostgreSQL).
import type { ChangeEvent, Store } from '../store/types.js';

export interface DropEntry {
  /** The message number the client uses (1-based, stable for the session). */
  readonly number: number;
  readonly uid: number;
  readonly blobId: string;
  /** Octets of the raw message as stored. */
  readonly size: number;
  /** Marked by DELE; cleared by RSET. */
  deleted: boolean;
  /** Expunged by another session (IMAP) after the snapshot: it can no longer be retrieved. */
  gone: boolean;
}

/** Bytes read ahead and waiting in every maildrop of this process: all sessions share this budget. */
export const READ_AHEAD_BUDGET = 64 * 1024 * 1024;
let aheadTotal = 0;

/** What the read-ahead budget has left now. */
export function readAheadRoom(): number {
  return Math.max(0, READ_AHEAD_BUDGET - aheadTotal);
}

/** Listing more than this many messages from the store is done in pages (short synchronous calls). */
const PAGE = 1000;

export class Maildrop {
  private unsubscribe: (() => void) | null;

  private constructor(
    readonly mailboxId: number,
    readonly uidValidity: number,
    readonly entries: DropEntry[],
    unsubscribe: () => void,
  ) {
    this.unsubscribe = unsubscribe;
  }

  /** Takes the snapshot of the account's INBOX. */
  static async open(store: Store, accountId: number): Promise<Maildrop> {
    // RFC 1939 §5: message numbers are assigned at login and stay fixed for the session
    const inbox = await store.getMailbox(accountId, 'INBOX');
    if (!inbox) throw new Error(`account ${accountId} has no INBOX`);
    const byUid = new Map<number, DropEntry>();
    // Subscribe first, so an expunge that commits while the list is read is not missed.
    const expunged = new Set<number>();
    const unsubscribe = store.changes.subscribe(accountId, (ev: ChangeEvent) => {
      if (ev.type !== 'messages-expunged' || ev.mailboxId !== inbox.id) return;
      for (const uid of ev.uids) {
        const e = byUid.get(uid);
        if (e) e.gone = true;
        else expunged.add(uid);
      }
    });
    try {
      const entries: DropEntry[] = [];
      let fromUid = 1;
      for (;;) {
        const page = await store.listMessages(inbox.id, { fromUid, limit: PAGE });
        for (const m of page) {
          const e: DropEntry = { number: entries.length + 1, uid: m.uid, blobId: m.blobId, size: m.size, deleted: false, gone: expunged.has(m.uid) };
          entries.push(e);
          byUid.set(m.uid, e);
        }
        if (page.length < PAGE) break;
        fromUid = page[page.length - 1]!.uid + 1;
      }
      return new Maildrop(inbox.id, inbox.uidValidity, entries, unsubscribe);
    } catch (err) {
      unsubscribe();
      throw err;
    }
  }

  /** The entry with this number, whether marked deleted or not; null when out of range. */
  entry(n: number): DropEntry | null {
    return this.entries[n - 1] ?? null;
  }

  /** Messages not marked deleted: count and total octets (STAT). */
  stat(): { count: number; size: number } {
    // RFC 1939 §5: messages marked as deleted are not counted in STAT
    let count = 0;
    let size = 0;
    for (const e of this.entries) {
      if (e.deleted) continue;
      count++;
      size += e.size;
    }
    return { count, size };
  }

  /** RSET. */
  reset(): void {
    // RFC 1939 §5: RSET unmarks every message marked as deleted
    for (const e of this.entries) e.deleted = false;
  }

  /** UIDs marked deleted, for the UPDATE state. */
  deletedUids(): number[] {
    return this.entries.filter((e) => e.deleted).map((e) => e.uid);
  }

  /**
   * Bytes read ahead for messages the client is expected to RETR next (docs/pop3.md "Download
   * speed"); blobs never change, so a copy read ahead cannot go stale. Bounded by readAhead().
   */
  private ahead = new Map<number, Buffer>();
  /** The message number of the last message sent whole (RETR), to see a client reading in order. */
  lastRetrieved = 0;
  /** The highest message number read ahead (or being read ahead). */
  aheadUpTo = 0;
  /** The read-ahead in progress, if any. */
  aheadReading: Promise<void> | null = null;

  /** Takes the bytes read ahead for message n, if any. */
  takeAhead(n: number): Buffer | undefined {
    const b = this.ahead.get(n);
    // what the client skipped past is dropped
    for (const [k, v] of this.ahead) {
      if (k > n) continue;
      this.ahead.delete(k);
      aheadTotal -= v.length;
    }
    return b;
  }

  /**
   * Counts bytes being read ahead against READ_AHEAD_BUDGET while the read runs (so sessions
   * starting reads at once cannot each take the whole room); returns the release.
   */
  reserveAhead(bytes: number): () => void {
    aheadTotal += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      aheadTotal -= bytes;
    };
  }

  /** Keeps bytes read ahead for message n (counted against READ_AHEAD_BUDGET until taken). */
  keepAhead(n: number, bytes: Buffer): void {
    if (this.closed || this.ahead.has(n)) return;
    this.ahead.set(n, bytes);
    aheadTotal += bytes.length;
  }

  private closed = false;

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.closed = true;
    for (const v of this.ahead.values()) aheadTotal -= v.length;
    this.ahead.clear();
  }
}
