// A session's view of its selected mailbox: the UIDs it has announced, in order (message
// sequence number n is uids[n-1]), and the changes other sessions made that it has not yet
// told its client about. Changes are applied only where RFC 9051 §7.5.1 allows: EXISTS and
// FETCH at the end of any command or during IDLE, EXPUNGE never while a FETCH, STORE or
// SEARCH that uses sequence numbers is being answered.
import type { ChangeEvent } from '../../store/types.js';

export class SelectedView {
  /** Announced UIDs, ascending. */
  uids: number[] = [];
  /** \Recent UIDs for this session (IMAP4rev1 only, RFC 3501 §2.3.2). */
  recent: Set<number> | null = null;
  /** Changes to this mailbox not yet reported. */
  pending: ChangeEvent[] = [];
  /** "uid:modseq" of flag changes this session made itself (reported by its own STORE). */
  ownChanges = new Set<string>();

  constructor(
    readonly mailboxId: number,
    /** UTF-8 name. */
    public name: string,
    readonly readOnly: boolean,
    readonly uidValidity: number,
  ) {}

  get exists(): number {
    return this.uids.length;
  }

  /** Sequence number of a UID, or 0. */
  seqOf(uid: number): number {
    let lo = 0;
    let hi = this.uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.uids[mid]!;
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  uidOf(seq: number): number | undefined {
    return this.uids[seq - 1];
  }

  get maxUid(): number {
    return this.uids.length ? this.uids[this.uids.length - 1]! : 0;
  }

  /** Removes one UID; returns the sequence number it had (0 if not present). */
  remove(uid: number): number {
    const seq = this.seqOf(uid);
    if (seq) this.uids.splice(seq - 1, 1);
    this.recent?.delete(uid);
    return seq;
  }
}
