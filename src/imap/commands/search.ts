// SEARCH and UID SEARCH (RFC 9051 §6.4.4), with ESEARCH results (RFC 4731, built into
// IMAP4rev2) and the saved result "$" (RFC 5182 SEARCHRES).
import { defineCommand } from '../server/conn.js';
import { ImapParseError, type ArgReader } from '../wire/tokenizer.js';
import { requireSelected } from '../server/messages.js';
import { checkCharset, parseSearchKeys, runSearch, type SearchKey } from '../search.js';
import { compressSet, imapString } from '../wire/compose.js';

const SELECTED = ['selected'] as const;
const RETURN_OPTS = new Set(['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE']);

export interface SearchArgs {
  /** RETURN options (RFC 4731 §3.1), null without RETURN. */
  ret: Set<string> | null;
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

/** RFC 9051 §9: search = "SEARCH" [search-return-opts] SP search-program; search-program = ["CHARSET" SP charset SP] search-key *(SP search-key). */
export function parseSearch(args: ArgReader): SearchArgs {
  let ret: Set<string> | null = null;
  if (args.peekAtom() === 'RETURN') {
    args.atom();
    ret = new Set();
    for (const t of args.list()) {
      const v = t.t === 'atom' ? t.v.toUpperCase() : '';
      if (!RETURN_OPTS.has(v)) args.bad('Unknown SEARCH RETURN option');
      ret.add(v);
    }
    // RFC 4731 §3.1: RETURN () means RETURN (ALL)
    if (ret.size === 0) ret.add('ALL');
  }
  try {
    let charset = 'UTF-8';
    if (args.peekAtom() === 'CHARSET') {
      args.atom();
      charset = checkCharset(args.astring());
    }
    return { ret, key: parseSearchKeys(args, charset) };
  } catch (e) {
    if (e instanceof ImapParseError && ret?.has('SAVE')) throw new SearchParseError(e.message, e.tag, true);
    throw e;
  }
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
  async run(conn, { ret: wanted, key }, { tag, uid }) {
    const view = requireSelected(conn);
    const ret = wanted ? new Set(wanted) : null;
    const uids = await runSearch(conn, view, key);
    const nums = uid ? uids : uids.map((u) => view.seqOf(u));
    if (ret?.has('SAVE')) {
      // RFC 5182 §2.4: with MIN and/or MAX only, just those are saved
      const onlyMinMax = (ret.has('MIN') || ret.has('MAX')) && !ret.has('ALL') && !ret.has('COUNT');
      if (onlyMinMax && uids.length) {
        const saved: number[] = [];
        if (ret.has('MIN')) saved.push(uids[0]!);
        if (ret.has('MAX') && uids.length > 1) saved.push(uids[uids.length - 1]!);
        conn.savedSearch = saved;
      } else conn.savedSearch = uids;
      ret.delete('SAVE');
      if (ret.size === 0) return; // RFC 5182 §2.4: SAVE alone returns no ESEARCH
    }
    if (!ret && !conn.rev2) {
      // RFC 3501 §7.2.5
      conn.send(`* SEARCH${nums.map((n) => ' ' + n).join('')}`);
      return;
    }
    // RFC 4731 §3.1, RFC 9051 §7.3.4: ESEARCH; IMAP4rev2 with no RETURN means ALL
    const want = ret ?? new Set(['ALL']);
    const parts = [`* ESEARCH (TAG ${imapString(tag)})`];
    if (uid) parts.push('UID');
    if (nums.length) {
      if (want.has('MIN')) parts.push(`MIN ${nums[0]}`);
      if (want.has('MAX')) parts.push(`MAX ${nums[nums.length - 1]}`);
      if (want.has('ALL')) parts.push(`ALL ${compressSet(nums)}`);
    }
    if (want.has('COUNT')) parts.push(`COUNT ${nums.length}`);
    conn.send(parts.join(' '));
  },
});
