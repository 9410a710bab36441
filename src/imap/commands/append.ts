// APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315 §3), APPENDLIMIT (RFC 7889) and literal8
// (RFC 3516 §4.4). The message literal was streamed into a blob as it arrived (session.ts);
// here it is finished (fsynced, parsed once) and committed.
import type { CommandDescriptor } from '../server/conn.js';
import { ImapError, fromStoreError } from '../server/errors.js';
import type { StreamHandle } from '../server/session.js';
import { StoreError, type StagedBlob } from '../../store/types.js';
import { parseFlags } from './fetch.js';
import { MONTHS } from '../search.js';

const AUTHED = ['auth', 'selected'] as const;

/** RFC 9051 §9 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be space-padded). */
export function parseDateTime(s: string): Date | null {
  const m = /^([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  if (!m) return null;
  const mon = MONTHS.indexOf(m[2]!.toLowerCase());
  const day = Number(m[1]!.trim());
  const [h, mi, se] = [Number(m[4]), Number(m[5]), Number(m[6])];
  if (mon < 0 || day < 1 || day > 31 || h > 23 || mi > 59 || se > 60) return null;
  const offset = (Number(m[8]) * 60 + Number(m[9])) * (m[7] === '-' ? -1 : 1);
  const t = Date.UTC(Number(m[3]), mon, day, h, mi, Math.min(se, 59)) - offset * 60_000;
  return new Date(t);
}

export const append: CommandDescriptor = {
  states: AUTHED,
  async run({ args, conn }) {
    const name = conn.mailboxArg(args);
    let flags: string[] = [];
    let date: Date | undefined;
    if (args.peek()?.t === 'list') flags = parseFlags(args.list(), (m) => args.bad(m));
    const maybeDate = args.peek();
    if (maybeDate && maybeDate.t === 'string' && !maybeDate.literal) {
      date = parseDateTime(maybeDate.v.toString('latin1')) ?? args.bad('Invalid date-time');
      args.next();
    }
    const msg = args.next();
    args.end();
    const store = conn.ctx.store;
    let staged: StagedBlob;
    if (msg.t === 'stream') {
      const h = msg.handle as StreamHandle;
      h.finished = true;
      if (h.error) {
        await h.writer.abort();
        throw new ImapError('NO', 'SERVERBUG', 'Could not store the message');
      }
      staged = await h.writer.finish();
    } else if (msg.t === 'string' && msg.literal) {
      staged = await store.blobs.stage(msg.v);
    } else return args.bad('APPEND needs the message as a literal');
    try {
      // RFC 9051 §6.3.12: an empty message is not a message
      if (staged.size === 0) throw new ImapError('NO', 'CANNOT', 'Empty message');
      if (staged.size > conn.ctx.config.imap.append_limit) throw new ImapError('NO', 'TOOBIG', 'Message larger than APPENDLIMIT');
      const mb = await store.getMailbox(conn.account!.id, name);
      // RFC 9051 §6.3.12: TRYCREATE when the mailbox does not exist
      if (!mb) throw new ImapError('NO', 'TRYCREATE', 'No such mailbox');
      const r = await store.appendMessage(conn.account!.id, mb.name, staged, { flags, internalDate: date ?? conn.ctx.now() });
      // RFC 4315 §3: APPENDUID uidvalidity uid
      return { code: `APPENDUID ${r.uidValidity} ${r.uid}`, text: 'APPEND completed' };
    } catch (e) {
      await store.blobs.discard(staged).catch(() => {});
      if (e instanceof StoreError && e.code === 'not-found') throw new ImapError('NO', 'TRYCREATE', 'No such mailbox');
      if (e instanceof StoreError) throw fromStoreError(e);
      throw e;
    }
  },
};
