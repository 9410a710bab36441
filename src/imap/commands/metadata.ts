// METADATA and METADATA-SERVER (RFC 5464): GETMETADATA and SETMETADATA on a mailbox's entries
// or, with the mailbox name "", the server's, each /private/... (the user's own) or
// /shared/... (every user with access; with no sharing between accounts, the same user). The
// entries are kept by the store (Store.metadata, docs/imap.md "METADATA"); the limits are the
// config keys imap.metadata_max_entry_size, metadata_max_entries and metadata_max_total.
import { defineCommand, type ImapConn, type ParseContext } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { imapString } from '../wire/compose.js';
import type { ArgReader, Token } from '../wire/tokenizer.js';
import { StoreError } from '../../store/types.js';
import { checkEntryName } from '../../store/metadata.js';
import { mailboxArg } from './args.js';

export { checkEntryName };

const AUTHED = ['auth', 'selected'] as const;

export type Depth = 0 | 1 | 'infinity';

/** The mailbox a command names: its UTF-8 name, or null for the server (RFC 5464 §4.2: ""). */
export type MetadataTarget = string | null;

export interface GetMetadataArgs {
  maxSize: number | null;
  depth: Depth;
  target: MetadataTarget;
  /** Lower case, validated, in the order given. */
  entries: string[];
}

export interface SetMetadataArgs {
  target: MetadataTarget;
  /** Lower case; value null deletes (RFC 5464 §4.3: NIL). */
  entries: Array<{ name: string; value: Buffer | null }>;
}

/** RFC 5464 §5: mailbox; "" names the server (METADATA-SERVER). */
function targetArg(args: ArgReader, ctx: ParseContext): MetadataTarget {
  const t = args.peek();
  if (t && t.t === 'string' && t.v.length === 0) {
    args.next();
    return null;
  }
  return mailboxArg(args, ctx);
}

function entryToken(args: ArgReader, t: Token, top: boolean): string {
  if (t.t === 'atom') return checkEntryName(t.v, top, (m) => args.bad(m));
  if (t.t === 'string') return checkEntryName(t.v.toString('utf8'), top, (m) => args.bad(m));
  return args.bad('Expected an entry name');
}

/**
 * RFC 5464 §5:
 *   getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries
 *   getmetadata-options = "(" getmetadata-option *(SP getmetadata-option) ")"
 *   getmetadata-option = maxsize-opt / scope-opt
 *   maxsize-opt = "MAXSIZE" SP number
 *   scope-opt = "DEPTH" SP ("0" / "1" / "infinity")
 *   entries = entry / "(" entry *(SP entry) ")"
 */
export function parseGetMetadata(args: ArgReader, ctx: ParseContext): GetMetadataArgs {
  let maxSize: number | null = null;
  let depth: Depth | null = null;
  const first = args.peek();
  if (first && first.t === 'list') {
    const opts = args.list();
    if (opts.length === 0) args.bad('Empty GETMETADATA options');
    for (let i = 0; i < opts.length; i += 2) {
      const k = opts[i]!;
      const v = opts[i + 1];
      if (k.t !== 'atom' || !v || v.t !== 'atom') args.bad('GETMETADATA options are MAXSIZE n and DEPTH d');
      const key = k.v.toUpperCase();
      if (key === 'MAXSIZE') {
        if (maxSize !== null) args.bad('MAXSIZE given twice');
        const n = /^\d{1,10}$/.test(v.v) ? Number(v.v) : NaN;
        if (!(n <= 0xffffffff)) args.bad('MAXSIZE needs a number');
        maxSize = n;
      } else if (key === 'DEPTH') {
        if (depth !== null) args.bad('DEPTH given twice');
        const d = v.v.toLowerCase();
        if (d === '0') depth = 0;
        else if (d === '1') depth = 1;
        else if (d === 'infinity') depth = 'infinity';
        else args.bad('DEPTH is 0, 1 or infinity');
      } else args.bad(`Unknown GETMETADATA option ${k.v.slice(0, 32)}`);
    }
  }
  const target = targetArg(args, ctx);
  const t = args.next();
  const entries = t.t === 'list' ? t.items.map((e) => entryToken(args, e, true)) : [entryToken(args, t, true)];
  if (entries.length === 0) args.bad('GETMETADATA needs at least one entry');
  args.end();
  return { maxSize, depth: depth ?? 0, target, entries };
}

/**
 * RFC 5464 §5:
 *   setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value *(SP entry-value) ")"
 *   entry-value = entry SP value
 *   value = nstring / literal8
 */
export function parseSetMetadata(args: ArgReader, ctx: ParseContext): SetMetadataArgs {
  const target = targetArg(args, ctx);
  const list = args.list();
  args.end();
  if (list.length === 0 || list.length % 2 !== 0) args.bad('SETMETADATA needs entry and value pairs');
  const entries: SetMetadataArgs['entries'] = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = entryToken(args, list[i]!, false);
    const v = list[i + 1]!;
    if (v.t === 'string') entries.push({ name, value: v.v });
    else if (v.t === 'atom' && v.v.toUpperCase() === 'NIL') entries.push({ name, value: null });
    else args.bad('A metadata value is a string, a literal or NIL');
  }
  return { target, entries };
}

/** The mailbox's id, or null for the server; NO [NONEXISTENT] for a mailbox that does not exist. */
async function resolveTarget(conn: ImapConn, target: MetadataTarget): Promise<number | null> {
  if (target === null) return null;
  const mb = await conn.ctx.store.getMailbox(conn.account!.id, target);
  if (!mb) throw new ImapError('NO', 'NONEXISTENT', 'No such mailbox');
  return mb.id;
}

/**
 * A value in a METADATA response (RFC 5464 §5 value = nstring / literal8): a quoted string when
 * it can be one, a literal for other text, literal8 (RFC 3516) when it holds NUL.
 */
export function metadataValue(value: Buffer | null): Buffer {
  if (value === null) return Buffer.from('NIL');
  if (value.includes(0)) return Buffer.concat([Buffer.from(`~{${value.length}}\r\n`), value]);
  if (value.length < 1024 && /^[\x20-\x7e]*$/.test(value.toString('latin1'))) return Buffer.from(imapString(value.toString('latin1')));
  return Buffer.concat([Buffer.from(`{${value.length}}\r\n`), value]);
}

/** One METADATA response: `* METADATA mailbox (entry value ...)` (RFC 5464 §4.4.1). */
export function metadataResponse(conn: ImapConn, target: MetadataTarget, entries: ReadonlyArray<{ name: string; value: Buffer | null }>): Buffer {
  const parts: Buffer[] = [Buffer.from(`* METADATA ${target === null ? '""' : conn.mailboxOut(target)} (`)];
  entries.forEach((e, i) => {
    parts.push(Buffer.from(`${i ? ' ' : ''}${e.name} `), metadataValue(e.value));
  });
  parts.push(Buffer.from(')\r\n'));
  return Buffer.concat(parts);
}

export const getmetadata = defineCommand({
  name: 'GETMETADATA',
  states: AUTHED,
  parse: parseGetMetadata,
  async run(conn, a) {
    const mailboxId = await resolveTarget(conn, a.target);
    const found = await conn.ctx.store.metadata.getMetadata(conn.account!.id, mailboxId, a.entries, a.depth);
    const byName = new Map(found.map((e) => [e.name, e]));
    const out: Array<{ name: string; value: Buffer | null }> = [];
    let longest = 0;
    // An entry asked for by name that has no value is answered NIL (RFC 5464 §4.4.1 value =
    // nstring); /private and /shared themselves never hold one and are not answered.
    for (const name of a.entries) {
      if (!byName.has(name) && name !== '/private' && name !== '/shared' && !out.some((e) => e.name === name)) out.push({ name, value: null });
    }
    for (const e of found) {
      // RFC 5464 §4.2.1: entries larger than MAXSIZE are left out; LONGENTRIES gives the largest
      if (a.maxSize !== null && e.value.length > a.maxSize) {
        longest = Math.max(longest, e.value.length);
        continue;
      }
      out.push(e);
    }
    out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    if (out.length) await conn.writeAndDrain(metadataResponse(conn, a.target, out));
    if (longest) return { code: `METADATA LONGENTRIES ${longest}`, text: 'GETMETADATA completed; some entries were larger than MAXSIZE' };
  },
});

export const setmetadata = defineCommand({
  name: 'SETMETADATA',
  states: AUTHED,
  parse: parseSetMetadata,
  async run(conn, a) {
    const cfg = conn.ctx.config.imap;
    // RFC 5464 §4.3: a value larger than the server accepts: NO [METADATA MAXSIZE n], nothing set
    for (const e of a.entries) {
      if (e.value && e.value.length > cfg.metadata_max_entry_size) {
        throw new ImapError('NO', `METADATA MAXSIZE ${cfg.metadata_max_entry_size}`, 'Metadata value too large');
      }
    }
    const mailboxId = await resolveTarget(conn, a.target);
    try {
      await conn.ctx.store.metadata.setMetadata(conn.account!.id, mailboxId, a.entries, { maxEntries: cfg.metadata_max_entries, maxTotalBytes: cfg.metadata_max_total });
    } catch (e) {
      // RFC 5464 §4.3: too many entries (or, here, too many octets of them): NO [METADATA TOOMANY]
      if (e instanceof StoreError && e.code === 'over-quota') throw new ImapError('NO', 'METADATA TOOMANY', 'Too many metadata entries');
      throw e;
    }
  },
});
