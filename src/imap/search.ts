// SEARCH (RFC 9051 §6.4.4; RFC 3501 §6.4.4 for IMAP4rev1 keys): parsing search keys into a
// tree and evaluating it over the selected mailbox. Cheap keys (flags, sizes, dates, sets) use
// the stored metadata only; header keys read the header bytes; BODY/TEXT decode text parts.
import type { MessageMeta, Store, TextField } from '../store/types.js';
import type { MessageStructure } from '../message/types.js';
import type { HeaderField } from '../message/headers.js';
import { bodyText, envelopeText, headerFieldsOf, headerLine, headerValueText, messageReader, type EnvelopeField } from '../search/text.js';
import type { ImapConn } from './server/conn.js';
import { ImapError } from './server/errors.js';
import type { SelectedView } from './server/view.js';
import { allMessages } from './server/messages.js';
import { mapLimit } from './server/parallel.js';

const SEARCH_CONCURRENCY = 16;
import { parseSequenceSet, resolveRanges, inRanges, type SeqRange } from './wire/sequence.js';
import { ArgReader, type Token } from './wire/tokenizer.js';
import { OBJECTID, emailObjectId, threadObjectId } from './commands/objectid.js';
import { MONTHS as DATE_MONTHS, parseDateTime } from '../message/date.js';
import { indexSearch } from './index/query.js';
import { indexWanted } from '../search/indexer.js';
import type { MailboxIndex } from './index/mailbox-index.js';

export type SearchKey =
  | { op: 'all' }
  | { op: 'flag'; flag: string; set: boolean }
  | { op: 'new' }
  | { op: 'old' }
  | { op: 'recent'; set: boolean }
  | { op: 'seq'; set: string }
  | { op: 'uid'; set: string }
  | { op: 'saved' }
  | { op: 'date'; sent: boolean; cmp: 'before' | 'on' | 'since'; day: number }
  | { op: 'size'; larger: boolean; n: number }
  | { op: 'within'; older: boolean; seconds: number }
  /** RFC 8474 §6: EMAILID / THREADID objectid. */
  | { op: 'objectid'; which: 'email' | 'thread'; id: string }
  /** RFC 8514 §4.3: SAVEDBEFORE / SAVEDON / SAVEDSINCE date; SAVEDATESUPPORTED. */
  | { op: 'savedate'; cmp: 'before' | 'on' | 'since'; day: number }
  | { op: 'savedatesupported' }
  /** RFC 7162 §3.1.5: MODSEQ [entry-name entry-type] n: a mod-sequence at least n. */
  | { op: 'modseq'; modseq: number }
  | { op: 'header'; name: string; value: string }
  | { op: 'body'; value: string; withHeader: boolean }
  | { op: 'not'; key: SearchKey }
  | { op: 'or'; a: SearchKey; b: SearchKey }
  | { op: 'and'; keys: SearchKey[] };

/** Month names as the date grammars write them, lower case for case-insensitive lookup (RFC 9051 §9 date-month). */
export const MONTHS: readonly string[] = DATE_MONTHS.map((m) => m.toLowerCase());

/** RFC 9051 §9 date: d-Mon-yyyy, quoted or not; a day number (days since the epoch, UTC). */
export function parseSearchDate(s: string): number | null {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  if (!m) return null;
  const mon = MONTHS.indexOf(m[2]!.toLowerCase());
  const day = Number(m[1]);
  if (mon < 0 || day < 1 || day > 31) return null;
  return Math.floor(Date.UTC(Number(m[3]), mon, day) / 86_400_000);
}

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};
const HEADER_KEYS: Record<string, string> = { BCC: 'bcc', CC: 'cc', FROM: 'from', SUBJECT: 'subject', TO: 'to' };

/**
 * RFC 7162 §7: search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer;
 * search-modseq-ext = SP entry-name SP entry-type-req, entry-name = DQUOTE "/flags/" attr-flag
 * DQUOTE, entry-type-req = "priv" / "shared" / "all". Every flag of a message shares the message's
 * mod-sequence here, so the entry only has to be well-formed. Values above the safe integers are
 * clamped (no Yubin mod-sequence gets there).
 */
function parseModseqKey(args: ArgReader): number {
  let t = args.next();
  if (t.t === 'string') {
    if (!/^\/flags\/\\?[^\x00-\x20\x7f(){%*"\\\]]+$/i.test(t.v.toString('latin1'))) args.bad('Invalid MODSEQ entry name');
    const type = args.atom().toLowerCase();
    if (type !== 'priv' && type !== 'shared' && type !== 'all') args.bad('MODSEQ entry type is priv, shared or all');
    t = args.next();
  }
  if (t.t !== 'atom' || !/^\d{1,19}$/.test(t.v) || BigInt(t.v) > 0x7fffffffffffffffn) return args.bad('Invalid mod-sequence');
  return Math.min(Number(t.v), Number.MAX_SAFE_INTEGER);
}

/** True when the search program has a MODSEQ key (RFC 7162 §3.1.5: the result then reports the highest MODSEQ). */
export function usesModseq(k: SearchKey): boolean {
  if (k.op === 'modseq') return true;
  if (k.op === 'not') return usesModseq(k.key);
  if (k.op === 'or') return usesModseq(k.a) || usesModseq(k.b);
  if (k.op === 'and') return k.keys.some(usesModseq);
  return false;
}

/** Depth limit for NOT/OR/parentheses chains (bounded recursion). */
const MAX_DEPTH = 50;

/** Parses search keys until the end of the arguments (an implicit AND). */
export function parseSearchKeys(args: ArgReader, charset: string): SearchKey {
  const keys: SearchKey[] = [];
  while (!args.done) keys.push(parseKey(args, args.next(), charset, 0));
  if (!keys.length) args.bad('SEARCH needs a search key');
  return keys.length === 1 ? keys[0]! : { op: 'and', keys };
}

function parseKey(args: ArgReader, t: Token, charset: string, depth: number): SearchKey {
  if (depth > MAX_DEPTH) args.bad('Search keys nested too deeply');
  if (t.t === 'list') {
    if (!t.items.length) args.bad('Empty search key list');
    const keys: SearchKey[] = [];
    const sub = new ArgReader(t.items, args.tag);
    while (!sub.done) keys.push(parseKey(sub, sub.next(), charset, depth + 1));
    return keys.length === 1 ? keys[0]! : { op: 'and', keys };
  }
  if (t.t !== 'atom') args.bad('Expected a search key');
  const k = t.v.toUpperCase();
  const str = (): string => {
    const v = args.next();
    if (v.t === 'atom') return v.v;
    if (v.t === 'string') return v.v.toString('utf8');
    return args.bad('Expected a string');
  };
  const date = (): number => parseSearchDate(str()) ?? args.bad('Invalid date');
  if (k === 'ALL') return { op: 'all' };
  if (FLAG_KEYS[k]) return { op: 'flag', flag: FLAG_KEYS[k]![0], set: FLAG_KEYS[k]![1] };
  if (k === 'KEYWORD' || k === 'UNKEYWORD') return { op: 'flag', flag: args.atom(), set: k === 'KEYWORD' };
  if (k === 'NEW') return { op: 'new' };
  if (k === 'OLD') return { op: 'old' };
  if (k === 'RECENT') return { op: 'recent', set: true };
  if (HEADER_KEYS[k]) return { op: 'header', name: HEADER_KEYS[k]!, value: str() };
  if (k === 'HEADER') {
    const name = str().toLowerCase();
    return { op: 'header', name, value: str() };
  }
  if (k === 'BODY') return { op: 'body', value: str(), withHeader: false };
  if (k === 'TEXT') return { op: 'body', value: str(), withHeader: true };
  if (k === 'BEFORE' || k === 'ON' || k === 'SINCE') return { op: 'date', sent: false, cmp: k.toLowerCase() as 'before', day: date() };
  if (k === 'SENTBEFORE' || k === 'SENTON' || k === 'SENTSINCE') return { op: 'date', sent: true, cmp: k.slice(4).toLowerCase() as 'before', day: date() };
  if (k === 'MODSEQ') return { op: 'modseq', modseq: parseModseqKey(args) };
  if (k === 'LARGER' || k === 'SMALLER') return { op: 'size', larger: k === 'LARGER', n: args.number(true) };
  // RFC 5032 §3: OLDER / YOUNGER interval (nz-number of seconds)
  if (k === 'OLDER' || k === 'YOUNGER') {
    const seconds = args.number();
    if (seconds === 0) args.bad('The interval is a non-zero number of seconds');
    return { op: 'within', older: k === 'OLDER', seconds };
  }
  if (k === 'EMAILID' || k === 'THREADID') {
    // RFC 8474 §7: search-key =/ "EMAILID" SP objectid / "THREADID" SP objectid
    const id = args.atom();
    if (!OBJECTID.test(id)) args.bad('Invalid objectid');
    return { op: 'objectid', which: k === 'EMAILID' ? 'email' : 'thread', id };
  }
  if (k === 'SAVEDBEFORE' || k === 'SAVEDON' || k === 'SAVEDSINCE') return { op: 'savedate', cmp: k.slice(5).toLowerCase() as 'before', day: date() };
  if (k === 'SAVEDATESUPPORTED') return { op: 'savedatesupported' };
  if (k === 'NOT') return { op: 'not', key: parseKey(args, args.next(), charset, depth + 1) };
  if (k === 'OR') {
    const a = parseKey(args, args.next(), charset, depth + 1);
    const b = parseKey(args, args.next(), charset, depth + 1);
    return { op: 'or', a, b };
  }
  if (k === 'UID') {
    const set = args.atom();
    if (set === '$') return { op: 'saved' };
    if (!parseSequenceSet(set)) args.bad('Invalid UID set');
    return { op: 'uid', set };
  }
  if (k === '$') return { op: 'saved' };
  if (parseSequenceSet(k)) return { op: 'seq', set: k };
  return args.bad(`Unknown search key ${k.slice(0, 30)}`);
}

/** What a search runs over: the selected mailbox as one session sees it. */
export interface SearchScope {
  store: Store;
  mailboxId: number;
  uidValidity: number;
  /** Messages in the view (the highest sequence number). */
  exists: number;
  maxUid: number;
  /** The sequence number of a UID in the view, 0 when it is not in it. */
  seqOf(uid: number): number;
  /** The UID at a 0-based position in the view. */
  uidAt(index: number): number | undefined;
  recent: ReadonlySet<number> | null;
  /** The saved result "$" (RFC 5182). */
  saved: readonly number[];
  /** The time OLDER/YOUNGER compare with (RFC 5032), ms. */
  now: number;
  /** The shared mailbox index (src/imap/index): flag-only keys are answered from it. */
  index?: MailboxIndex | null;
}

/** Lazily loaded data of one message while it is evaluated. */
class Candidate {
  private st: MessageStructure | null | undefined;
  private headers: HeaderField[] | undefined;
  private text: string | undefined;
  private reader: ((start: number, end: number) => Promise<Uint8Array>) | undefined;
  constructor(
    readonly scope: SearchScope,
    readonly meta: MessageMeta,
    readonly seq: number,
  ) {}
  async structure(): Promise<MessageStructure | null> {
    if (this.st === undefined) this.st = await this.scope.store.getStructure(this.scope.mailboxId, this.meta.uid);
    return this.st;
  }
  private read(start: number, end: number): Promise<Uint8Array> {
    const { blobs } = this.scope.store;
    const id = this.meta.blobId;
    this.reader ??= messageReader(this.meta.size, (s, e) => blobs.read(id, { start: s, end: e }));
    return this.reader(start, end);
  }
  async headerFields(): Promise<HeaderField[]> {
    if (this.headers) return this.headers;
    const st = await this.structure();
    if (!st) return (this.headers = []);
    this.headers = headerFieldsOf(st, await this.read(0, st.root.bodyStart));
    return this.headers;
  }
  /** The body text BODY compares (src/search/text.ts bodyText, lower case; RFC 9051 §6.4.4 BODY). */
  async bodyText(): Promise<string> {
    if (this.text !== undefined) return this.text;
    const st = await this.structure();
    if (!st) return (this.text = '');
    this.text = await bodyText(st, (a, b) => this.read(a, b));
    return this.text;
  }
}

const ENVELOPE_KEYS: Record<string, EnvelopeField> = { subject: 'subject', from: 'from', to: 'to', cc: 'cc', bcc: 'bcc' };

function dayOf(d: Date): number {
  return Math.floor(d.getTime() / 86_400_000);
}

function cmpDay(day: number, cmp: 'before' | 'on' | 'since', want: number): boolean {
  return cmp === 'before' ? day < want : cmp === 'on' ? day === want : day >= want;
}

interface EvalEnv {
  maxSeq: number;
  maxUid: number;
  saved: ReadonlySet<number>;
  rangeCache: Map<string, SeqRange[]>;
  /** The time OLDER/YOUNGER compare with (RFC 5032), ms. */
  now: number;
}

function ranges(env: EvalEnv, set: string, uid: boolean): SeqRange[] {
  const key = (uid ? 'u' : 's') + set;
  let r = env.rangeCache.get(key);
  if (!r) {
    const parsed = parseSequenceSet(set)!;
    r = 'ranges' in parsed ? resolveRanges(parsed, uid ? env.maxUid : env.maxSeq) : [];
    env.rangeCache.set(key, r);
  }
  return r;
}

async function evaluate(key: SearchKey, c: Candidate, env: EvalEnv): Promise<boolean> {
  const m = c.meta;
  switch (key.op) {
    case 'all':
      return true;
    case 'flag': {
      const has = m.flags.some((f) => f.toLowerCase() === key.flag.toLowerCase());
      return has === key.set;
    }
    case 'recent':
      return !!c.scope.recent?.has(m.uid);
    case 'new':
      // RFC 3501 §6.4.4: NEW = RECENT UNSEEN
      return !!c.scope.recent?.has(m.uid) && !m.flags.includes('\\Seen');
    case 'old':
      return !c.scope.recent?.has(m.uid);
    case 'seq':
      return inRanges(c.seq, ranges(env, key.set, false));
    case 'uid':
      return inRanges(m.uid, ranges(env, key.set, true));
    case 'saved':
      return env.saved.has(m.uid);
    case 'modseq':
      return m.modseq >= key.modseq;
    case 'size':
      return key.larger ? m.size > key.n : m.size < key.n;
    case 'within': {
      // RFC 5032 §3: OLDER n matches an INTERNALDATE more than n seconds before now, YOUNGER n
      // one within the last n seconds (now is taken once per command)
      const age = env.now - m.internalDate.getTime();
      return key.older ? age > key.seconds * 1000 : age <= key.seconds * 1000;
    }
    case 'objectid': {
      if (key.which === 'email') return emailObjectId(m) === key.id;
      const st = await c.structure();
      return !!st && (await threadObjectId(c.scope.store, m, st)) === key.id;
    }
    case 'savedate':
      // RFC 8514 §4.3: the save date's day, time and zone disregarded (UTC here, as INTERNALDATE's);
      // a message stored before save dates were kept (FETCH SAVEDATE NIL) is compared by its internal date
      return cmpDay(dayOf(m.savedDate ?? m.internalDate), key.cmp, key.day);
    case 'savedatesupported':
      // RFC 8514 §4.3: every message, since every mailbox keeps save dates
      return true;
    case 'date': {
      if (!key.sent) return cmpDay(dayOf(m.internalDate), key.cmp, key.day);
      const st = await c.structure();
      const d = st?.envelope.date ? parseDateTime(st.envelope.date) : null;
      // RFC 9051 §6.4.4: SENT* compare the Date: header's date as written, in its own zone, with
      // time and zone disregarded; a message without a usable Date: falls back to its internal date
      // (as the reference server does).
      if (!d) return cmpDay(dayOf(m.internalDate), key.cmp, key.day);
      return cmpDay(dayOf(new Date(d.ms + d.zone * 60_000)), key.cmp, key.day);
    }
    case 'header': {
      const env = ENVELOPE_KEYS[key.name];
      if (env && key.value !== '') {
        // The envelope kept at delivery has these fields: no need to read the message
        const st = await c.structure();
        if (!st) return false;
        return envelopeText(st, env).toLowerCase().includes(key.value.toLowerCase());
      }
      const fields = await c.headerFields();
      const want = key.value.toLowerCase();
      // RFC 9051 §6.4.4: HEADER with an empty string matches every message that has the field
      for (const f of fields) if (f.key === key.name && (want === '' || headerValueText(f).includes(want))) return true;
      return false;
    }
    case 'body': {
      const want = key.value.toLowerCase();
      if (key.withHeader) {
        const fields = await c.headerFields();
        for (const f of fields) if (headerLine(f).includes(want)) return true;
      }
      return (await c.bodyText()).includes(want);
    }
    case 'not':
      return !(await evaluate(key.key, c, env));
    case 'or':
      return (await evaluate(key.a, c, env)) || (await evaluate(key.b, c, env));
    case 'and':
      for (const k of key.keys) if (!(await evaluate(k, c, env))) return false;
      return true;
  }
}

/** Cheap keys first, so expensive ones run on fewer messages. */
function cost(k: SearchKey): number {
  switch (k.op) {
    case 'header':
      return 10;
    case 'objectid':
      return k.which === 'thread' ? 10 : 0;
    case 'body':
      return 100;
    case 'date':
      return k.sent ? 5 : 0;
    case 'not':
      return cost(k.key);
    case 'or':
      return cost(k.a) + cost(k.b);
    case 'and':
      return k.keys.reduce((s, x) => s + cost(x), 0);
    default:
      return 0;
  }
}

function reorder(k: SearchKey): SearchKey {
  if (k.op === 'and') return { op: 'and', keys: k.keys.map(reorder).sort((a, b) => cost(a) - cost(b)) };
  if (k.op === 'or') return { op: 'or', a: reorder(k.a), b: reorder(k.b) };
  if (k.op === 'not') return { op: 'not', key: reorder(k.key) };
  return k;
}

/**
 * The messages of the view a key can match, from the full-text index: the index's candidates
 * up to its mark plus every message above the mark (not indexed yet), or null when the index
 * cannot narrow the key (no index, a needle under 3 characters, NOT, ...). Always a superset of
 * the matches: each candidate is then checked exactly, so the result is the scan's.
 */
async function narrow(key: SearchKey, scope: SearchScope): Promise<Set<number> | null> {
  const index = scope.store.textIndex;
  if (!index) return null;
  const lookup = async (fields: readonly TextField[], value: string): Promise<Set<number> | null> => {
    const r = await index.candidates(scope.mailboxId, scope.uidValidity, fields, value.toLowerCase());
    if (!r) return null;
    const out = new Set<number>();
    for (const uid of r.uids) if (uid <= scope.maxUid && scope.seqOf(uid) > 0) out.add(uid);
    // Messages above the mark are read by the check (the indexer has not reached them yet),
    // and the indexer is asked to catch up now rather than at the next pause of the mail flow.
    let above = 0;
    for (let i = scope.exists - 1; i >= 0; i--) {
      const uid = scope.uidAt(i);
      if (uid === undefined || uid <= r.upTo) break;
      out.add(uid);
      above++;
    }
    if (above) indexWanted(index, scope.mailboxId);
    return out;
  };
  switch (key.op) {
    case 'header': {
      if (key.value === '') return null;
      const env = ENVELOPE_KEYS[key.name];
      return lookup(env ? [env] : ['headers'], key.value);
    }
    case 'body':
      return lookup(key.withHeader ? ['headers', 'body'] : ['body'], key.value);
    case 'and': {
      let acc: Set<number> | null = null;
      for (const k of key.keys) {
        const s: Set<number> | null = await narrow(k, scope);
        if (!s) continue;
        if (acc) {
          const both = new Set<number>();
          for (const u of acc) if (s.has(u)) both.add(u);
          acc = both;
        } else acc = s;
        if (!acc.size) return acc;
      }
      return acc;
    }
    case 'or': {
      const a = await narrow(key.a, scope);
      if (!a) return null;
      const b = await narrow(key.b, scope);
      if (!b) return null;
      for (const u of b) a.add(u);
      return a;
    }
    default:
      return null;
  }
}

/**
 * Runs a search over the scope; returns the matching UIDs in ascending order. With the full-text
 * index (unless `useIndex` is false) only the candidates it names are read and checked.
 */
export async function searchScope(scope: SearchScope, key: SearchKey, opts: { useIndex?: boolean } = {}): Promise<number[]> {
  const env: EvalEnv = { maxSeq: scope.exists, maxUid: scope.maxUid, saved: new Set(scope.saved), rangeCache: new Map(), now: scope.now };
  const tree = reorder(key);
  if (scope.index && opts.useIndex !== false) {
    // Flags, sizes, dates, sets and MODSEQ only: from the mailbox index, no query per message
    const hits = await indexSearch(scope.index, scope, tree);
    if (hits) return hits;
  }
  const out: number[] = [];
  const maxUid = scope.maxUid;
  const check = async (metas: MessageMeta[]): Promise<void> => {
    const inView = metas.filter((m) => m.uid <= maxUid && scope.seqOf(m.uid) > 0);
    // Keys that read the message wait on I/O: evaluate several messages at once, keep the order
    const hits = await mapLimit(inView, SEARCH_CONCURRENCY, (meta) => evaluate(tree, new Candidate(scope, meta, scope.seqOf(meta.uid)), env));
    inView.forEach((m, i) => {
      if (hits[i]) out.push(m.uid);
    });
  };
  const only = opts.useIndex === false ? null : await narrow(tree, scope);
  if (only) {
    const uids = [...only].sort((a, b) => a - b);
    for (let i = 0; i < uids.length; i += CHECK_PAGE) {
      const metas = await scope.store.getMessages(scope.mailboxId, uids.slice(i, i + CHECK_PAGE));
      await check(metas.sort((a, b) => a.uid - b.uid));
    }
    return out;
  }
  for await (const page of allMessages(scope.store, scope.mailboxId)) await check(page);
  return out;
}

/** Candidates fetched per query. */
const CHECK_PAGE = 500;

/** Runs a search over the view; returns the matching UIDs in ascending order. */
export async function runSearch(conn: ImapConn, view: SelectedView, key: SearchKey): Promise<number[]> {
  return searchScope(scopeOf(conn, view), key);
}

/** The scope of a session's selected mailbox. */
export function scopeOf(conn: ImapConn, view: SelectedView): SearchScope {
  return {
    store: conn.ctx.store,
    mailboxId: view.mailboxId,
    uidValidity: view.uidValidity,
    exists: view.exists,
    maxUid: view.maxUid,
    seqOf: (uid) => view.seqOf(uid),
    uidAt: (i) => view.uids.at(i),
    recent: view.recent,
    saved: conn.savedSearch,
    now: conn.ctx.now().getTime(),
    index: view.index,
  };
}

export function checkCharset(cs: string): string {
  const up = cs.toUpperCase();
  // RFC 9051 §6.4.4: US-ASCII and UTF-8 must be supported; others get BADCHARSET with the list
  if (up !== 'UTF-8' && up !== 'US-ASCII' && up !== 'UTF8') throw new ImapError('NO', 'BADCHARSET (UTF-8 US-ASCII)', `Charset ${cs.slice(0, 30)} not supported`);
  return up;
}
