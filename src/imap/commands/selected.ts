// Selected-state housekeeping (RFC 9051 §6.4): CHECK, CLOSE, UNSELECT (RFC 3691), EXPUNGE,
// UID EXPUNGE (RFC 4315 §2.1).
import { defineCommand, noArgs, type CommandResult, type ImapConn, type ParseContext } from '../server/conn.js';
import { reportRemoved } from '../server/notify.js';
import { allMessages, requireSelected, resolveSet } from '../server/messages.js';
import type { SelectedView } from '../server/view.js';
import { DELETED } from '../index/mailbox-index.js';
import type { ArgReader } from '../wire/tokenizer.js';
import { sequenceSetArg, type SetArg } from './args.js';

const SELECTED = ['selected'] as const;

/** Expunges \Deleted messages (optionally only those in `only`); returns the UIDs removed. */
async function expungeDeleted(conn: ImapConn, view: SelectedView, only: Set<number> | null): Promise<number[]> {
  const store = conn.ctx.store;
  const victims: number[] = [];
  const index = view.index;
  if (index) {
    // \Deleted from the shared mailbox index (src/imap/index), current after settle()
    await index.settle();
    for (let s = 0; s < index.slots; s++) if (index.isLive(s) && index.sys[s]! & DELETED && (!only || only.has(index.uids[s]!))) victims.push(index.uids[s]!);
  } else {
    for await (const page of allMessages(store, view.mailboxId)) {
      for (const m of page) if (m.flags.includes('\\Deleted') && (!only || only.has(m.uid))) victims.push(m.uid);
    }
  }
  if (!victims.length) return [];
  return store.expunge(view.mailboxId, victims);
}

/** Sends EXPUNGE (or VANISHED after ENABLE QRESYNC) for UIDs this session removed itself (RFC 9051 §7.5.1, RFC 7162 §3.2.10). */
export function reportExpunged(conn: ImapConn, view: SelectedView, uids: readonly number[]): void {
  reportRemoved(conn, view, [...uids].sort((a, b) => a - b));
}

/** RFC 7162 §3.2.10 (QRESYNC): the tagged OK of EXPUNGE and CLOSE carries the new HIGHESTMODSEQ. */
async function highestModSeqResult(conn: ImapConn, view: SelectedView, name: string): Promise<CommandResult | undefined> {
  if (!conn.qresync) return undefined;
  const st = await conn.ctx.store.mailboxStatus(view.mailboxId);
  return { code: `HIGHESTMODSEQ ${st.highestModSeq}`, text: `${name} completed` };
}

export const check = defineCommand({
  name: 'CHECK',
  states: SELECTED,
  parse: noArgs,
  async run() {
    // RFC 3501 §6.4.1: every change is already durable; nothing to do
  },
});

export const close = defineCommand({
  name: 'CLOSE',
  states: SELECTED,
  parse: noArgs,
  async run(conn) {
    const view = requireSelected(conn);
    // RFC 9051 §6.4.2: silently expunge \Deleted messages unless read-only, then unselect
    if (view.readOnly) {
      conn.setSelected(null);
      return;
    }
    await expungeDeleted(conn, view, null);
    const r = await highestModSeqResult(conn, view, 'CLOSE');
    conn.setSelected(null);
    return r;
  },
});

export const unselect = defineCommand({
  name: 'UNSELECT',
  states: SELECTED,
  parse: noArgs,
  async run(conn) {
    // RFC 3691 §2, RFC 9051 §6.4.2: unselect without expunging
    conn.setSelected(null);
  },
});

/** EXPUNGE takes nothing; UID EXPUNGE a sequence set of UIDs (RFC 4315 §2.1). */
export function parseExpunge(args: ArgReader, ctx: ParseContext): SetArg | null {
  const set = ctx.uid ? sequenceSetArg(args) : null;
  args.end();
  return set;
}

export const expunge = defineCommand({
  name: 'EXPUNGE',
  states: SELECTED,
  flags: { uid: true, writes: true },
  parse: parseExpunge,
  async run(conn, set) {
    const view = requireSelected(conn);
    const only = set ? new Set(resolveSet(conn, view, set.text, true)) : null;
    if (only && only.size === 0) return highestModSeqResult(conn, view, set ? 'UID EXPUNGE' : 'EXPUNGE');
    const removed = await expungeDeleted(conn, view, only);
    reportExpunged(conn, view, removed);
    return highestModSeqResult(conn, view, set ? 'UID EXPUNGE' : 'EXPUNGE');
  },
});
