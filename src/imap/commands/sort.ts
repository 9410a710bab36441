// SORT and UID SORT (RFC 5256 §3, SORT=DISPLAY RFC 5957), with ESORT results (RFC 5267 §3:
// SORT RETURN (MIN MAX ALL COUNT)), PARTIAL (RFC 9394) and live contexts (CONTEXT=SORT, RFC 5267
// §4: RETURN (UPDATE), src/imap/context.ts).
import { defineCommand } from '../server/conn.js';
import type { ArgReader } from '../wire/tokenizer.js';
import { requireSelected } from '../server/messages.js';
import { checkCharset, parseSearchKeys, runSearch, type SearchKey } from '../search.js';
import { SORT_KEYS, sortMessages, type SortCriterion, type SortKeyName } from '../sort.js';
import { checkUpdateTag, esearchLine, numbersOf, parseReturnOpts, startContext, type ReturnOpts } from './search.js';

const SELECTED = ['selected'] as const;
// RFC 5267 §3.1: the RFC 4731 result options apply to SORT; RFC 9394 adds PARTIAL; RFC 5267 §4.2
// CONTEXT (a hint, ignored) and §4.3 UPDATE
const SORT_RETURN = new Set(['MIN', 'MAX', 'ALL', 'COUNT', 'PARTIAL', 'CONTEXT', 'UPDATE']);

export interface SortArgs {
  /** RETURN options (ESORT), null without RETURN. */
  ret: ReturnOpts | null;
  criteria: SortCriterion[];
  key: SearchKey;
}

/**
 * RFC 5256 §5: sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria;
 * sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"; sort-criterion = ["REVERSE" SP] sort-key;
 * search-criteria = charset 1*(SP search-key) (the charset is not optional here).
 * RFC 5267 §3: sort =/ "SORT" [search-return-opts] SP sort-criteria SP search-criteria.
 */
export function parseSort(args: ArgReader): SortArgs {
  const ret = parseReturnOpts(args, SORT_RETURN);
  const items = args.list();
  if (!items.length) args.bad('SORT needs at least one sort key');
  const criteria: SortCriterion[] = [];
  let reverse = false;
  for (const t of items) {
    const v = t.t === 'atom' ? t.v.toUpperCase() : '';
    if (v === 'REVERSE') {
      if (reverse) args.bad('REVERSE REVERSE');
      reverse = true;
      continue;
    }
    if (!SORT_KEYS.has(v)) args.bad(`Unknown sort key ${v.slice(0, 30)}`);
    criteria.push({ key: v as SortKeyName, reverse });
    reverse = false;
  }
  if (reverse) args.bad('REVERSE needs a sort key');
  const charset = checkCharset(args.astring());
  return { ret, criteria, key: parseSearchKeys(args, charset) };
}

export const sort = defineCommand({
  name: 'SORT',
  states: SELECTED,
  flags: { uid: true, usesSeqs: true },
  parse: parseSort,
  async run(conn, { ret, criteria, key }, { tag, uid }) {
    checkUpdateTag(conn, ret?.opts, tag);
    const view = requireSelected(conn);
    const matched = await runSearch(conn, view, key);
    const sorted = await sortMessages(conn.ctx.store, view.mailboxId, matched, criteria);
    const nums = numbersOf(view, sorted, uid);
    if (!ret) {
      // RFC 5256 §4: sort-data = "SORT" *(SP nz-number)
      conn.send(`* SORT${nums.map((n) => ' ' + n).join('')}`);
      return;
    }
    // RFC 5267 §3.2: the ESEARCH response, numbers in sort order
    conn.send(esearchLine(tag, uid, nums, ret.opts, ret.opts.has('PARTIAL') ? ret.partial : null, true));
    if (ret.opts.has('UPDATE')) startContext(conn, view, tag, uid, key, criteria, sorted);
  },
});
