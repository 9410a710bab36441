// SEARCH and UID SEARCH (RFC 9051 §6.4.4), with ESEARCH results (RFC 4731, built into
// IMAP4rev2), the saved result "$" (RFC 5182 SEARCHRES) and PARTIAL results (RFC 9394). The
// RETURN options and the ESEARCH response are shared with SORT (ESORT, RFC 5267 §3). RETURN
// (UPDATE) makes a live context (CONTEXT=SEARCH, RFC 5267 §4; src/imap/context.ts), ended by
// CANCELUPDATE (defined here).
import { defineCommand, type ImapConn } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { addContext, cancelContext, hasContext, MAX_CONTEXTS } from '../context.js';
import type { SortCriterion } from '../sort.js';
import { ImapParseError, parseNumber, type ArgReader } from '../wire/tokenizer.js';
import { metasFor, requireSelected } from '../server/messages.js';
import { checkCharset, parseSearchKeys, runSearch, usesModseq, type SearchKey } from '../search.js';
import { compressSet, imapString } from '../wire/compose.js';
import type { SelectedView } from '../server/view.js';

const SELECTED = ['selected'] as const;
// RFC 4731 §3.1, RFC 5182 §2.1 SAVE, RFC 9394 PARTIAL, RFC 5267 §4.2 CONTEXT (a hint, ignored) and §4.3 UPDATE
const RETURN_OPTS = new Set(['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE', 'PARTIAL', 'CONTEXT', 'UPDATE']);

/**
 * RFC 9394 §3.1 partial-range: positions in the result list, 1-based; negative ones count from
 * its end (-1 is the last). Kept with lo <= hi in absolute value ("5:1" is "1:5").
 */
export interface PartialRange {
  /** Smaller absolute position. */
  from: number;
  /** Larger absolute position. */
  to: number;
  /** partial-range-last: counted from the end. */
  last: boolean;
}

export interface ReturnOpts {
  /** The options named (upper case); RETURN () is ALL (RFC 4731 §3.1). */
  opts: Set<string>;
  partial: PartialRange | null;
}

export interface SearchArgs {
  /** RETURN options (RFC 4731 §3.1), null without RETURN. */
  ret: Set<string> | null;
  /** RETURN (PARTIAL range) (RFC 9394). */
  partial: PartialRange | null;
  key: SearchKey;
}

/** A SEARCH that failed to parse; `save` when it asked for RETURN (SAVE) (RFC 5182 §2.1 empties "$" then). */
export class SearchParseError extends ImapParseError {
  constructor(
    message: string,
    tag: string | null,
    readonly save: boolean,
  ) {
    super(message, tag);
  }
}

/** RFC 9394 §5: partial-range-first = nz-number ":" nz-number; partial-range-last = MINUS nz-number ":" MINUS nz-number. */
export function parsePartialRange(s: string): PartialRange | null {
  const m = /^(-?)(\d+):(-?)(\d+)$/.exec(s);
  if (!m || m[1] !== m[3]) return null;
  const a = parseNumber(m[2]!);
  const b = parseNumber(m[4]!);
  if (!a || !b) return null;
  return { from: Math.min(a, b), to: Math.max(a, b), last: m[1] === '-' };
}

/** The result positions a partial range names, clipped to the result's length: [start, end) indexes. */
export function partialSlice(p: PartialRange, n: number): [number, number] {
  if (!p.last) return [Math.min(p.from - 1, n), Math.min(p.to, n)];
  return [Math.max(n - p.to, 0), Math.max(n - p.from + 1, 0)];
}

function rangeText(p: PartialRange): string {
  return p.last ? `-${p.from}:-${p.to}` : `${p.from}:${p.to}`;
}

/**
 * RFC 4731 §3.1 search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")",
 * with RFC 9394's PARTIAL; `allowed` restricts the options (SORT has no SAVE here). null without RETURN.
 */
export function parseReturnOpts(args: ArgReader, allowed: ReadonlySet<string> = RETURN_OPTS): ReturnOpts | null {
  if (args.peekAtom() !== 'RETURN') return null;
  args.atom();
  const opts = new Set<string>();
  let partial: PartialRange | null = null;
  const items = args.list();
  for (let i = 0; i < items.length; i++) {
    const t = items[i]!;
    const v = t.t === 'atom' ? t.v.toUpperCase() : '';
    if (!allowed.has(v)) args.bad('Unknown RETURN option');
    if (opts.has(v)) args.bad(`RETURN option ${v} given twice`);
    opts.add(v);
    if (v === 'PARTIAL') {
      const r = items[++i];
      partial = r && r.t === 'atom' ? parsePartialRange(r.v) : null;
      if (!partial) args.bad('PARTIAL needs a range: n:m or -n:-m');
    }
  }
  // RFC 9394 §3.1: ALL and PARTIAL are mutually exclusive
  if (opts.has('ALL') && opts.has('PARTIAL')) args.bad('RETURN ALL and PARTIAL are mutually exclusive');
  // RFC 4731 §3.1: RETURN () means RETURN (ALL)
  if (opts.size === 0) opts.add('ALL');
  return { opts, partial };
}

/** RFC 9051 §9: search = "SEARCH" [search-return-opts] SP search-program; search-program = ["CHARSET" SP charset SP] search-key *(SP search-key). */
export function parseSearch(args: ArgReader): SearchArgs {
  const r = parseReturnOpts(args);
  try {
    let charset = 'UTF-8';
    if (args.peekAtom() === 'CHARSET') {
      args.atom();
      charset = checkCharset(args.astring());
    }
    return { ret: r?.opts ?? null, partial: r?.partial ?? null, key: parseSearchKeys(args, charset) };
  } catch (e) {
    if (e instanceof ImapParseError && r?.opts.has('SAVE')) throw new SearchParseError(e.message, e.tag, true);
    throw e;
  }
}

/** A sequence set that keeps the order of the numbers (ESORT, RFC 5267 §3.2): only ascending runs become n:m. */
export function orderedSet(nums: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
    out.push(j === i ? String(nums[i]) : `${nums[i]}:${nums[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/**
 * The ESEARCH response (RFC 4731 §3.1, RFC 9051 §7.3.4) for a result in its order: ascending for
 * SEARCH, the sort order for SORT (RFC 5267 §3.2: MIN and MAX are the first and last in that
 * order, ALL keeps it). PARTIAL (RFC 9394 §3.1): the result positions asked for, "NIL" when none.
 */
export function esearchLine(tag: string, uid: boolean, nums: readonly number[], want: ReadonlySet<string>, partial: PartialRange | null, sorted: boolean): string {
  const parts = [`* ESEARCH (TAG ${imapString(tag)})`];
  if (uid) parts.push('UID');
  const set = sorted ? orderedSet : compressSet;
  if (nums.length) {
    if (want.has('MIN')) parts.push(`MIN ${nums[0]}`);
    if (want.has('MAX')) parts.push(`MAX ${nums[nums.length - 1]}`);
    if (want.has('ALL')) parts.push(`ALL ${set(nums)}`);
  }
  if (want.has('COUNT')) parts.push(`COUNT ${nums.length}`);
  if (partial) {
    const [a, b] = partialSlice(partial, nums.length);
    const part = nums.slice(a, b);
    parts.push(`PARTIAL (${rangeText(partial)} ${part.length ? set(part) : 'NIL'})`);
  }
  return parts.join(' ');
}

/** RFC 5182 §2.4: what RETURN (SAVE) keeps of a result (UIDs, ascending): with MIN and/or MAX only, just those. */
export function saveResult(conn: ImapConn, ret: ReadonlySet<string>, uids: readonly number[]): void {
  const onlyMinMax = (ret.has('MIN') || ret.has('MAX')) && !ret.has('ALL') && !ret.has('COUNT') && !ret.has('PARTIAL');
  if (onlyMinMax && uids.length) {
    const saved: number[] = [];
    if (ret.has('MIN')) saved.push(uids[0]!);
    if (ret.has('MAX') && uids.length > 1) saved.push(uids[uids.length - 1]!);
    conn.savedSearch = saved;
  } else conn.savedSearch = [...uids];
}

/**
 * RFC 5267 §4.3: a searching command with RETURN (UPDATE) whose tag names a live context is BAD
 * ("Tag reuse"), before it does anything.
 */
export function checkUpdateTag(conn: ImapConn, ret: ReadonlySet<string> | undefined, tag: string): void {
  const view = requireSelected(conn);
  if (ret?.has('UPDATE') && hasContext(view, tag)) throw new ImapError('BAD', null, `Tag reuse: ${tag.slice(0, 30)} names a live search context`);
}

/**
 * RFC 5267 §4.3: after the searching command's own ESEARCH, RETURN (UPDATE) registers the result
 * (UIDs in the requested order) as a live context; §4.3.1: past MAX_CONTEXTS an untagged
 * NO [NOUPDATE "tag"] says no updates will come (the other return options were honoured).
 */
export function startContext(conn: ImapConn, view: SelectedView, tag: string, uid: boolean, key: SearchKey, criteria: SortCriterion[] | null, result: readonly number[]): void {
  if (!addContext(view, { tag, uid, key, criteria, result: [...result] })) {
    conn.send(`* NO [NOUPDATE ${imapString(tag)}] Too many search contexts (at most ${MAX_CONTEXTS})`);
  }
}

/** Sequence numbers (or UIDs for the UID form) of UIDs in the view. */
export function numbersOf(view: SelectedView, uids: readonly number[], uid: boolean): number[] {
  return uid ? [...uids] : uids.map((u) => view.seqOf(u));
}

export const search = defineCommand({
  name: 'SEARCH',
  states: SELECTED,
  flags: { uid: true, usesSeqs: true },
  parse: parseSearch,
  onParseError(conn, e) {
    // RFC 5182 §2.1: a failed SEARCH ... RETURN (SAVE) empties the saved result
    if (e instanceof SearchParseError && e.save) conn.savedSearch = [];
  },
  async run(conn, { ret: wanted, partial, key }, { tag, uid }) {
    checkUpdateTag(conn, wanted ?? undefined, tag);
    const view = requireSelected(conn);
    const ret = wanted ? new Set(wanted) : null;
    const uids = await runSearch(conn, view, key);
    const nums = numbersOf(view, uids, uid);
    // RFC 7162 §3.1.5: SEARCH MODSEQ enables CONDSTORE and reports the highest MODSEQ of the result
    let modseq = '';
    if (usesModseq(key)) {
      conn.condstore = true;
      const top = (await metasFor(conn.ctx.store, view.mailboxId, uids)).reduce((n, m) => Math.max(n, m.modseq), 0);
      if (top) modseq = `MODSEQ ${top}`;
    }
    if (ret?.has('SAVE')) {
      // RFC 5182 §2.4; with PARTIAL the whole result is saved (the pages are the client's view of it)
      saveResult(conn, ret, uids);
      ret.delete('SAVE');
      if (ret.size === 0) return; // RFC 5182 §2.4: SAVE alone returns no ESEARCH
    }
    const update = ret?.has('UPDATE') ?? false;
    if (!ret && !conn.rev2) {
      // RFC 3501 §7.2.5
      conn.send(`* SEARCH${nums.map((n) => ' ' + n).join('')}${modseq ? ` (${modseq})` : ''}`);
      return;
    }
    // RFC 4731 §3.1, RFC 9051 §7.3.4: ESEARCH; IMAP4rev2 with no RETURN means ALL
    conn.send(esearchLine(tag, uid, nums, ret ?? new Set(['ALL']), ret?.has('PARTIAL') ? partial : null, false) + (modseq ? ` ${modseq}` : ''));
    // RFC 5267 §4.1: a SEARCH context's order is the mailbox order (UIDs ascending)
    if (update) startContext(conn, view, tag, uid, key, null, uids);
  },
});

/** RFC 5267 §5: command-select =/ "CANCELUPDATE" 1*(SP quoted). */
export function parseCancelUpdate(args: ArgReader): string[] {
  const tags = [args.string()];
  while (!args.done) tags.push(args.string());
  return tags;
}

/**
 * RFC 5267 §4.3.5: CANCELUPDATE ends the updates of the contexts named by their tags. A tag that
 * names no live context is refused (NO) and nothing is cancelled.
 */
export const cancelUpdate = defineCommand({
  name: 'CANCELUPDATE',
  states: SELECTED,
  parse: parseCancelUpdate,
  async run(conn, tags) {
    const view = requireSelected(conn);
    const unknown = tags.find((t) => !hasContext(view, t));
    if (unknown !== undefined) return { status: 'NO', text: `No search context with tag ${unknown.slice(0, 30)}` };
    for (const t of tags) cancelContext(view, t);
    return { text: 'No further updates' };
  },
});
