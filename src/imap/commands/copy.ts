// COPY and MOVE with their UID forms (RFC 9051 §6.4.7, §6.4.8; RFC 6851 MOVE; RFC 4315 COPYUID).
import { defineCommand, type ImapConn, type ParseContext } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { requireSelected, resolveSet } from '../server/messages.js';
import { compressSet } from '../wire/compose.js';
import type { ArgReader } from '../wire/tokenizer.js';
import type { CopyResult } from '../../store/types.js';
import { reportExpunged } from './selected.js';
import { mailboxArg, sequenceSetArg, type SetArg } from './args.js';

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

/** RFC 9051 §9: copy = "COPY" SP sequence-set SP mailbox; RFC 6851 §3.1: move likewise. */
export function parseCopy(args: ArgReader, ctx: ParseContext): { set: SetArg; mailbox: string } {
  const set = sequenceSetArg(args);
  const mailbox = mailboxArg(args, ctx);
  args.end();
  return { set, mailbox };
}

export const copy = defineCommand({
  name: 'COPY',
  states: SELECTED,
  flags: { uid: true, usesSeqs: true },
  parse: parseCopy,
  async run(conn, { set, mailbox }, { uid }) {
    const view = requireSelected(conn);
    const uids = resolveSet(conn, view, set.text, uid);
    const dst = await target(conn, mailbox);
    if (!uids.length) return;
    const r = await conn.ctx.store.copyMessages(view.mailboxId, uids, dst);
    const code = copyUid(r);
    return { code, text: `${uid ? 'UID ' : ''}COPY completed` };
  },
});

export const move = defineCommand({
  name: 'MOVE',
  states: SELECTED,
  flags: { uid: true, writes: true },
  parse: parseCopy,
  async run(conn, { set, mailbox }, { uid }) {
    const view = requireSelected(conn);
    const uids = resolveSet(conn, view, set.text, uid);
    const dst = await target(conn, mailbox);
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
});
