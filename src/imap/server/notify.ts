// Reporting other sessions' changes to the selected mailbox (RFC 9051 §7.5.1, §5.2, §5.5):
// new messages as EXISTS (and RECENT for IMAP4rev1), flag changes as FETCH (FLAGS), and
// expunges as EXPUNGE, the last only when the command being answered allows it.
import type { ChangeEvent } from '../../store/types.js';
import type { ImapConn } from './conn.js';
import type { SelectedView } from './view.js';
import { allMessages } from './messages.js';
import { flagList } from '../wire/compose.js';

export async function flushPending(conn: ImapConn, allowExpunge: boolean): Promise<void> {
  const sel = conn.selected;
  if (!sel) return;
  if (sel.resyncFrom !== null && allowExpunge) await resync(conn, sel);
  if (sel.pending.length === 0) return;
  const events = sel.pending;
  sel.pending = [];
  const keep: ChangeEvent[] = [];
  let added = false;
  let blockedExpunge = false;
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
      // RFC 9051 §7.5.1: each EXPUNGE renumbers the messages after it; remove() gives the current number.
      for (const uid of uids) {
        const seq = sel.remove(uid);
        if (seq) conn.send(`* ${seq} EXPUNGE`);
      }
    } else if (ev.type === 'message-added') {
      if (ev.uid > sel.maxUid) {
        sel.uids.push(ev.uid);
        added = true;
      }
    } else if (ev.type === 'flags-changed') {
      for (const c of ev.changes) {
        const key = `${c.uid}:${c.modseq}`;
        if (sel.ownChanges.delete(key)) continue;
        const seq = sel.seqOf(c.uid);
        if (!seq) continue;
        if (added) {
          conn.send(`* ${sel.exists} EXISTS`);
          added = false;
        }
        const flags = sel.recent?.has(c.uid) ? [...c.flags, '\\Recent'] : c.flags;
        // RFC 9051 §7.5.2: unsolicited FETCH; the UID is included so clients need not map
        conn.send(`* ${seq} FETCH (UID ${c.uid} FLAGS ${flagList(flags)})`);
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
}

/**
 * After the pending queue overflowed: compare the view with the store and report the
 * difference (EXPUNGE, EXISTS, FETCH FLAGS for messages changed since the overflow).
 */
async function resync(conn: ImapConn, sel: SelectedView): Promise<void> {
  const since = sel.resyncFrom!;
  // Events from here on queue normally; duplicates of what the listing finds are harmless.
  sel.resyncFrom = null;
  const present = new Set<number>();
  const changed: Array<{ uid: number; flags: string[] }> = [];
  const added: number[] = [];
  const maxUid = sel.maxUid;
  for await (const page of allMessages(conn.ctx.store, sel.mailboxId)) {
    for (const m of page) {
      present.add(m.uid);
      if (m.uid > maxUid) added.push(m.uid);
      else if (m.modseq > since && !sel.ownChanges.delete(`${m.uid}:${m.modseq}`)) changed.push({ uid: m.uid, flags: m.flags });
    }
  }
  const gone: number[] = [];
  for (const uid of sel.uids) if (!present.has(uid)) gone.push(uid);
  for (const uid of gone) {
    const seq = sel.remove(uid);
    if (seq) conn.send(`* ${seq} EXPUNGE`);
  }
  for (const c of changed) {
    const seq = sel.seqOf(c.uid);
    if (seq) conn.send(`* ${seq} FETCH (UID ${c.uid} FLAGS ${flagList(sel.recent?.has(c.uid) ? [...c.flags, '\\Recent'] : c.flags)})`);
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
