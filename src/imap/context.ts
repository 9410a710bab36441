// Live search contexts (RFC 5267 §4, CONTEXT=SEARCH and CONTEXT=SORT): SEARCH/SORT ... RETURN
// (UPDATE) keeps the result and reports changes to it as ESEARCH ADDTO / REMOVEFROM until
// CANCELUPDATE or until the mailbox is no longer selected (§4.3). The contexts belong to the
// SelectedView they were made in, so a new SELECT/EXAMINE, UNSELECT or CLOSE ends them.
//
// Updates are computed by evaluating the search program again (RFC 5267 Appendix B allows any
// strategy; §4.5: the result must be what an unmodified searching command would return now) when
// the session reports changes (server/notify.ts flushPending: at a command's end and in IDLE), and
// only where EXPUNGE may be sent, so that the view is in step with what the client was told.
// Expunged messages are removed by contextsRemoving() before the view drops them: RFC 5267 §4.3.4,
// the REMOVEFROM precedes the EXPUNGE, while its sequence numbers are valid.
import type { ImapConn } from './server/conn.js';
import type { SelectedView } from './server/view.js';
import { runSearch, type SearchKey } from './search.js';
import { sortMessages, type SortCriterion } from './sort.js';
import { compressSet, imapString } from './wire/compose.js';
import { orderedSet } from './commands/search.js';

/**
 * RFC 5267 §4.3.1: the most live contexts per selected mailbox (the RFC asks for at least one);
 * a further RETURN (UPDATE) is answered with its result and `* NO [NOUPDATE "tag"]`.
 */
export const MAX_CONTEXTS = 10;

export interface LiveContext {
  /** The searching command's tag: the ESEARCH correlator (§4.3). */
  tag: string;
  /** UID SEARCH / UID SORT: updates carry UIDs, else sequence numbers (§4.3.2). */
  uid: boolean;
  key: SearchKey;
  /** SORT's criteria; null for SEARCH, whose order is the mailbox order (§4.1). */
  criteria: SortCriterion[] | null;
  /** The result as the client holds it: UIDs in the requested order. */
  result: number[];
}

interface Contexts {
  byTag: Map<string, LiveContext>;
  /** Changes were reported since the contexts were last evaluated. */
  dirty: boolean;
}

const live = new WeakMap<SelectedView, Contexts>();

/** RFC 5267 §4.3: a tag that already names a live context may not be used for another. */
export function hasContext(view: SelectedView, tag: string): boolean {
  return live.get(view)?.byTag.has(tag) ?? false;
}

/** Registers a context; false when MAX_CONTEXTS are live (RFC 5267 §4.3.1). */
export function addContext(view: SelectedView, c: LiveContext): boolean {
  let set = live.get(view);
  if (!set) live.set(view, (set = { byTag: new Map(), dirty: false }));
  if (set.byTag.size >= MAX_CONTEXTS) return false;
  set.byTag.set(c.tag, c);
  return true;
}

/** RFC 5267 §4.3.5 CANCELUPDATE: false when no live context has this tag. */
export function cancelContext(view: SelectedView, tag: string): boolean {
  return live.get(view)?.byTag.delete(tag) ?? false;
}

/** The number of live contexts of a view. */
export function contextCount(view: SelectedView): number {
  return live.get(view)?.byTag.size ?? 0;
}

/** The mailbox changed (flags, new messages, expunges): evaluate the contexts at the next chance. */
export function contextsDirty(view: SelectedView): void {
  const set = live.get(view);
  if (set) set.dirty = true;
}

/**
 * Pairs of (context position, run) that remove `gone` from `list`, processed in order
 * (RFC 5267 §4.3.4: the first of the run occupies the position before removal).
 */
export function removalRuns(list: readonly number[], gone: ReadonlySet<number>): Array<[number, number[]]> {
  const out: Array<[number, number[]]> = [];
  let kept = 0;
  let run: number[] | null = null;
  for (const u of list) {
    if (gone.has(u)) {
      if (!run) out.push([kept + 1, (run = [])]);
      run.push(u);
    } else {
      kept++;
      run = null;
    }
  }
  return out;
}

/**
 * Pairs of (context position, run) that insert the items of `next` in `added` into the list of the
 * others (RFC 5267 §4.3.3: the first of the run occupies the position after insertion).
 */
export function additionRuns(next: readonly number[], added: ReadonlySet<number>): Array<[number, number[]]> {
  const out: Array<[number, number[]]> = [];
  let run: number[] | null = null;
  next.forEach((u, i) => {
    if (added.has(u)) {
      if (!run) out.push([i + 1, (run = [])]);
      run.push(u);
    } else run = null;
  });
  return out;
}

/**
 * RFC 5267 §5 ret-data-addto / ret-data-removefrom: "(" context-position SP sequence-set ... ")".
 * SEARCH contexts use position 0 with the numbers in mailbox order (§4.3.3, §4.3.4: the shortest
 * set); SORT contexts give each run's position, its numbers in the sort order.
 */
function updateItem(name: 'ADDTO' | 'REMOVEFROM', c: LiveContext, runs: Array<[number, number[]]>, num: (uid: number) => number): string {
  if (!c.criteria) {
    const nums = runs.flatMap(([, r]) => r.map(num)).sort((a, b) => a - b);
    return `${name} (0 ${compressSet(nums)})`;
  }
  return `${name} (${runs.map(([p, r]) => `${p} ${orderedSet(r.map(num))}`).join(' ')})`;
}

function esearchHead(c: LiveContext): string {
  return `* ESEARCH (TAG ${imapString(c.tag)})${c.uid ? ' UID' : ''}`;
}

/**
 * The view is about to drop these UIDs (expunged): REMOVEFROM for every context holding them, sent
 * before the EXPUNGE/VANISHED (RFC 5267 §4.3.4: while the sequence numbers are still valid).
 */
export function contextsRemoving(conn: ImapConn, view: SelectedView, uids: readonly number[]): void {
  const set = live.get(view);
  if (!set || set.byTag.size === 0 || uids.length === 0) return;
  const gone = new Set(uids);
  for (const c of set.byTag.values()) {
    const runs = removalRuns(c.result, gone);
    if (!runs.length) continue;
    conn.send(`${esearchHead(c)} ${updateItem('REMOVEFROM', c, runs, (u) => (c.uid ? u : view.seqOf(u)))}`);
    c.result = c.result.filter((u) => !gone.has(u));
  }
}

/** The result of a context's search program now, in the requested order, among the view's messages. */
async function evaluate(conn: ImapConn, view: SelectedView, c: LiveContext): Promise<number[]> {
  const matched = (await runSearch(conn, view, c.key)).filter((u) => view.seqOf(u) > 0);
  return c.criteria ? sortMessages(conn.ctx.store, view.mailboxId, matched, c.criteria) : matched;
}

/**
 * Evaluates the live contexts again after changes were reported and sends, per context whose
 * result changed, one ESEARCH with REMOVEFROM then ADDTO (RFC 5267 §4.3.2: processed in the order
 * they appear; the ADDTO after the EXISTS that made its sequence numbers valid, §4.3.3).
 */
export async function updateContexts(conn: ImapConn, view: SelectedView): Promise<void> {
  const set = live.get(view);
  if (!set || !set.dirty) return;
  set.dirty = false;
  for (const c of [...set.byTag.values()]) {
    const next = await evaluate(conn, view, c);
    // Cancelled or the mailbox left while the search ran: nothing more to say.
    if (conn.selected !== view) return;
    if (set.byTag.get(c.tag) !== c) continue;
    const nextSet = new Set(next);
    const prevSet = new Set(c.result);
    let gone = new Set(c.result.filter((u) => !nextSet.has(u)));
    let added = new Set(next.filter((u) => !prevSet.has(u)));
    // Sort keys do not change, so the kept messages keep their relative order; should it differ,
    // the whole result is replaced (still exact, only longer).
    const kept = c.result.filter((u) => !gone.has(u));
    const keptNext = next.filter((u) => !added.has(u));
    if (kept.some((u, i) => keptNext[i] !== u)) {
      gone = prevSet;
      added = nextSet;
    }
    if (!gone.size && !added.size) continue;
    const num = (u: number) => (c.uid ? u : view.seqOf(u));
    const items: string[] = [];
    if (gone.size) items.push(updateItem('REMOVEFROM', c, removalRuns(c.result, gone), num));
    if (added.size) items.push(updateItem('ADDTO', c, additionRuns(next, added), num));
    c.result = next;
    conn.send(`${esearchHead(c)} ${items.join(' ')}`);
  }
}
