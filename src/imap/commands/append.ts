// APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315 §3), APPENDLIMIT (RFC 7889) and literal8
// (RFC 3516 §4.4). The message literal was streamed into a blob as it arrived (session.ts);
// here it is finished (fsynced, parsed once) and committed. Every temporary file is held by the
// session and released when the command ends, however it ends (issue 10 item 3).
import { defineCommand, type ParseContext } from '../server/conn.js';
import { ImapError, fromStoreError } from '../server/errors.js';
import type { StreamHandle } from '../server/session.js';
import { StoreError, type StagedBlob } from '../../store/types.js';
import type { ArgReader } from '../wire/tokenizer.js';
import { mailboxArg, parseDateTime, parseFlags } from './args.js';

const AUTHED = ['auth', 'selected'] as const;

export interface AppendArgs {
  mailbox: string;
  flags: string[];
  date: Date | null;
  message: { kind: 'stream'; handle: StreamHandle } | { kind: 'bytes'; bytes: Buffer };
}

/** RFC 9051 §9: append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal. */
export function parseAppend(args: ArgReader, ctx: ParseContext): AppendArgs {
  const mailbox = mailboxArg(args, ctx);
  let flags: string[] = [];
  let date: Date | null = null;
  if (args.peek()?.t === 'list') flags = parseFlags(args.list(), (m) => args.bad(m));
  const maybeDate = args.peek();
  if (maybeDate && maybeDate.t === 'string' && !maybeDate.literal) {
    date = parseDateTime(maybeDate.v.toString('latin1')) ?? args.bad('Invalid date-time');
    args.next();
  }
  const msg = args.next();
  args.end();
  if (msg.t === 'stream') return { mailbox, flags, date, message: { kind: 'stream', handle: msg.handle as StreamHandle } };
  if (msg.t === 'string' && msg.literal) return { mailbox, flags, date, message: { kind: 'bytes', bytes: msg.v } };
  return args.bad('APPEND needs the message as a literal');
}

export const append = defineCommand({
  name: 'APPEND',
  states: AUTHED,
  parse: parseAppend,
  async run(conn, { mailbox, flags, date, message }) {
    const store = conn.ctx.store;
    let staged: StagedBlob;
    if (message.kind === 'stream') {
      const h = message.handle;
      if (h.error) throw new ImapError('NO', 'SERVERBUG', 'Could not store the message');
      staged = await h.writer.finish();
    } else staged = await store.blobs.stage(message.bytes);
    // The staged file is this command's until the store has committed it (discard keeps committed references).
    conn.hold(() => store.blobs.discard(staged));
    // RFC 9051 §6.3.12: an empty message is not a message
    if (staged.size === 0) throw new ImapError('NO', 'CANNOT', 'Empty message');
    if (staged.size > conn.ctx.config.imap.append_limit) throw new ImapError('NO', 'TOOBIG', 'Message larger than APPENDLIMIT');
    try {
      const mb = await store.getMailbox(conn.account!.id, mailbox);
      // RFC 9051 §6.3.12: TRYCREATE when the mailbox does not exist
      if (!mb) throw new ImapError('NO', 'TRYCREATE', 'No such mailbox');
      const r = await store.appendMessage(conn.account!.id, mb.name, staged, { flags, internalDate: date ?? conn.ctx.now() });
      // RFC 4315 §3: APPENDUID uidvalidity uid
      return { code: `APPENDUID ${r.uidValidity} ${r.uid}`, text: 'APPEND completed' };
    } catch (e) {
      if (e instanceof StoreError && e.code === 'not-found') throw new ImapError('NO', 'TRYCREATE', 'No such mailbox');
      if (e instanceof StoreError) throw fromStoreError(e);
      throw e;
    }
  },
});
