// Reporting other sessions' changes to the selected mailbox (RFC 9051 §7.5.1, §5.2, §5.5):
// new messages as EXISTS (and RECENT for IMAP4rev1), flag changes as FETCH (FLAGS), and
// expunges as EXPUNGE, the last only when the command being answered allows it.
import type { ChangeEvent } from '../../store/types.js';
import type { ImapConn } from './conn.js';
import type { SelectedView } from './view.js';
import { allMessages } from './messages.js';
import { compressSet, flagList } from '../wire/compose.js';
import { fetchHead } from '../commands/uidonly.js';
import { contextsDirty, contextsRemoving, updateContexts } from '../context.js';

/**
 * RFC 9051 §7.3.5, §7.5.2: when the keywords of the mailbox grow, FLAGS and PERMANENTFLAGS are sent
 * again before any response uses a new keyword (each session announces to its own client before
 * its first use, whichever session set it).
 */
export function announceKeywords(conn: ImapConn, view: SelectedView, flags: Iterable<string>): void {
  if (view.addKeywords(flags)) for (const line of view.flagResponses()) conn.send(line);
}

/**
 * An untagged FETCH reporting flags (RFC 9051 §7.5.2). The UID is always included so clients need
 * not map; RFC 7162 §3.1: once CONDSTORE is enabled, MODSEQ too. flags null: MODSEQ only
 * (STORE .SILENT with CONDSTORE, RFC 7162 §3.1.3).
 */
export function flagsFetchLine(conn: ImapConn, view: SelectedView, seq: number, uid: number, flags: readonly string[] | null, modseq: number): string {
  const items = [`UID ${uid}`];
  if (flags) {
    announceKeywords(conn, view, flags);
    items.push(`FLAGS ${flagList(view.recent?.has(uid) ? [...flags, '\\Recent'] : flags)}`);
  }
  if (conn.condstore) items.push(`MODSEQ (${modseq})`);
  return `${fetchHead(conn, seq, uid)}${items.join(' ')})`;
}

/**
 * Reports UIDs removed from the view: EXPUNGE per message, or after ENABLE QRESYNC or UIDONLY one
 * VANISHED (RFC 7162 §3.2.10, RFC 9586 §3: VANISHED replaces EXPUNGE). uids ascending; those not in the view are skipped.
 */
export function reportRemoved(conn: ImapConn, view: SelectedView, uids: readonly number[]): void {
  // RFC 5267 §4.3.4: REMOVEFROM for live search contexts before the EXPUNGE
  contextsRemoving(conn, view, uids);
  const gone: number[] = [];
  for (const uid of uids) {
    const seq = view.remove(uid);
    if (!seq) continue;
    // RFC 9586 §3: after ENABLE UIDONLY too
    if (conn.qresync || conn.uidonly) gone.push(uid);
    // RFC 9051 §7.5.1: each EXPUNGE renumbers the messages after it; remove() gives the current number.
    else conn.send(`* ${seq} EXPUNGE`);
  }
  if (gone.length) conn.send(`* VANISHED ${compressSet(gone)}`);
}

export async function flushPending(conn: ImapConn, allowExpunge: boolean): Promise<void> {
  const sel = conn.selected;
  if (!sel) return;
  if (sel.resyncFrom !== null && allowExpunge) {
    contextsDirty(sel);
    await resync(conn, sel);
  }
  // RFC 5267 §4.3: live search contexts are evaluated again where EXPUNGE may be sent
  if (sel.pending.length === 0) {
    if (allowExpunge) await updateContexts(conn, sel);
    return;
  }
  const events = sel.pending;
  sel.pending = [];
  contextsDirty(sel);
  const keep: ChangeEvent[] = [];
  let added = false;
  let blockedExpunge = false;
  // Only the newest state of a message is reported: a change another session made before this
  // session's own STORE (already answered with the newer flags) must not follow it with older
  // flags and a lower MODSEQ (RFC 7162 §3.1.4: MODSEQ only grows; RFC 9051 §7.5.2). Per UID: the
  // last change queued, and whether any queued change is another session's.
  const lastChange = new Map<number, { modseq: number }>();
  const foreign = new Set<number>();
  for (const ev of events) {
    if (ev.type !== 'flags-changed') continue;
    for (const c of ev.changes) {
      lastChange.set(c.uid, c);
      if (!sel.ownChanges.has(`${c.uid}:${c.modseq}`)) foreign.add(c.uid);
    }
  }
  for (const ev of events) {
    if (ev.type === 'messages-expunged') {
      // RFC 9051 §7.5.1: EXPUNGE must not be sent while a sequence-number FETCH/STORE/SEARCH is answered
      if (!allowExpunge || blockedExpunge) {
        blockedExpunge = true;
        keep.push(ev);
        continue;
      }
      const uids = ev.uids.filter((u) => sel.seqOf(u) > 0).sort((a, b) => a - b);
      if (uids.length === 0) continue;
      // Announce EXISTS for new messages first if they came before this expunge.
      if (added) {
        conn.send(`* ${sel.exists} EXISTS`);
        added = false;
      }
      reportRemoved(conn, sel, uids);
    } else if (ev.type === 'message-added') {
      if (ev.uid > sel.maxUid) {
        sel.uids.push(ev.uid);
        added = true;
      }
    } else if (ev.type === 'flags-changed') {
      for (const c of ev.changes) {
        const key = `${c.uid}:${c.modseq}`;
        const own = sel.ownChanges.delete(key);
        // An older state than one queued after it: never sent.
        if (lastChange.get(c.uid) !== c) continue;
        // This session's own change was answered by its STORE; sent again only when another
        // session's change to the message was queued before it (its older state was skipped
        // above; a .SILENT STORE did not report it).
        if (own && !foreign.has(c.uid)) continue;
        const seq = sel.seqOf(c.uid);
        if (!seq) continue;
        if (added) {
          conn.send(`* ${sel.exists} EXISTS`);
          added = false;
        }
        // RFC 9051 §7.5.2: unsolicited FETCH
        conn.send(flagsFetchLine(conn, sel, seq, c.uid, c.flags, c.modseq));
      }
    }
  }
  if (added) {
    if (sel.recent && !sel.readOnly) {
      // RFC 3501 §2.3.2: a new message is \Recent to exactly one session
      const mark = await conn.ctx.store.claimRecent(sel.mailboxId);
      for (const uid of sel.uids.above(mark)) sel.recent.add(uid);
    }
    conn.send(`* ${sel.exists} EXISTS`);
    if (sel.recent) conn.send(`* ${sel.recent.size} RECENT`);
  }
  sel.pending = keep.concat(sel.pending);
  if (allowExpunge) await updateContexts(conn, sel);
}

/**
 * After the pending queue overflowed: compare the view with the mailbox index (the store when the
 * view has none) and report the difference (EXPUNGE, EXISTS, FETCH FLAGS for messages changed
 * since the overflow).
 */
async function resync(conn: ImapConn, sel: SelectedView): Promise<void> {
  const since = sel.resyncFrom!;
  // Events from here on queue normally; duplicates of what the listing finds are harmless.
  sel.resyncFrom = null;
  const present = new Set<number>();
  const changed: Array<{ uid: number; flags: string[]; modseq: number }> = [];
  const added: number[] = [];
  const maxUid = sel.maxUid;
  const gone: number[] = [];
  const index = sel.index;
  if (index) {
    // The mailbox index (src/imap/index) holds the committed state once every event delivered so
    // far is applied, which covers every event this view dropped: no listing of the store.
    await index.settle();
    for (let s = 0; s < index.slots; s++) {
      if (!index.isLive(s)) continue;
      const uid = index.uids[s]!;
      const modseq = index.modseqs[s]!;
      if (uid > maxUid) added.push(uid);
      else if (modseq > since && !sel.ownChanges.delete(`${uid}:${modseq}`)) changed.push({ uid, flags: index.flagsAt(s), modseq });
    }
    for (const uid of sel.uids) if (index.slotOf(uid) < 0) gone.push(uid);
  } else {
    for await (const page of allMessages(conn.ctx.store, sel.mailboxId)) {
      for (const m of page) {
        present.add(m.uid);
        if (m.uid > maxUid) added.push(m.uid);
        else if (m.modseq > since && !sel.ownChanges.delete(`${m.uid}:${m.modseq}`)) changed.push({ uid: m.uid, flags: m.flags, modseq: m.modseq });
      }
    }
    for (const uid of sel.uids) if (!present.has(uid)) gone.push(uid);
  }
  reportRemoved(conn, sel, gone);
  for (const c of changed) {
    const seq = sel.seqOf(c.uid);
    if (seq) conn.send(flagsFetchLine(conn, sel, seq, c.uid, c.flags, c.modseq));
  }
  if (added.length) {
    for (const uid of added) sel.uids.push(uid);
    if (sel.recent && !sel.readOnly) {
      const mark = await conn.ctx.store.claimRecent(sel.mailboxId);
      for (const uid of sel.uids.above(mark)) sel.recent.add(uid);
    }
    conn.send(`* ${sel.exists} EXISTS`);
    if (sel.recent) conn.send(`* ${sel.recent.size} RECENT`);
  }
}
