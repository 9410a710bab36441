// FETCH and STORE, and their UID forms (RFC 9051 §6.4.5, §6.4.6, §6.4.9).
import { defineCommand } from '../server/conn.js';
import { metasFor, requireSelected, resolveSet } from '../server/messages.js';
import { parseFetchItems, runFetch, type FetchItem } from '../fetch.js';
import { flagList } from '../wire/compose.js';
import type { ArgReader, Token } from '../wire/tokenizer.js';
import type { FlagUpdate } from '../../store/types.js';
import { parseFlags, sequenceSetArg, type SetArg } from './args.js';

const SELECTED = ['selected'] as const;

/** RFC 9051 §9: fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"). */
export function parseFetch(args: ArgReader): { set: SetArg; items: FetchItem[] } {
  const set = sequenceSetArg(args);
  const att = args.next();
  const bad = (m: string): never => args.bad(m);
  const items = att.t === 'list' ? parseFetchItems(att.items, bad, false) : att.t === 'atom' ? parseFetchItems([att], bad) : bad('Expected FETCH items');
  // RFC 9051 §6.4.5 fetch modifiers (CHANGEDSINCE etc.) come from extensions we do not offer
  if (!args.done) args.bad('FETCH modifiers are not supported');
  return { set, items };
}

export const fetch = defineCommand({
  name: 'FETCH',
  states: SELECTED,
  flags: { uid: true, usesSeqs: true },
  parse: parseFetch,
  async run(conn, { set, items }, { uid }) {
    const view = requireSelected(conn);
    const uids = resolveSet(conn, view, set.text, uid);
    const r = await runFetch(conn, view, uids, items, uid);
    // RFC 9051 §7.1 EXPUNGEISSUED: some messages were expunged by another session meanwhile
    if (r.expunged && !uid) return { code: 'EXPUNGEISSUED', text: 'Some messages were expunged' };
  },
});

export interface StoreArgs {
  set: SetArg;
  mode: FlagUpdate['mode'];
  silent: boolean;
  flags: string[];
}

/** RFC 9051 §9: store = "STORE" SP sequence-set SP store-att-flags; store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag))). */
export function parseStore(args: ArgReader): StoreArgs {
  const set = sequenceSetArg(args);
  if (args.peek()?.t === 'list') args.bad('STORE modifiers (UNCHANGEDSINCE) are not supported');
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
  return { set, mode: m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'set', silent: m[2] !== undefined, flags };
}

export const store = defineCommand({
  name: 'STORE',
  states: SELECTED,
  flags: { uid: true, usesSeqs: true, writes: true },
  parse: parseStore,
  async run(conn, { set, mode, silent, flags }, { uid }) {
    const view = requireSelected(conn);
    const uids = resolveSet(conn, view, set.text, uid);
    if (!uids.length) return;
    const r = await conn.ctx.store.updateFlags(view.mailboxId, uids, { mode, flags });
    for (const c of r.changed) view.ownChanges.add(`${c.uid}:${c.modseq}`);
    if (silent) return; // RFC 9051 §6.4.6: .SILENT
    // RFC 9051 §6.4.6: an untagged FETCH with the new flags for each message
    const byUid = new Map(r.changed.map((c) => [c.uid, c.flags]));
    const missing = uids.filter((u) => !byUid.has(u));
    if (missing.length) for (const meta of await metasFor(conn.ctx.store, view.mailboxId, missing)) byUid.set(meta.uid, meta.flags);
    for (const u of uids) {
      const f = byUid.get(u);
      const seq = view.seqOf(u);
      if (!f || !seq) continue;
      const shown = view.recent?.has(u) ? [...f, '\\Recent'] : f;
      conn.send(`* ${seq} FETCH (${uid ? `UID ${u} ` : ''}FLAGS ${flagList(shown)})`);
    }
  },
});
