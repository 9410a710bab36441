// APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315 §3), APPENDLIMIT (RFC 7889), literal8
// (RFC 3516 §4.4), MULTIAPPEND (RFC 3502: several messages, all or none), CATENATE (RFC 4469: a
// message joined from TEXT literals and URLs of this account's messages) and REPLACE (RFC 8508:
// append a new version and expunge the old one together).
//
// Each message literal (and each CATENATE TEXT literal) was streamed into a blob as it arrived
// (session.ts asks appendLiteralRole which literals those are); here they are finished (fsynced,
// parsed once) and committed in one store transaction. Every temporary file is held by the
// session and released when the command ends, however it ends (issue 10 item 3).
import { defineCommand, type ImapConn, type ParseContext } from '../server/conn.js';
import { ImapError, fromStoreError } from '../server/errors.js';
import { requireSelected, resolveSet } from '../server/messages.js';
import type { StreamHandle } from '../server/session.js';
import { compressSet } from '../wire/compose.js';
import type { CommandPart } from '../wire/framer.js';
import { parseSequenceSet } from '../wire/sequence.js';
import type { ArgReader, Token } from '../wire/tokenizer.js';
import { resolveSection } from '../../message/sections.js';
import { StoreError, type AppendItem, type StagedBlob } from '../../store/types.js';
import { mailboxArg, parseDateTime, parseFlags } from './args.js';
import { reportExpunged } from './selected.js';

const AUTHED = ['auth', 'selected'] as const;

/** Message data as the command carried it: streamed into a blob, or a literal held in memory. */
export type AppendSource = { kind: 'stream'; handle: StreamHandle } | { kind: 'bytes'; bytes: Buffer };

/** RFC 4469 §5: cat-part = text-literal / url. */
export type CatPart = { kind: 'text'; source: AppendSource } | { kind: 'url'; url: string };

/** RFC 3502 §6.3.11 append-message: its options and its data (a literal or CATENATE). */
export interface AppendMessage {
  flags: string[];
  date: Date | null;
  data: { kind: 'literal'; source: AppendSource } | { kind: 'catenate'; parts: CatPart[] };
}

export interface AppendArgs {
  mailbox: string;
  messages: AppendMessage[];
}

/** At most this many messages in one MULTIAPPEND, and parts in one CATENATE (bounded work per command). */
export const MAX_APPEND_MESSAGES = 1000;
export const MAX_CATENATE_PARTS = 100;
/** Octets of message data one APPEND may carry in all (or APPENDLIMIT when that is larger). */
export const MAX_APPEND_TOTAL = 1024 * 1024 * 1024;

function sourceOf(t: Token | undefined): AppendSource | null {
  if (!t) return null;
  if (t.t === 'stream') return { kind: 'stream', handle: t.handle as StreamHandle };
  if (t.t === 'string' && t.literal) return { kind: 'bytes', bytes: t.v };
  return null;
}

/**
 * RFC 3502 §6.3.11: append-message = append-opts SP append-data; append-opts = [SP flag-list]
 * [SP date-time]; RFC 4469 §5: append-data = literal / literal8 / "CATENATE" SP "(" cat-part
 * *(SP cat-part) ")"; cat-part = "TEXT" SP literal / "URL" SP astring.
 */
function parseMessage(args: ArgReader, first = true): AppendMessage {
  let flags: string[] = [];
  let date: Date | null = null;
  if (args.peek()?.t === 'list') flags = parseFlags(args.list(), (m) => args.bad(m));
  const maybeDate = args.peek();
  if (maybeDate && maybeDate.t === 'string' && !maybeDate.literal) {
    date = parseDateTime(maybeDate.v.toString('latin1')) ?? args.bad('Invalid date-time');
    args.next();
  }
  if (args.peekAtom() === 'CATENATE') {
    args.next();
    const items = args.list();
    const parts: CatPart[] = [];
    for (let i = 0; i < items.length; i += 2) {
      const kw = items[i]!;
      const val = items[i + 1];
      const word = kw.t === 'atom' ? kw.v.toUpperCase() : '';
      if (word === 'TEXT') {
        const source = sourceOf(val);
        if (!source) args.bad('CATENATE TEXT needs a literal');
        parts.push({ kind: 'text', source });
      } else if (word === 'URL') {
        if (!val || (val.t !== 'atom' && val.t !== 'string')) return args.bad('CATENATE URL needs a URL');
        parts.push({ kind: 'url', url: val.t === 'atom' ? val.v : val.v.toString('utf8') });
      } else args.bad('CATENATE parts are TEXT or URL');
    }
    if (!parts.length) args.bad('CATENATE needs at least one part');
    if (parts.length > MAX_CATENATE_PARTS) args.bad(`At most ${MAX_CATENATE_PARTS} CATENATE parts`);
    return { flags, date, data: { kind: 'catenate', parts } };
  }
  const source = sourceOf(args.peek());
  // After a message, what is not another message is an extra argument.
  if (!source) return args.bad(first ? 'APPEND needs the message as a literal' : 'Too many arguments');
  args.next();
  return { flags, date, data: { kind: 'literal', source } };
}

/** RFC 3502 §6.3.11: append = "APPEND" SP mailbox 1*append-message. */
export function parseAppend(args: ArgReader, ctx: ParseContext): AppendArgs {
  const mailbox = mailboxArg(args, ctx);
  const messages: AppendMessage[] = [];
  do {
    messages.push(parseMessage(args, messages.length === 0));
    if (messages.length > MAX_APPEND_MESSAGES) args.bad(`At most ${MAX_APPEND_MESSAGES} messages per APPEND`);
  } while (!args.done);
  return { mailbox, messages };
}

export interface ReplaceArgs {
  /** seq-number or, for UID REPLACE, uniqueid (RFC 8508 §6). */
  target: string;
  mailbox: string;
  message: AppendMessage;
}

/** RFC 8508 §6: replace = "REPLACE" SP seq-number SP mailbox append-message; UID REPLACE with a uniqueid. */
export function parseReplace(args: ArgReader, ctx: ParseContext): ReplaceArgs {
  const target = args.atom();
  // One message: seq-number = nz-number / "*" (RFC 9051 §9); uniqueid = nz-number.
  if (!/^([1-9][0-9]{0,9}|\*)$/.test(target) || (ctx.uid && target === '*') || !parseSequenceSet(target)) args.bad('REPLACE names one message');
  const mailbox = mailboxArg(args, ctx);
  const message = parseMessage(args);
  args.end();
  return { target, mailbox, message };
}

/**
 * What a literal announced in an APPEND or REPLACE command is, from the command so far:
 * 'message' for message data (a message of MULTIAPPEND, a CATENATE TEXT part: the session
 * streams it into a blob), 'argument' for the mailbox name or a CATENATE URL (kept in memory
 * like any argument), null for another command.
 */
export function appendLiteralRole(parts: readonly CommandPart[]): 'message' | 'argument' | null {
  const head = parts[0];
  if (!head || head.kind !== 'text') return null;
  const text = head.bytes.toString('latin1');
  const m = /^\S+ +(?:UID +)?(APPEND|REPLACE)(?= |$)/i.exec(text);
  if (!m) return null;
  const replace = m[1]!.toUpperCase() === 'REPLACE';
  if (parts.length === 1) {
    const rest = text.slice(m[0].length);
    // RFC 9051 §9: the mailbox (an astring) may itself be a literal; REPLACE names the message first.
    if (replace ? /^ +\S+ *$/.test(rest) || rest.trim() === '' : rest.trim() === '') return 'argument';
  }
  const last = parts[parts.length - 1]!;
  // RFC 4469 §5: URL SP astring: a URL sent as a literal is an argument, not message data.
  if (last.kind === 'text' && /(^|[ (])URL *$/i.test(last.bytes.toString('latin1'))) return 'argument';
  return 'message';
}

/**
 * Why a message literal is refused before its "+" (RFC 7889 §4: TOOBIG), or null: one message
 * above APPENDLIMIT, or a command whose streamed literals together pass MAX_APPEND_TOTAL or
 * number more than MAX_APPEND_MESSAGES (the temporary files of one command are bounded).
 */
export function appendSizeRefusal(info: { size: number; parts: readonly CommandPart[] }, appendLimit: number): string | null {
  if (info.size > appendLimit) return `Message larger than APPENDLIMIT ${appendLimit}`;
  let total = info.size;
  let count = 1;
  for (const p of info.parts) {
    if (p.kind !== 'stream') continue;
    total += p.size;
    count++;
  }
  if (total > Math.max(appendLimit, MAX_APPEND_TOTAL) || count > MAX_APPEND_MESSAGES) return `At most ${MAX_APPEND_MESSAGES} messages and ${Math.max(appendLimit, MAX_APPEND_TOTAL)} octets per command`;
  return null;
}

/** Stages one source: a streamed literal is finished, an in-memory one written out. */
async function stageSource(conn: ImapConn, source: AppendSource): Promise<StagedBlob> {
  const store = conn.ctx.store;
  let staged: StagedBlob;
  if (source.kind === 'stream') {
    if (source.handle.error) throw new ImapError('NO', 'SERVERBUG', 'Could not store the message');
    staged = await source.handle.writer.finish();
  } else staged = await store.blobs.stage(source.bytes);
  // The staged file is this command's until the store has committed it (discard keeps committed references).
  conn.hold(() => store.blobs.discard(staged));
  return staged;
}

/** RFC 4469 §5: BADURL's text is the URL as given (resp-text-code: no "]", no CR/LF). */
function badUrl(url: string, why: string): ImapError {
  return new ImapError('NO', `BADURL ${url.replace(/[\]\r\n\x00]/g, '').slice(0, 400)}`, why);
}

function pctDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** A URL of a CATENATE part, resolved: a message of this account and the octets it names. */
export interface ResolvedUrl {
  mailbox: string;
  uidValidity: number | null;
  uid: number;
  section: string | null;
  partial: { start: number; length: number | null } | null;
}

/**
 * Parses an IMAP URL (RFC 5092 §6) as CATENATE takes it (RFC 4469 §5): the absolute path form
 * "/mailbox;UIDVALIDITY=n/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]" relative to this server and
 * user, or the same after "imap://user@host" when the user is the logged-in account and the host
 * this server. Anything else (another user or server, URLAUTH, a search) is null.
 */
export function parseCatenateUrl(url: string, user: string, hostname: string): ResolvedUrl | null {
  let path = url;
  const abs = /^imap:\/\/([^/]*)(\/.*)$/i.exec(url);
  if (abs) {
    const auth = /^(?:([^@;]*)(?:;AUTH=[^@]*)?@)?([^:@]+)(?::(\d+))?$/i.exec(abs[1]!);
    if (!auth || auth[1] === undefined) return null;
    // RFC 4469 §5: only this account's messages on this server.
    if (pctDecode(auth[1])?.toLowerCase() !== user.toLowerCase() || auth[2]!.toLowerCase() !== hostname.toLowerCase()) return null;
    path = abs[2]!;
  }
  const m = /^\/([^;?#]+?)(?:;UIDVALIDITY=([1-9][0-9]{0,9}))?\/;UID=([1-9][0-9]{0,9})(?:\/;SECTION=([^/;?#]+))?(?:\/;PARTIAL=([0-9]{1,10})(?:\.([1-9][0-9]{0,9}))?)?$/i.exec(path);
  if (!m) return null;
  const mailbox = pctDecode(m[1]!);
  const section = m[4] === undefined ? null : pctDecode(m[4]);
  if (mailbox === null || (m[4] !== undefined && section === null)) return null;
  return {
    mailbox,
    uidValidity: m[2] ? Number(m[2]) : null,
    uid: Number(m[3]),
    section,
    partial: m[5] === undefined ? null : { start: Number(m[5]), length: m[6] === undefined ? null : Number(m[6]) },
  };
}

/** The octets a CATENATE URL names, streamed into `write`; NO [BADURL] when it names nothing of this account. */
async function writeUrl(conn: ImapConn, url: string, write: (chunk: Buffer) => Promise<void>): Promise<void> {
  const store = conn.ctx.store;
  const account = conn.account!;
  const r = parseCatenateUrl(url, account.address, conn.ctx.config.hostname);
  if (!r) throw badUrl(url, 'Only URLs of this account\'s messages on this server');
  const mb = await store.getMailbox(account.id, r.mailbox);
  if (!mb || (r.uidValidity !== null && r.uidValidity !== mb.uidValidity)) throw badUrl(url, 'No such mailbox');
  const [meta] = await store.getMessages(mb.id, [r.uid]);
  if (!meta) throw badUrl(url, 'No such message');
  let start = 0;
  let end = meta.size;
  let filtered: Buffer | null = null;
  if (r.section !== null) {
    const st = await store.getStructure(mb.id, r.uid);
    const range = st ? resolveSection(st, r.section) : null;
    if (!range) throw badUrl(url, 'No such section');
    ({ start, end } = range);
    if (range.filter) filtered = range.filter(await store.blobs.read(meta.blobId, { start, end }));
  }
  if (filtered) {
    // HEADER.FIELDS: small, already in memory
    const from = r.partial ? Math.min(filtered.length, r.partial.start) : 0;
    const to = r.partial?.length != null ? Math.min(filtered.length, from + r.partial.length) : filtered.length;
    await write(filtered.subarray(from, to));
    return;
  }
  if (r.partial) {
    // RFC 5092 §6: PARTIAL is an offset and a length within the section
    start = Math.min(end, start + r.partial.start);
    if (r.partial.length !== null) end = Math.min(end, start + r.partial.length);
  }
  if (end <= start) return;
  for await (const chunk of store.blobs.open(meta.blobId, { start, end })) await write(chunk as Buffer);
}

/** One message of the command, staged: a literal as is, a CATENATE joined into a new blob. */
async function stageMessage(conn: ImapConn, msg: AppendMessage): Promise<StagedBlob> {
  const limit = conn.ctx.config.imap.append_limit;
  if (msg.data.kind === 'literal') return stageSource(conn, msg.data.source);
  const store = conn.ctx.store;
  const writer = store.blobs.createWriter();
  conn.hold(() => writer.abort());
  const write = async (chunk: Buffer): Promise<void> => {
    // RFC 4469 §5: a result larger than the server accepts is refused with TOOBIG
    if (writer.size + chunk.length > limit) throw new ImapError('NO', 'TOOBIG', `Message larger than APPENDLIMIT ${limit}`);
    await writer.write(chunk);
  };
  for (const part of msg.data.parts) {
    if (part.kind === 'url') {
      await writeUrl(conn, part.url, write);
      continue;
    }
    const text = await stageSource(conn, part.source);
    for await (const chunk of store.blobs.openStaged(text)) await write(chunk as Buffer);
    await store.blobs.discard(text);
  }
  const staged = await writer.finish();
  conn.hold(() => store.blobs.discard(staged));
  return staged;
}

/** Stages every message and checks its size. */
async function stageAll(conn: ImapConn, messages: readonly AppendMessage[]): Promise<AppendItem[]> {
  const limit = conn.ctx.config.imap.append_limit;
  const items: AppendItem[] = [];
  for (const msg of messages) {
    const blob = await stageMessage(conn, msg);
    // RFC 9051 §6.3.12: an empty message is not a message
    if (blob.size === 0) throw new ImapError('NO', 'CANNOT', 'Empty message');
    if (blob.size > limit) throw new ImapError('NO', 'TOOBIG', 'Message larger than APPENDLIMIT');
    items.push({ blob, flags: msg.flags, internalDate: msg.date ?? conn.ctx.now() });
  }
  return items;
}

function storeFailure(e: unknown): unknown {
  // RFC 9051 §6.3.12: TRYCREATE when the mailbox does not exist
  if (e instanceof StoreError && e.code === 'not-found') return new ImapError('NO', 'TRYCREATE', 'No such mailbox');
  if (e instanceof StoreError) return fromStoreError(e);
  return e;
}

export const append = defineCommand({
  name: 'APPEND',
  states: AUTHED,
  parse: parseAppend,
  async run(conn, { mailbox, messages }) {
    const store = conn.ctx.store;
    const mb = await store.getMailbox(conn.account!.id, mailbox);
    // RFC 9051 §6.3.12: TRYCREATE when the mailbox does not exist
    if (!mb) throw new ImapError('NO', 'TRYCREATE', 'No such mailbox');
    const items = await stageAll(conn, messages);
    try {
      // RFC 3502 §6.3.11: all the messages are appended, or none
      const r = await store.appendMessages(conn.account!.id, mb.name, items);
      // RFC 4315 §3, RFC 3502 §6.3.11: APPENDUID uidvalidity uid-set, in the order of the messages
      return { code: `APPENDUID ${r.uidValidity} ${compressSet(r.uids)}`, text: 'APPEND completed' };
    } catch (e) {
      throw storeFailure(e);
    }
  },
});

export const replace = defineCommand({
  name: 'REPLACE',
  states: ['selected'] as const,
  // RFC 8508 §3.3: the selected mailbox loses the old message, so not after EXAMINE (NO [READ-ONLY])
  flags: { uid: true, writes: true },
  parse: parseReplace,
  async run(conn, { target, mailbox, message }, { uid }) {
    const view = requireSelected(conn);
    const [old] = resolveSet(conn, view, target, uid);
    // RFC 8508 §3.3: a UID that is not in the mailbox: nothing is appended
    if (old === undefined) throw new ImapError('NO', 'NONEXISTENT', 'No such message');
    const store = conn.ctx.store;
    const mb = await store.getMailbox(conn.account!.id, mailbox);
    if (!mb) throw new ImapError('NO', 'TRYCREATE', 'No such mailbox');
    const items = await stageAll(conn, [message]);
    let r;
    try {
      // RFC 8508 §3.3: the new message is appended and the old one expunged in one transaction
      r = await store.appendMessages(conn.account!.id, mb.name, items, { expunge: { mailboxId: view.mailboxId, uids: [old] } });
    } catch (e) {
      throw storeFailure(e);
    }
    // RFC 8508 §3.3: APPENDUID in an untagged OK, then the EXPUNGE of the old message
    conn.send(`* OK [APPENDUID ${r.uidValidity} ${r.uids[0]}] Replacement message ready`);
    reportExpunged(conn, view, [old]);
    return { text: `${uid ? 'UID ' : ''}REPLACE completed` };
  },
});
