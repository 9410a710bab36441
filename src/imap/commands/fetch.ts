// FETCH and STORE, and their UID forms (RFC 9051 §6.4.5, §6.4.6, §6.4.9).
import { defineCommand, type ParseContext } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { announceKeywords, flagsFetchLine } from '../server/notify.js';
import { inRanges, resolveRanges } from '../wire/sequence.js';
import { modseqToken } from './mailbox.js';
import { metasFor, requireSelected, resolveSet } from '../server/messages.js';
import { parseFetchItems, runFetch, type FetchItem } from '../fetch.js';
import { compressSet, flagList } from '../wire/compose.js';
import { fetchHead } from './uidonly.js';
import type { ArgReader, Token } from '../wire/tokenizer.js';
import type { FlagUpdate } from '../../store/types.js';
import { parseFlags, sequenceSetArg, type SetArg } from './args.js';
import { parsePartialRange, partialSlice, type PartialRange } from './search.js';

const SELECTED = ['selected'] as const;

export interface FetchArgs {
  set: SetArg;
  items: FetchItem[];
  /** RFC 7162 §3.1.4.1 CHANGEDSINCE. */
  changedSince?: number;
  /** RFC 7162 §3.2.6: VANISHED (UID FETCH with CHANGEDSINCE only). */
  vanished?: boolean;
  /** RFC 9394 §3: PARTIAL range, positions among the messages the set (and CHANGEDSINCE) selects. */
  partial?: PartialRange;
}

/**
 * RFC 9051 §9: fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")
 * [fetch-modifiers]; RFC 7162 §7: fetch-modifier =/ chgsince-fetch-mod / "VANISHED";
 * RFC 9394 §5: fetch-modifier =/ "PARTIAL" SP partial-range.
 */
export function parseFetch(args: ArgReader, ctx?: ParseContext): FetchArgs {
  const set = sequenceSetArg(args);
  const att = args.next();
  const bad = (m: string): never => args.bad(m);
  // RFC 8970 §5: a lone PREVIEW may carry its modifier list ("FETCH 1 PREVIEW (LAZY)"); a list of
  // anything else after it is the fetch-modifiers
  const after = args.peek();
  const isLazy = after?.t === 'list' && after.items.length > 0 && after.items.every((m) => m.t === 'atom' && m.v.toUpperCase() === 'LAZY');
  const previewMods = att.t === 'atom' && att.v.toUpperCase() === 'PREVIEW' && isLazy ? [args.next()] : [];
  const items = att.t === 'list' ? parseFetchItems(att.items, bad, false) : att.t === 'atom' ? parseFetchItems([att, ...previewMods], bad) : bad('Expected FETCH items');
  const out: FetchArgs = { set, items };
  if (!args.done) {
    const mods = args.list();
    if (!mods.length) bad('Empty FETCH modifier list');
    for (let i = 0; i < mods.length; i++) {
      const m = mods[i]!;
      const v = m.t === 'atom' ? m.v.toUpperCase() : '';
      if (v === 'CHANGEDSINCE' && out.changedSince === undefined) out.changedSince = modseqToken(mods[++i], bad, true);
      else if (v === 'VANISHED' && !out.vanished) out.vanished = true;
      else if (v === 'PARTIAL' && !out.partial) {
        const r = mods[++i];
        out.partial = (r?.t === 'atom' ? parsePartialRange(r.v) : null) ?? bad('PARTIAL needs a range: n:m or -n:-m');
      } else bad('Unknown FETCH modifier');
    }
    // RFC 7162 §3.2.6: VANISHED only in UID FETCH, and only with CHANGEDSINCE
    if (out.vanished && !ctx?.uid) bad('VANISHED needs UID FETCH');
    if (out.vanished && out.changedSince === undefined) bad('VANISHED needs CHANGEDSINCE');
  }
  args.end();
  return out;
}

export const fetch = defineCommand({
  name: 'FETCH',
  states: SELECTED,
  flags: { uid: true, usesSeqs: true },
  parse: parseFetch,
  async run(conn, { set, items, changedSince, vanished, partial }, { uid }) {
    const view = requireSelected(conn);
    // RFC 7162 §3.2.6: VANISHED before ENABLE QRESYNC is an error
    if (vanished && !conn.qresync) throw new ImapError('BAD', null, 'QRESYNC is not enabled');
    // RFC 7162 §3.1: FETCH MODSEQ and CHANGEDSINCE are CONDSTORE enabling commands
    if (changedSince !== undefined || items.some((i) => i.kind === 'MODSEQ')) conn.condstore = true;
    let uids = resolveSet(conn, view, set.text, uid);
    if (partial) {
      // RFC 9394 §3: the range counts the messages the set names in UID order (those changed
      // since CHANGEDSINCE, when given), -1 being the last; the rest of the set is not fetched.
      if (changedSince !== undefined) uids = (await metasFor(conn.ctx.store, view.mailboxId, uids)).filter((m) => m.modseq > changedSince).map((m) => m.uid);
      const [a, b] = partialSlice(partial, uids.length);
      uids = uids.slice(a, b);
    }
    if (vanished && 'ranges' in set.set) {
      // RFC 7162 §3.2.6: UIDs in the set removed since CHANGEDSINCE, as VANISHED (EARLIER), before the FETCHes
      const ranges = resolveRanges(set.set, 0xffffffff);
      const gone = (await conn.ctx.store.expungedSince(view.mailboxId, changedSince!)).filter((u) => inRanges(u, ranges));
      if (gone.length) conn.send(`* VANISHED (EARLIER) ${compressSet(gone)}`);
    }
    const r = await runFetch(conn, view, uids, items, uid, { changedSince });
    // RFC 9051 §7.1 EXPUNGEISSUED: some messages were expunged by another session meanwhile
    if (r.expunged && !uid) return { code: 'EXPUNGEISSUED', text: 'Some messages were expunged' };
  },
});

export interface StoreArgs {
  set: SetArg;
  mode: FlagUpdate['mode'];
  silent: boolean;
  flags: string[];
  /** RFC 7162 §3.1.3 UNCHANGEDSINCE. */
  unchangedSince?: number;
}

/** RFC 9051 §9: store = "STORE" SP sequence-set SP store-att-flags; store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag))). */
export function parseStore(args: ArgReader): StoreArgs {
  const set = sequenceSetArg(args);
  let unchangedSince: number | undefined;
  if (args.peek()?.t === 'list') {
    // RFC 7162 §7: store-modifier =/ "UNCHANGEDSINCE" SP mod-sequence-valzer
    const mods = args.list();
    for (let i = 0; i < mods.length; i++) {
      const m = mods[i]!;
      if (m.t === 'atom' && m.v.toUpperCase() === 'UNCHANGEDSINCE' && unchangedSince === undefined) unchangedSince = modseqToken(mods[++i], (x) => args.bad(x), true);
      else args.bad('Unknown STORE modifier');
    }
    if (unchangedSince === undefined) args.bad('Empty STORE modifier list');
  }
  const op = args.atom().toUpperCase();
  const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(op);
  if (!m) return args.bad('Expected FLAGS, +FLAGS or -FLAGS');
  const rest: Token[] = [];
  if (args.done) args.bad('STORE needs flags');
  const first = args.next();
  if (first.t === 'list') rest.push(...first.items);
  else {
    rest.push(first);
    while (!args.done) rest.push(args.next());
  }
  args.end();
  const flags = parseFlags(rest, (msg) => args.bad(msg));
  const out: StoreArgs = { set, mode: m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'set', silent: m[2] !== undefined, flags };
  if (unchangedSince !== undefined) out.unchangedSince = unchangedSince;
  return out;
}

export const store = defineCommand({
  name: 'STORE',
  states: SELECTED,
  flags: { uid: true, usesSeqs: true, writes: true },
  parse: parseStore,
  async run(conn, { set, mode, silent, flags, unchangedSince }, { uid }) {
    const view = requireSelected(conn);
    // RFC 7162 §3.1: STORE UNCHANGEDSINCE is a CONDSTORE enabling command
    if (unchangedSince !== undefined) conn.condstore = true;
    const uids = resolveSet(conn, view, set.text, uid);
    if (!uids.length) return;
    const update: FlagUpdate = { mode, flags };
    if (unchangedSince !== undefined) update.unchangedSince = unchangedSince;
    const r = await conn.ctx.store.updateFlags(view.mailboxId, uids, update);
    for (const c of r.changed) view.ownChanges.add(`${c.uid}:${c.modseq}`);
    const failed = new Set(r.failed);
    // RFC 7162 §3.1.3: the messages that failed UNCHANGEDSINCE, as sequence numbers (STORE) or UIDs (UID STORE)
    const modified = r.failed.length
      ? { code: `MODIFIED ${compressSet(uid ? [...r.failed].sort((a, b) => a - b) : r.failed.map((u) => view.seqOf(u)).filter((n) => n > 0).sort((a, b) => a - b))}`, text: 'Some messages were modified meanwhile' }
      : undefined;
    const byUid = new Map(r.changed.map((c) => [c.uid, { flags: c.flags, modseq: c.modseq }]));
    if (silent) {
      // RFC 9051 §6.4.6: .SILENT; RFC 7162 §3.1.3: with CONDSTORE the new MODSEQ is still reported
      if (conn.condstore) {
        for (const u of uids) {
          const c = byUid.get(u);
          const seq = view.seqOf(u);
          if (c && seq) conn.send(flagsFetchLine(conn, view, seq, u, null, c.modseq));
        }
      }
      return modified;
    }
    // RFC 9051 §6.4.6: an untagged FETCH with the new flags for each message (not those that failed UNCHANGEDSINCE)
    const missing = uids.filter((u) => !byUid.has(u) && !failed.has(u));
    if (missing.length && view.index) {
      // unchanged messages' flags from the shared mailbox index (src/imap/index), current after settle()
      await view.index.settle();
      for (const u of missing) {
        const e = view.index.get(u);
        if (e) byUid.set(u, { flags: e.flags, modseq: e.modseq });
      }
    } else if (missing.length) for (const meta of await metasFor(conn.ctx.store, view.mailboxId, missing)) byUid.set(meta.uid, { flags: meta.flags, modseq: meta.modseq });
    for (const u of uids) {
      const c = byUid.get(u);
      const seq = view.seqOf(u);
      if (!c || !seq) continue;
      if (conn.condstore) conn.send(flagsFetchLine(conn, view, seq, u, c.flags, c.modseq));
      else {
        announceKeywords(conn, view, c.flags);
        const shown = view.recent?.has(u) ? [...c.flags, '\\Recent'] : c.flags;
        conn.send(`${fetchHead(conn, seq, u)}${uid ? `UID ${u} ` : ''}FLAGS ${flagList(shown)})`);
      }
    }
    return modified;
  },
});
