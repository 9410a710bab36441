// FETCH and STORE, and their UID forms (RFC 9051 §6.4.5, §6.4.6, §6.4.9).
import type { CommandDescriptor } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { metasFor, requireSelected, resolveSet } from '../server/messages.js';
import { parseFetchItems, runFetch } from '../fetch.js';
import { flagList } from '../wire/compose.js';
import type { Token } from '../wire/tokenizer.js';
import type { FlagUpdate } from '../../store/types.js';

const SELECTED = ['selected'] as const;

export const fetch: CommandDescriptor = {
  states: SELECTED,
  uid: true,
  usesSeqs: true,
  async run({ args, conn, uid }) {
    const view = requireSelected(conn);
    const set = args.atom();
    const items = parseFetchItems(args.listOrAtom(), (m) => args.bad(m));
    if (!args.done) {
      // RFC 9051 §6.4.5 fetch modifiers (CHANGEDSINCE etc.) come from extensions we do not offer
      args.bad('FETCH modifiers are not supported');
    }
    const uids = resolveSet(conn, view, set, uid);
    const r = await runFetch(conn, view, uids, items, uid);
    // RFC 9051 §7.1 EXPUNGEISSUED: some messages were expunged by another session meanwhile
    if (r.expunged && !uid) return { code: 'EXPUNGEISSUED', text: 'Some messages were expunged' };
  },
};

const SYSTEM = new Map(['\\answered', '\\flagged', '\\deleted', '\\seen', '\\draft'].map((f) => [f, '\\' + f[1]!.toUpperCase() + f.slice(2)]));

/** Validates and normalises flags for STORE/APPEND (RFC 9051 §2.3.2, §9 flag). */
export function parseFlags(tokens: Token[], bad: (m: string) => never): string[] {
  const out: string[] = [];
  for (const t of tokens) {
    if (t.t !== 'atom') bad('Flags are atoms');
    const v = t.v;
    if (v.startsWith('\\')) {
      const sys = SYSTEM.get(v.toLowerCase());
      // RFC 9051 §2.3.2: \Recent cannot be set by a client; other \-flags are not defined
      if (!sys) bad(`Invalid flag ${v.slice(0, 40)}`);
      if (!out.includes(sys)) out.push(sys);
      continue;
    }
    // RFC 9051 §9: flag-keyword = atom (no "]", no list-wildcards, no quoted-specials)
    if (!/^[^\x00-\x20\x7f-\uffff(){%*"\\\]]{1,100}$/.test(v)) bad(`Invalid keyword ${v.slice(0, 40)}`);
    if (!out.some((f) => f.toLowerCase() === v.toLowerCase())) out.push(v);
  }
  if (out.length > 100) bad('Too many flags');
  return out;
}

export const store: CommandDescriptor = {
  states: SELECTED,
  uid: true,
  usesSeqs: true,
  async run({ args, conn, uid }) {
    const view = requireSelected(conn);
    const set = args.atom();
    if (args.peek()?.t === 'list') args.bad('STORE modifiers (UNCHANGEDSINCE) are not supported');
    const op = args.atom().toUpperCase();
    const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(op);
    if (!m) return args.bad('Expected FLAGS, +FLAGS or -FLAGS');
    const rest: Token[] = [];
    while (!args.done) {
      const t = args.next();
      if (t.t === 'list') rest.push(...t.items);
      else rest.push(t);
    }
    const flags = parseFlags(rest, (msg) => args.bad(msg));
    const uids = resolveSet(conn, view, set, uid);
    if (view.readOnly) throw new ImapError('NO', 'READ-ONLY', 'Mailbox is read-only');
    if (!uids.length) return;
    const update: FlagUpdate = { mode: m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'set', flags };
    const r = await conn.ctx.store.updateFlags(view.mailboxId, uids, update);
    for (const c of r.changed) view.ownChanges.add(`${c.uid}:${c.modseq}`);
    if (m[2]) return; // RFC 9051 §6.4.6: .SILENT
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
};
