// Selected-state housekeeping (RFC 9051 §6.4): CHECK, CLOSE, UNSELECT (RFC 3691), EXPUNGE,
// UID EXPUNGE (RFC 4315 §2.1).
import type { CommandDescriptor, ImapConn } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { allMessages, requireSelected, resolveSet } from '../server/messages.js';
import type { SelectedView } from '../server/view.js';

const SELECTED = ['selected'] as const;

/** Expunges \Deleted messages (optionally only those in `only`); returns the UIDs removed. */
async function expungeDeleted(conn: ImapConn, view: SelectedView, only: Set<number> | null): Promise<number[]> {
  const store = conn.ctx.store;
  const victims: number[] = [];
  for await (const page of allMessages(store, view.mailboxId)) {
    for (const m of page) if (m.flags.includes('\\Deleted') && (!only || only.has(m.uid))) victims.push(m.uid);
  }
  if (!victims.length) return [];
  return store.expunge(view.mailboxId, victims);
}

/** Sends EXPUNGE for UIDs this session removed itself (RFC 9051 §7.5.1). */
export function reportExpunged(conn: ImapConn, view: SelectedView, uids: readonly number[]): void {
  for (const uid of [...uids].sort((a, b) => a - b)) {
    const seq = view.remove(uid);
    if (seq) conn.send(`* ${seq} EXPUNGE`);
  }
}

export const check: CommandDescriptor = {
  states: SELECTED,
  async run({ args }) {
    args.end();
    // RFC 3501 §6.4.1: every change is already durable; nothing to do
  },
};

export const close: CommandDescriptor = {
  states: SELECTED,
  async run({ args, conn }) {
    args.end();
    const view = requireSelected(conn);
    // RFC 9051 §6.4.2: silently expunge \Deleted messages unless read-only, then unselect
    if (!view.readOnly) await expungeDeleted(conn, view, null);
    conn.setSelected(null);
  },
};

export const unselect: CommandDescriptor = {
  states: SELECTED,
  async run({ args, conn }) {
    args.end();
    // RFC 3691 §2, RFC 9051 §6.4.2: unselect without expunging
    conn.setSelected(null);
  },
};

export const expunge: CommandDescriptor = {
  states: SELECTED,
  uid: true,
  async run({ args, conn, uid }) {
    const view = requireSelected(conn);
    let only: Set<number> | null = null;
    if (uid) only = new Set(resolveSet(conn, view, args.atom(), true));
    args.end();
    if (view.readOnly) throw new ImapError('NO', 'READ-ONLY', 'Mailbox is read-only');
    if (only && only.size === 0) return;
    const removed = await expungeDeleted(conn, view, only);
    reportExpunged(conn, view, removed);
  },
};
