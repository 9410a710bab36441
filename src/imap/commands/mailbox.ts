// Mailbox commands (RFC 9051 §6.3): SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
// UNSUBSCRIBE, LIST (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE),
// LSUB (IMAP4rev1), STATUS (RFC 8438 STATUS=SIZE).
import { defineCommand, type ImapConn, type ParseContext } from '../server/conn.js';
import { mailboxObjectId } from './objectid.js';
import { ImapError } from '../server/errors.js';
import { COMMON_KEYWORDS, SelectedView } from '../server/view.js';
import { flagsFetchLine } from '../server/notify.js';
import { parseSequenceSet, resolveRanges, inRanges } from '../wire/sequence.js';
import { compressSet } from '../wire/compose.js';
import { DELIMITER, listMatcher, validateName } from '../server/names.js';
import { indexesOf, SEEN } from '../index/mailbox-index.js';
import { decodeMutf7 } from '../wire/mutf7.js';
import { flagList } from '../wire/compose.js';
import type { ArgReader, Token } from '../wire/tokenizer.js';
import { mailboxArg } from './args.js';
import { SPECIAL_USES, type Mailbox, type SpecialUse } from '../../store/types.js';

const AUTHED = ['auth', 'selected'] as const;

export { SYSTEM_FLAGS } from '../server/view.js';

function accountId(conn: ImapConn): number {
  return conn.account!.id;
}

/** RFC 7162 §3.2.5: SELECT (QRESYNC (uidvalidity modseq [known-uids [seq-match-data]])). */
export interface QresyncParam {
  uidValidity: number;
  modseq: number;
  /** known-uids as sent (a UID set), or null. */
  knownUids: string | null;
}

export interface SelectArgs {
  name: string;
  /** RFC 7162 §3.1.8: SELECT (CONDSTORE). */
  condstore: boolean;
  qresync: QresyncParam | null;
}

async function select(conn: ImapConn, args: SelectArgs, readOnly: boolean): Promise<{ code: string; text: string }> {
  const { name } = args;
  // RFC 7162 §3.2.5: a QRESYNC parameter before ENABLE QRESYNC is an error
  if (args.qresync && !conn.qresync) throw new ImapError('BAD', null, 'QRESYNC is not enabled');
  if (args.condstore || args.qresync) conn.condstore = true;
  const store = conn.ctx.store;
  if (conn.selected) {
    // RFC 9051 §6.3.2: selecting another mailbox closes the current one (without expunging)
    conn.setSelected(null);
    conn.send('* OK [CLOSED] Previous mailbox closed');
  }
  const mb = await store.getMailbox(accountId(conn), name);
  if (!mb) throw new ImapError('NO', 'NONEXISTENT', 'No such mailbox');
  const view = new SelectedView(mb.id, mb.name, readOnly, mb.uidValidity);
  // Changes from here on are collected in view.pending (reported after the listing).
  conn.setSelected(view);
  let firstUnseen = 0;
  let n = 0;
  const keywords = new Set<string>(COMMON_KEYWORDS);
  // RFC 7162 §3.2.5: with a matching UIDVALIDITY, the messages changed after the client's modseq are reported
  const resync = args.qresync && args.qresync.uidValidity === mb.uidValidity ? args.qresync : null;
  const changed: Array<{ uid: number; flags: string[]; modseq: number }> = [];
  // The mailbox's committed state from the shared in-memory index (src/imap/index): loaded once
  // per process, then kept current by the change feed; no listing of the messages here.
  const indexes = indexesOf(conn.ctx);
  const index = await indexes.acquire(accountId(conn), mb.id, mb.uidValidity);
  view.attach(indexes, index);
  for (let s = 0; s < index.slots; s++) {
    if (!index.isLive(s)) continue;
    n++;
    const uid = index.uids[s]!;
    view.uids.push(uid);
    if (!firstUnseen && !(index.sys[s]! & SEEN)) firstUnseen = n;
    if (resync && index.modseqs[s]! > resync.modseq) changed.push({ uid, flags: index.flagsAt(s), modseq: index.modseqs[s]! });
  }
  // RFC 9051 §7.3.5: FLAGS names every keyword in use (and the common ones)
  for (const k of index.keywordsInUse()) keywords.add(k);
  view.addKeywords(keywords);
  const status = await store.mailboxStatus(mb.id);
  if (!conn.rev2) {
    // RFC 3501 §2.3.2: \Recent, claimed by exactly one session (EXAMINE does not claim)
    view.recent = new Set();
    if (!readOnly) {
      const mark = await store.claimRecent(mb.id);
      for (const uid of view.uids.above(mark)) view.recent.add(uid);
    } else {
      let k = 0;
      for (const uid of view.uids.above(0)) {
        if (k++ >= status.recent) break;
        view.recent.add(uid);
      }
    }
  }
  // RFC 9051 §6.3.2 (and RFC 3501 §6.3.1 for IMAP4rev1)
  conn.send(`* ${view.exists} EXISTS`);
  if (view.recent) conn.send(`* ${view.recent.size} RECENT`);
  for (const line of view.flagResponses()) conn.send(line);
  if (!conn.rev2 && firstUnseen) conn.send(`* OK [UNSEEN ${firstUnseen}] First unseen`);
  conn.send(`* OK [UIDVALIDITY ${mb.uidValidity}] UIDs valid`);
  conn.send(`* OK [UIDNEXT ${status.uidNext}] Predicted next UID`);
  // RFC 7162 §3.1.2.1: every SELECT/EXAMINE of a mailbox with persistent mod-sequences says HIGHESTMODSEQ
  conn.send(`* OK [HIGHESTMODSEQ ${status.highestModSeq}] Highest`);
  // RFC 8474 §4.2: SELECT and EXAMINE say the MAILBOXID
  conn.send(`* OK [MAILBOXID (${mailboxObjectId(mb.uidValidity)})] Ok`);
  if (conn.rev2) conn.send(`* LIST (${attributesOf(mb, false, null).join(' ')}) "${DELIMITER}" ${conn.mailboxOut(mb.name)}`);
  if (resync) {
    // RFC 7162 §3.2.5.2: what vanished since the client's modseq (among its known UIDs, if it sent them),
    // as VANISHED (EARLIER), then FETCH (UID FLAGS MODSEQ) of every message changed since.
    let gone = await store.expungedSince(mb.id, resync.modseq);
    if (resync.knownUids) {
      const known = parseSequenceSet(resync.knownUids);
      const ranges = known && 'ranges' in known ? resolveRanges(known, 0xffffffff) : [];
      gone = gone.filter((u) => inRanges(u, ranges));
    }
    if (gone.length) conn.send(`* VANISHED (EARLIER) ${compressSet(gone)}`);
    for (const c of changed) {
      const seq = view.seqOf(c.uid);
      if (seq) conn.send(flagsFetchLine(conn, view, seq, c.uid, c.flags, c.modseq));
    }
  }
  return { code: readOnly ? 'READ-ONLY' : 'READ-WRITE', text: `${readOnly ? 'EXAMINE' : 'SELECT'} completed` };
}

/** RFC 9051 §9: nz-number (32 bits); RFC 7162 §7: mod-sequence-valzer (63 bits). */
function numberToken(t: Token | undefined, bad: (m: string) => never, what: string, max = 0xffffffff, zero = false): number {
  const v = t && t.t === 'atom' && /^\d{1,19}$/.test(t.v) ? Number(t.v) : NaN;
  if (!Number.isSafeInteger(v) || v > max || (!zero && v === 0)) return bad(`Invalid ${what}`);
  return v;
}

/**
 * RFC 7162 §7: mod-sequence-valzer = "0" / mod-sequence-value (1 to 2^63-1). Values above the
 * safe integers are clamped: Yubin's mod-sequences never get there, so "above every modseq" keeps
 * its meaning.
 */
export function modseqToken(t: Token | undefined, bad: (m: string) => never, zero = true): number {
  const text = t && t.t === 'atom' && /^\d{1,19}$/.test(t.v) ? t.v : null;
  if (text === null) return bad('Invalid mod-sequence');
  const v = BigInt(text);
  if (v > 0x7fffffffffffffffn || (!zero && v === 0n)) return bad('Invalid mod-sequence');
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/**
 * RFC 9051 §9: select = "SELECT" SP mailbox [select-params]; RFC 7162 §7: select-param =/
 * "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
 * [SP seq-match-data] ")", seq-match-data = "(" known-sequence-set SP known-uid-set ")".
 */
export function parseSelect(args: ArgReader, ctx: ParseContext): SelectArgs {
  const name = mailboxArg(args, ctx);
  const out: SelectArgs = { name, condstore: false, qresync: null };
  const bad = (m: string): never => args.bad(m);
  if (!args.done) {
    const params = args.list();
    for (let i = 0; i < params.length; i++) {
      const p = params[i]!;
      const v = p.t === 'atom' ? p.v.toUpperCase() : '';
      if (v === 'CONDSTORE') out.condstore = true;
      else if (v === 'QRESYNC') {
        const q = params[++i];
        if (!q || q.t !== 'list' || q.items.length < 2 || q.items.length > 4) return bad('QRESYNC needs (uidvalidity modseq [known-uids [seq-match-data]])');
        const [uv, ms, known, match] = q.items;
        const uidValidity = numberToken(uv, bad, 'UIDVALIDITY');
        const modseq = modseqToken(ms, bad, false);
        let knownUids: string | null = null;
        if (known) {
          if (known.t === 'list' && !match) {
            // the seq-match-data without known-uids
            checkSeqMatch(known, bad);
          } else {
            const set = known.t === 'atom' ? parseSequenceSet(known.v) : null;
            if (!set || !('ranges' in set)) return bad('Invalid known-uids');
            knownUids = (known as { v: string }).v;
          }
        }
        if (match) checkSeqMatch(match, bad);
        // RFC 7162 §3.2.5.2: the seq-match-data only narrows what the server must look up; the
        // expunge history is complete (kept for the mailbox's lifetime), so it is not needed.
        out.qresync = { uidValidity, modseq, knownUids };
      } else return bad('Unsupported SELECT parameter');
    }
  }
  args.end();
  return out;
}

function checkSeqMatch(t: Token, bad: (m: string) => never): void {
  const ok = t.t === 'list' && t.items.length === 2 && t.items.every((x) => x.t === 'atom' && parseSequenceSet(x.v) !== null && x.v !== '$');
  if (!ok) bad('Invalid seq-match-data');
}

export const selectCmd = defineCommand({
  name: 'SELECT',
  states: AUTHED,
  parse: parseSelect,
  run: (conn, args) => select(conn, args, false),
});

export const examine = defineCommand({
  name: 'EXAMINE',
  states: AUTHED,
  parse: parseSelect,
  run: (conn, args) => select(conn, args, true),
});

/** A single mailbox name and nothing else (DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT). */
export function parseMailboxOnly(args: ArgReader, ctx: ParseContext): string {
  const name = mailboxArg(args, ctx);
  args.end();
  return name;
}



/** RFC 9051 §9: create = "CREATE" SP mailbox [create-params]; RFC 6154 §3: (USE (\Sent)). */
export function parseCreate(args: ArgReader, ctx: ParseContext): { name: string; specialUse: SpecialUse | undefined } {
  const name = mailboxArg(args, ctx);
  let specialUse: SpecialUse | undefined;
  if (!args.done) {
    const opts = args.list();
    if (opts.length !== 2 || opts[0]!.t !== 'atom' || opts[0]!.v.toUpperCase() !== 'USE' || opts[1]!.t !== 'list') args.bad('Unsupported CREATE parameter');
    const uses = (opts[1] as Extract<Token, { t: 'list' }>).items;
    if (uses.length > 1) throw new ImapError('NO', 'USEATTR', 'Only one special-use attribute per mailbox');
    if (uses.length === 1) {
      const u = uses[0]!;
      const found = u.t === 'atom' ? SPECIAL_USES.find((s) => s.toLowerCase() === u.v.toLowerCase()) : undefined;
      if (!found) throw new ImapError('NO', 'USEATTR', 'Unsupported special-use attribute');
      // RFC 6154 §3: a use the server cannot give a mailbox is refused; \All and \Flagged name virtual
      // mailboxes (every message, every flagged message) and a created mailbox would be neither.
      if (found === '\\All' || found === '\\Flagged') throw new ImapError('NO', 'USEATTR', `${found} is a virtual mailbox; it cannot be created`);
      specialUse = found;
    }
  }
  args.end();
  return { name, specialUse };
}

export const create = defineCommand({
  name: 'CREATE',
  states: AUTHED,
  parse: parseCreate,
  async run(conn, parsed) {
    let name = parsed.name;
    const specialUse = parsed.specialUse;
    // RFC 9051 §6.3.4: a trailing delimiter declares intent to create children; it is not part of the name
    if (name.endsWith(DELIMITER) && name.length > 1) name = name.slice(0, -1);
    if (name === 'INBOX') throw new ImapError('NO', 'ALREADYEXISTS', 'INBOX always exists');
    validateName(name);
    // RFC 9051 §6.3.4: missing parents are created too (by the store, in the same transaction)
    const mb = await conn.ctx.store.createMailbox(accountId(conn), name, specialUse ? { specialUse } : undefined);
    // RFC 8474 §4.1: the tagged OK of CREATE carries the new mailbox's MAILBOXID
    return { code: `MAILBOXID (${mailboxObjectId(mb.uidValidity)})`, text: 'CREATE completed' };
  },
});

export const deleteCmd = defineCommand({
  name: 'DELETE',
  states: AUTHED,
  parse: parseMailboxOnly,
  async run(conn, name) {
    // RFC 9051 §6.3.5: deleting INBOX is an error
    if (name === 'INBOX') throw new ImapError('NO', 'CANNOT', 'INBOX cannot be deleted');
    const store = conn.ctx.store;
    const mb = await store.getMailbox(accountId(conn), name);
    if (!mb) {
      const all = await store.listMailboxes(accountId(conn));
      // RFC 9051 §6.3.5: deleting a \Noselect name that has inferior names is an error
      if (all.some((m) => m.name.startsWith(name + DELIMITER))) throw new ImapError('NO', 'HASCHILDREN', 'Mailbox has children and is only a placeholder');
      throw new ImapError('NO', 'NONEXISTENT', 'No such mailbox');
    }
    // RFC 9051 §6.3.5: a mailbox with children is deleted (its messages go); its name stays as a
    // \Noselect placeholder while the children exist (LIST shows it so)
    if (conn.selected?.mailboxId === mb.id) conn.setSelected(null);
    await store.deleteMailbox(accountId(conn), mb.name);
  },
});

/** RFC 9051 §9: rename = "RENAME" SP mailbox SP mailbox. */
export function parseRename(args: ArgReader, ctx: ParseContext): { from: string; to: string } {
  const from = mailboxArg(args, ctx);
  const to = mailboxArg(args, ctx);
  args.end();
  return { from, to };
}

export const rename = defineCommand({
  name: 'RENAME',
  states: AUTHED,
  parse: parseRename,
  async run(conn, { from, to: toArg }) {
    let to = toArg;
    if (to.endsWith(DELIMITER) && to.length > 1) to = to.slice(0, -1);
    validateName(to);
    const store = conn.ctx.store;
    const src = await store.getMailbox(accountId(conn), from);
    if (!src) throw new ImapError('NO', 'NONEXISTENT', 'No such mailbox');
    if (to === 'INBOX' || (await store.getMailbox(accountId(conn), to))) throw new ImapError('NO', 'ALREADYEXISTS', 'Target mailbox exists');
    if (to.startsWith(src.name + DELIMITER)) throw new ImapError('NO', 'CANNOT', 'Cannot move a mailbox into itself');
    // RFC 9051 §6.3.6: missing parents of the new name are created (by the store, in the same transaction)
    // RFC 9051 §6.3.6: renaming INBOX moves its messages to the new name; INBOX stays, empty
    await store.renameMailbox(accountId(conn), src.name, to);
  },
});

function subscribeCmd(subscribed: boolean) {
  return defineCommand({
    name: subscribed ? 'SUBSCRIBE' : 'UNSUBSCRIBE',
    states: AUTHED,
    parse: parseMailboxOnly,
    async run(conn, name) {
      const mb = await conn.ctx.store.getMailbox(accountId(conn), name);
      if (!mb) {
        // RFC 9051 §6.3.8: unsubscribing a name that is gone is fine (and forgets a subscription
        // that outlived its mailbox, RFC 9051 §6.3.7)
        if (!subscribed) return conn.ctx.store.setSubscribed(accountId(conn), name, false);
        throw new ImapError('NO', 'NONEXISTENT', 'No such mailbox');
      }
      await conn.ctx.store.setSubscribed(accountId(conn), mb.name, subscribed);
    },
  });
}
export const subscribe = subscribeCmd(true);
export const unsubscribe = subscribeCmd(false);

function attributesOf(mb: Mailbox, hasChildren: boolean | null, subscribed: boolean | null): string[] {
  const attrs: string[] = [];
  if (hasChildren !== null) attrs.push(hasChildren ? '\\HasChildren' : '\\HasNoChildren');
  if (subscribed) attrs.push('\\Subscribed');
  if (mb.specialUse) attrs.push(mb.specialUse);
  return attrs;
}

/** Decodes a LIST reference or pattern; a pattern that is not valid modified UTF-7 matches nothing. */
function patternArg(ctx: ParseContext, raw: Buffer): string | null {
  if (ctx.utf8) return raw.toString('utf8');
  return decodeMutf7(raw.toString('latin1'));
}

/** RFC 9051 §9: list-mailbox = 1*list-char / string (list-char includes the wildcards "%" and "*"). */
function patternToken(ctx: ParseContext, t: Token, bad: (m: string) => never): string | null {
  if (t.t === 'atom') return patternArg(ctx, Buffer.from(t.v, 'utf8'));
  if (t.t === 'string') return patternArg(ctx, t.v);
  return bad('Expected a mailbox pattern');
}

// RFC 7162 §3.1.9: HIGHESTMODSEQ
// RFC 8474 §4.3: MAILBOXID
const STATUS_ITEMS = ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'RECENT', 'HIGHESTMODSEQ', 'MAILBOXID'];

function statusItems(items: Token[], bad: (m: string) => never): string[] {
  const out: string[] = [];
  for (const t of items) {
    const v = t.t === 'atom' ? t.v.toUpperCase() : '';
    if (!STATUS_ITEMS.includes(v)) bad('Unknown STATUS item');
    out.push(v);
  }
  if (!out.length) bad('STATUS needs at least one item');
  return out;
}

async function statusLine(conn: ImapConn, mb: Mailbox, items: string[]): Promise<string> {
  const st = await conn.ctx.store.mailboxStatus(mb.id);
  const parts: string[] = [];
  for (const it of items) {
    if (it === 'MESSAGES') parts.push(`MESSAGES ${st.messages}`);
    else if (it === 'UIDNEXT') parts.push(`UIDNEXT ${st.uidNext}`);
    else if (it === 'UIDVALIDITY') parts.push(`UIDVALIDITY ${st.uidValidity}`);
    else if (it === 'UNSEEN') parts.push(`UNSEEN ${st.unseen}`);
    else if (it === 'DELETED') parts.push(`DELETED ${st.deleted}`);
    else if (it === 'SIZE') parts.push(`SIZE ${st.size}`);
    else if (it === 'MAILBOXID') parts.push(`MAILBOXID (${mailboxObjectId(st.uidValidity)})`);
    else if (it === 'HIGHESTMODSEQ') {
      // RFC 7162 §3.1: STATUS HIGHESTMODSEQ is a CONDSTORE enabling command
      conn.condstore = true;
      parts.push(`HIGHESTMODSEQ ${st.highestModSeq}`);
    }
    // RFC 9051 §6.3.11: RECENT is gone in IMAP4rev2; rev1 clients still get it
    else if (it === 'RECENT' && !conn.rev2) parts.push(`RECENT ${st.recent}`);
  }
  return `* STATUS ${conn.mailboxOut(mb.name)} (${parts.join(' ')})`;
}

/** RFC 9051 §9: status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")". */
export function parseStatus(args: ArgReader, ctx: ParseContext): { name: string; items: string[] } {
  const name = mailboxArg(args, ctx);
  const items = statusItems(args.list(), (m) => args.bad(m));
  args.end();
  return { name, items };
}

export const status = defineCommand({
  name: 'STATUS',
  states: AUTHED,
  parse: parseStatus,
  async run(conn, { name, items }) {
    const mb = await conn.ctx.store.getMailbox(accountId(conn), name);
    if (!mb) throw new ImapError('NO', 'NONEXISTENT', 'No such mailbox');
    conn.send(await statusLine(conn, mb, items));
  },
});

export interface ListArgs {
  /** RFC 5258 §3 selection options. */
  sel: { subscribed: boolean; recursive: boolean; specialUse: boolean };
  /** RFC 5258 §3 return options (RFC 5819 STATUS). */
  ret: { subscribed: boolean; children: boolean; specialUse: boolean; status: string[] | null };
  reference: string;
  /** Decoded patterns; null for one that is not valid modified UTF-7 (it matches nothing). */
  patterns: Array<string | null>;
}

/**
 * RFC 9051 §9 list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
 * (RFC 5258 §6); LSUB (RFC 3501 §6.3.9) takes only a reference and one pattern.
 */
export function parseList(args: ArgReader, ctx: ParseContext, lsub = false): ListArgs {
  const sel = { subscribed: false, recursive: false, specialUse: false };
  const ret = { subscribed: false, children: true, specialUse: true, status: null as string[] | null };
  const bad = (m: string): never => args.bad(m);
  if (!lsub && args.peek()?.t === 'list') {
    // RFC 5258 §3: selection options
    for (const t of args.list()) {
      const v = t.t === 'atom' ? t.v.toUpperCase() : '';
      if (v === 'SUBSCRIBED') sel.subscribed = true;
      else if (v === 'RECURSIVEMATCH') sel.recursive = true;
      else if (v === 'SPECIAL-USE') sel.specialUse = true;
      else if (v === 'REMOTE') continue;
      else bad('Unknown LIST selection option');
    }
    // RFC 5258 §3: RECURSIVEMATCH alone is an error
    if (sel.recursive && !sel.subscribed && !sel.specialUse) bad('RECURSIVEMATCH needs another selection option');
  }
  const refTok = args.next();
  const reference = patternToken(ctx, refTok, bad) ?? '';
  const patTok = args.next();
  const patterns: Array<string | null> = [];
  if (patTok.t === 'list' && !lsub) {
    for (const t of patTok.items) patterns.push(patternToken(ctx, t, bad));
  } else patterns.push(patternToken(ctx, patTok, bad));
  // Refuses a pattern too long to match cheaply (BAD), before any work.
  for (const p of patterns) if (p !== null) listMatcher(reference, p);
  if (!lsub && !args.done) {
    const kw = args.atom().toUpperCase();
    if (kw !== 'RETURN') bad('Expected RETURN');
    const opts = args.list();
    for (let i = 0; i < opts.length; i++) {
      const t = opts[i]!;
      const v = t.t === 'atom' ? t.v.toUpperCase() : '';
      if (v === 'SUBSCRIBED') ret.subscribed = true;
      else if (v === 'CHILDREN') ret.children = true;
      else if (v === 'SPECIAL-USE') ret.specialUse = true;
      else if (v === 'STATUS') {
        // RFC 5819 §2: RETURN (STATUS (items))
        const next = opts[++i];
        if (!next || next.t !== 'list') return bad('STATUS needs a list of items');
        ret.status = statusItems(next.items, bad);
      } else bad('Unknown LIST return option');
    }
  }
  args.end();
  if (sel.subscribed) ret.subscribed = true;
  return { sel, ret, reference, patterns };
}

/** Every proper ancestor of a name ("a", "a/b" for "a/b/c"). */
function ancestors(name: string): string[] {
  const out: string[] = [];
  let i = name.indexOf(DELIMITER);
  while (i > 0) {
    out.push(name.slice(0, i));
    i = name.indexOf(DELIMITER, i + 1);
  }
  return out;
}

async function listCommand(conn: ImapConn, { sel, ret, reference, patterns }: ListArgs, lsub: boolean): Promise<void> {
  // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root of the reference
  if (patterns.length === 1 && patterns[0] === '') {
    conn.send(`* ${lsub ? 'LSUB' : 'LIST'} (\\Noselect) "${DELIMITER}" ""`);
    return;
  }
  const all = await conn.ctx.store.listMailboxes(accountId(conn));
  const byName = new Map(all.map((m) => [m.name, m]));
  // RFC 9051 §6.3.5: a parent deleted while it had children stays as a \Noselect placeholder: a
  // name with no mailbox of its own but with mailboxes below it.
  const entries: Array<{ name: string; mb: Mailbox | null }> = all.map((mb) => ({ name: mb.name, mb }));
  const placeholders = new Set<string>();
  for (const mb of all) for (const a of ancestors(mb.name)) if (!byName.has(a)) placeholders.add(a);
  for (const name of placeholders) entries.push({ name, mb: null });
  // RFC 9051 §6.3.7: names still subscribed after their mailbox was deleted; with no mailbox and
  // no children they are listed only by LSUB and LIST (SUBSCRIBED), as \NonExistent (RFC 5258 §3.1).
  const lost = new Set(await conn.ctx.store.listLostSubscriptions(accountId(conn)));
  for (const name of lost) if (!byName.has(name) && !placeholders.has(name)) entries.push({ name, mb: null });
  const isSubscribed = (name: string): boolean => byName.get(name)?.subscribed === true || lost.has(name);
  entries.sort((a, b) => (a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const matchers = patterns.filter((p): p is string => p !== null).map((p) => listMatcher(reference, p));
  const matches = (name: string): boolean => matchers.some((m) => m(name));
  const hasChildren = (name: string): boolean => all.some((m) => m.name.startsWith(name + DELIMITER));
  const subscribedBelow = (name: string, unmatchedOnly: boolean): boolean =>
    [...all.filter((c) => c.subscribed).map((c) => c.name), ...lost].some((c) => c.startsWith(name + DELIMITER) && (!unmatchedOnly || !matches(c)));
  const kind = lsub ? 'LSUB' : 'LIST';
  for (const { name, mb } of entries) {
    if (!matches(name)) continue;
    const out = conn.mailboxOut(name);
    const nonExistent = !mb && !placeholders.has(name);
    if (lsub) {
      if (mb && isSubscribed(name)) {
        conn.send(`* LSUB (${attributesOf(mb, hasChildren(name), null).join(' ')}) "${DELIMITER}" ${out}`);
      } else if (!mb && isSubscribed(name)) {
        conn.send(`* LSUB (\\Noselect) "${DELIMITER}" ${out}`);
      } else if (subscribedBelow(name, true)) {
        // RFC 3501 §6.3.9: a parent of subscribed mailboxes the "%" wildcard hides is listed with \Noselect
        conn.send(`* LSUB (\\Noselect) "${DELIMITER}" ${out}`);
      }
      continue;
    }
    let childInfo = false;
    if (nonExistent && !sel.subscribed) continue;
    if (sel.subscribed && !isSubscribed(name)) {
      // RFC 5258 §3.5: RECURSIVEMATCH reports a parent whose descendant is subscribed (and not matched), with CHILDINFO
      if (sel.recursive && subscribedBelow(name, true)) childInfo = true;
      else continue;
    }
    if (sel.specialUse && !mb?.specialUse) continue;
    const attrs: string[] = [];
    // RFC 5258 §3.1: \NonExistent implies \NoSelect (and no children attribute is needed)
    if (nonExistent) attrs.push('\\NonExistent');
    else if (!mb) attrs.push('\\Noselect');
    if (!nonExistent && (ret.children || !mb)) attrs.push(hasChildren(name) ? '\\HasChildren' : '\\HasNoChildren');
    if (ret.subscribed && isSubscribed(name)) attrs.push('\\Subscribed');
    if (ret.specialUse && mb?.specialUse) attrs.push(mb.specialUse);
    // RFC 5258 §4: mbox-list-extended-item "CHILDINFO" with the selection options the descendants meet
    const ext = childInfo ? ' ("CHILDINFO" ("SUBSCRIBED"))' : '';
    conn.send(`* ${kind} (${attrs.join(' ')}) "${DELIMITER}" ${out}${ext}`);
    if (ret.status && mb && !childInfo) conn.send(await statusLine(conn, mb, ret.status));
  }
}

export const list = defineCommand({
  name: 'LIST',
  states: AUTHED,
  parse: (args, ctx) => parseList(args, ctx, false),
  run: (conn, parsed) => listCommand(conn, parsed, false),
});

export const lsub = defineCommand({
  name: 'LSUB',
  states: AUTHED,
  // RFC 3501 §6.3.9 (IMAP4rev1 only; RFC 9051 replaced it with LIST (SUBSCRIBED))
  parse: (args, ctx) => parseList(args, ctx, true),
  run: (conn, parsed) => listCommand(conn, parsed, true),
});

