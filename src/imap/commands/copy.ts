// COPY and MOVE with their UID forms (RFC 9051 §6.4.7, §6.4.8; RFC 6851 MOVE; RFC 4315 COPYUID).
import type { CommandDescriptor, ImapConn } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { requireSelected, resolveSet } from '../server/messages.js';
import { compressSet } from '../wire/compose.js';
import type { CopyResult } from '../../store/types.js';
import { reportExpunged } from './selected.js';

const SELECTED = ['selected'] as const;

async function target(conn: ImapConn, name: string): Promise<number> {
  const mb = await conn.ctx.store.getMailbox(conn.account!.id, name);
  // RFC 9051 §6.4.7: a missing destination gets TRYCREATE
  if (!mb) throw new ImapError('NO', 'TRYCREATE', 'No such mailbox');
  return mb.id;
}

function copyUid(r: CopyResult): string | null {
  if (!r.map.length) return null;
  // RFC 4315 §3: COPYUID uidvalidity source-set dest-set, in matching order
  return `COPYUID ${r.uidValidity} ${compressSet(r.map.map((m) => m[0]))} ${compressSet(r.map.map((m) => m[1]))}`;
}

export const copy: CommandDescriptor = {
  states: SELECTED,
  uid: true,
  usesSeqs: true,
  async run({ args, conn, uid }) {
    const view = requireSelected(conn);
    const set = args.atom();
    const name = conn.mailboxArg(args);
    args.end();
    const uids = resolveSet(conn, view, set, uid);
    const dst = await target(conn, name);
    if (!uids.length) return;
    const r = await conn.ctx.store.copyMessages(view.mailboxId, uids, dst);
    const code = copyUid(r);
    return { code, text: `${uid ? 'UID ' : ''}COPY completed` };
  },
};

export const move: CommandDescriptor = {
  states: SELECTED,
  uid: true,
  async run({ args, conn, uid }) {
    const view = requireSelected(conn);
    const set = args.atom();
    const name = conn.mailboxArg(args);
    args.end();
    const uids = resolveSet(conn, view, set, uid);
    const dst = await target(conn, name);
    if (view.readOnly) throw new ImapError('NO', 'READ-ONLY', 'Mailbox is read-only');
    if (!uids.length) return;
    // RFC 6851 §3.3: atomic; the store copies and expunges in one transaction
    const r = await conn.ctx.store.moveMessages(view.mailboxId, uids, dst);
    const code = copyUid(r);
    // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs
    if (code) conn.send(`* OK [${code}] Moved`);
    reportExpunged(
      conn,
      view,
      r.map.map((m) => m[0]),
    );
  },
};
