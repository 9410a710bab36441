// Helpers for commands on the selected mailbox: sequence sets to UIDs, paging through the store.
import type { MessageMeta, Store } from '../../store/types.js';
import type { ImapConn } from './conn.js';
import { ImapError } from './errors.js';
import type { SelectedView } from './view.js';
import { parseSequenceSet, resolveRanges, selectSeqs, mergeRanges } from '../wire/sequence.js';

/** Page size for listing a mailbox (DESIGN.md: keep each synchronous SQLite call short). */
export const PAGE = 2000;

export function requireSelected(conn: ImapConn): SelectedView {
  if (!conn.selected) throw new ImapError('BAD', null, 'No mailbox selected');
  return conn.selected;
}

/**
 * The UIDs (ascending) a sequence set names in the session's view: message sequence
 * numbers, or UIDs for the UID forms (RFC 9051 §6.4.9: UIDs not in the mailbox are ignored).
 */
export function resolveSet(conn: ImapConn, view: SelectedView, set: string, uid: boolean): number[] {
  const parsed = parseSequenceSet(set);
  if (!parsed) throw new ImapError('BAD', null, 'Invalid sequence set');
  if ('saved' in parsed) {
    // RFC 5182 §2.1: "$" is the saved search result (UIDs); seq forms map through the view
    return conn.savedSearch.filter((u) => view.seqOf(u) > 0);
  }
  if (uid) {
    const ranges = resolveRanges(parsed, view.maxUid);
    // RFC 9051 §6.4.9: "*" is the largest UID in use; n:* with n above it still names that message
    // merged ranges are disjoint and ascending, so the result is too
    const out: number[] = [];
    for (const [lo, hi] of mergeRanges(ranges)) for (const u of view.uids.between(lo, hi)) out.push(u);
    return out;
  }
  const ranges = resolveRanges(parsed, view.exists);
  for (const [, b] of ranges) {
    // RFC 9051 §9 (seq-number): "The server should respond with a tagged BAD response to a
    // command that uses a message sequence number greater than the number of messages in the
    // selected mailbox. This includes "*" if the selected mailbox is empty." So with EXISTS 0
    // every sequence number is out of range ("*" resolves to 0 here, "1:*" to 0:1).
    if (view.exists === 0 || b > view.exists) throw new ImapError('BAD', null, 'Message sequence number out of range');
  }
  return selectSeqs(view.exists, ranges).map((s) => view.uidOf(s)!);
}

/** Metadata for the given UIDs (ascending), fetched in pages; expunged ones are missing. */
export async function metasFor(store: Store, mailboxId: number, uids: readonly number[]): Promise<MessageMeta[]> {
  const out: MessageMeta[] = [];
  for (let i = 0; i < uids.length; i += PAGE) {
    const page = uids.slice(i, i + PAGE);
    const first = page[0]!;
    const last = page[page.length - 1]!;
    // A dense page is cheaper as a range listing than as a list of UIDs.
    const metas = last - first < page.length * 2 ? await store.listMessages(mailboxId, { fromUid: first, toUid: last }) : await store.getMessages(mailboxId, page);
    if (last - first < page.length * 2) {
      const want = new Set(page);
      for (const m of metas) if (want.has(m.uid)) out.push(m);
    } else out.push(...metas.sort((a, b) => a.uid - b.uid));
  }
  return out;
}

/** Every message of a mailbox in UID order, paged. */
export async function* allMessages(store: Store, mailboxId: number): AsyncGenerator<MessageMeta[]> {
  let from = 1;
  for (;;) {
    const page = await store.listMessages(mailboxId, { fromUid: from, limit: PAGE });
    if (page.length === 0) return;
    yield page;
    from = page[page.length - 1]!.uid + 1;
    if (page.length < PAGE) return;
  }
}
