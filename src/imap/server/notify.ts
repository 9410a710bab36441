// Reporting other sessions' changes to the selected mailbox (RFC 9051 §7.5.1, §5.2, §5.5):
// new messages as EXISTS (and RECENT for IMAP4rev1), flag changes as FETCH (FLAGS), and
// expunges as EXPUNGE, the last only when the command being answered allows it.
import type { ChangeEvent } from '../../store/types.js';
import type { ImapConn } from './conn.js';
import { flagList } from '../wire/compose.js';

export async function flushPending(conn: ImapConn, allowExpunge: boolean): Promise<void> {
  const sel = conn.selected;
  if (!sel || sel.pending.length === 0) return;
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
