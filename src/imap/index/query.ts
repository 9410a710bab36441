// Answers from the mailbox index (mailbox-index.ts): FETCH of metadata items and flag-only SEARCH,
// composed from the arrays without a database query per message.
import type { ImapConn } from '../server/conn.js';
import type { SelectedView } from '../server/view.js';
import { announceKeywords } from '../server/notify.js';
import { flagList } from '../wire/compose.js';
import { fetchHead } from '../commands/uidonly.js';
import { inRanges, parseSequenceSet, resolveRanges, type SeqRange } from '../wire/sequence.js';
import type { SearchKey } from '../search.js';
import { SEEN, type MailboxIndex } from './mailbox-index.js';

/** FETCH items the index answers. */
export type IndexItem = 'UID' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'MODSEQ';
const INDEX_ITEMS = new Set<string>(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'MODSEQ']);

export function indexAnswers(items: ReadonlyArray<{ kind: string }>): items is ReadonlyArray<{ kind: IndexItem }> {
  return items.every((i) => INDEX_ITEMS.has(i.kind));
}

/** Bytes composed before they are written. */
const WRITE_AT = 256 * 1024;

/**
 * FETCH of UID/FLAGS/INTERNALDATE/RFC822.SIZE/MODSEQ for UIDs (ascending) of the view, from the
 * index. A UID the index no longer has was expunged by another session (RFC 9051 §7.1
 * EXPUNGEISSUED for the sequence-number form): no response for it.
 */
export async function indexFetch(
  conn: ImapConn,
  view: SelectedView,
  index: MailboxIndex,
  uids: readonly number[],
  items: ReadonlyArray<{ kind: IndexItem }>,
  opts: { changedSince?: number | undefined; formatDate: (d: Date) => string },
): Promise<{ expunged: boolean }> {
  await index.settle();
  const flagText = new Map<number, string>();
  const flagTail = new Map<number, string>();
  const uidFlags = !conn.uidonly && items.length === 2 && items[0]!.kind === 'UID' && items[1]!.kind === 'FLAGS';
  const announced = new Set<number>();
  let expunged = false;
  let text = '';
  /** RFC 9051 §7.3.5: the keywords a response carries are announced first (after what is composed so far). */
  const announce = async (combo: number): Promise<void> => {
    announced.add(combo);
    if (text) {
      await conn.writeAndDrain(text);
      text = '';
    }
    announceKeywords(conn, view, index.combos[combo]!);
  };
  let slot = 0;
  for (const uid of uids) {
    const seq = view.seqOf(uid);
    if (!seq) continue;
    // UIDs ascending: the next slot is usually the one (else a binary search from here)
    if (!(slot + 1 < index.slots && index.uids[slot + 1] === uid)) slot = index.lowerBound(uid, slot);
    else slot++;
    if (slot >= index.slots || index.uids[slot] !== uid || !index.isLive(slot)) {
      expunged = true;
      continue;
    }
    // RFC 7162 §3.1.4.1: CHANGEDSINCE: only messages whose mod-sequence is higher
    if (opts.changedSince !== undefined && index.modseqs[slot]! <= opts.changedSince) continue;
    if (uidFlags && !view.recent?.has(uid)) {
      // the common `UID FETCH 1:* (UID FLAGS)`: one cached tail per flag set, one concatenation
      const combo = index.kw[slot]!;
      if (combo && !announced.has(combo)) await announce(combo);
      const key = index.sys[slot]! + combo * 256;
      let tail = flagTail.get(key);
      if (tail === undefined) {
        tail = ` FLAGS ${flagList(index.flagsAt(slot))})\r\n`;
        flagTail.set(key, tail);
      }
      text += '* ' + seq + ' FETCH (UID ' + uid + tail;
      if (text.length >= WRITE_AT) {
        await conn.writeAndDrain(text);
        text = '';
      }
      continue;
    }
    let line = fetchHead(conn, seq, uid);
    let first = true;
    for (const it of items) {
      if (!first) line += ' ';
      first = false;
      switch (it.kind) {
        case 'UID':
          line += `UID ${uid}`;
          break;
        case 'FLAGS': {
          const combo = index.kw[slot]!;
          if (combo && !announced.has(combo)) await announce(combo);
          if (view.recent?.has(uid)) line += `FLAGS ${flagList([...index.flagsAt(slot), '\\Recent'])}`;
          else {
            const key = index.sys[slot]! + combo * 256;
            let f = flagText.get(key);
            if (f === undefined) {
              f = `FLAGS ${flagList(index.flagsAt(slot))}`;
              flagText.set(key, f);
            }
            line += f;
          }
          break;
        }
        case 'INTERNALDATE':
          line += `INTERNALDATE ${opts.formatDate(new Date(index.dates[slot]!))}`;
          break;
        case 'RFC822.SIZE':
          line += `RFC822.SIZE ${index.sizes[slot]}`;
          break;
        case 'MODSEQ':
          line += `MODSEQ (${index.modseqs[slot]})`;
          break;
      }
    }
    text += line + ')\r\n';
    if (text.length >= WRITE_AT) {
      await conn.writeAndDrain(text);
      text = '';
    }
  }
  if (text) await conn.writeAndDrain(text);
  return { expunged };
}

/** What a flag-only search needs of the session (search.ts SearchScope). */
export interface IndexSearchScope {
  exists: number;
  maxUid: number;
  seqOf(uid: number): number;
  recent: ReadonlySet<number> | null;
  saved: readonly number[];
  now: number;
}

/** The keys the index can answer (no header, body, envelope or object id). */
export function indexSearchable(k: SearchKey): boolean {
  switch (k.op) {
    case 'all':
    case 'flag':
    case 'new':
    case 'old':
    case 'recent':
    case 'seq':
    case 'uid':
    case 'saved':
    case 'modseq':
    case 'size':
    case 'within':
    case 'savedatesupported':
      return true;
    case 'date':
      return !k.sent;
    case 'not':
      return indexSearchable(k.key);
    case 'or':
      return indexSearchable(k.a) && indexSearchable(k.b);
    case 'and':
      return k.keys.every(indexSearchable);
    default:
      return false;
  }
}

const SYSTEM_BITS: Record<string, number> = { '\\seen': 1, '\\answered': 2, '\\flagged': 4, '\\deleted': 8, '\\draft': 16 };

/** A compiled key: true when the message in `slot` with sequence number `seq` matches. */
type Test = (slot: number, seq: number) => boolean;

function compile(k: SearchKey, index: MailboxIndex, scope: IndexSearchScope): Test {
  const sets = (set: string, uid: boolean): SeqRange[] => {
    const parsed = parseSequenceSet(set)!;
    return 'ranges' in parsed ? resolveRanges(parsed, uid ? scope.maxUid : scope.exists) : [];
  };
  const day = (slot: number): number => Math.floor(index.dates[slot]! / 86_400_000);
  switch (k.op) {
    case 'all':
    case 'savedatesupported':
      return () => true;
    case 'flag': {
      const bit = SYSTEM_BITS[k.flag.toLowerCase()];
      if (bit !== undefined) return k.set ? (s) => (index.sys[s]! & bit) !== 0 : (s) => (index.sys[s]! & bit) === 0;
      // keyword: the combos that hold it, looked up once (compared without case)
      const has = index.combosWith(k.flag);
      return k.set ? (s) => has[index.kw[s]!] === 1 : (s) => has[index.kw[s]!] !== 1;
    }
    case 'recent':
      return (s) => !!scope.recent?.has(index.uids[s]!);
    case 'new':
      // RFC 3501 §6.4.4: NEW = RECENT UNSEEN
      return (s) => !!scope.recent?.has(index.uids[s]!) && (index.sys[s]! & SEEN) === 0;
    case 'old':
      return (s) => !scope.recent?.has(index.uids[s]!);
    case 'seq': {
      const r = sets(k.set, false);
      return (_s, seq) => inRanges(seq, r);
    }
    case 'uid': {
      const r = sets(k.set, true);
      return (s) => inRanges(index.uids[s]!, r);
    }
    case 'saved': {
      const saved = new Set(scope.saved);
      return (s) => saved.has(index.uids[s]!);
    }
    case 'modseq':
      return (s) => index.modseqs[s]! >= k.modseq;
    case 'size':
      return k.larger ? (s) => index.sizes[s]! > k.n : (s) => index.sizes[s]! < k.n;
    case 'within': {
      // RFC 5032 §3: OLDER n: an INTERNALDATE more than n seconds before now; YOUNGER n: within them
      const ms = k.seconds * 1000;
      return k.older ? (s) => scope.now - index.dates[s]! > ms : (s) => scope.now - index.dates[s]! <= ms;
    }
    case 'date': {
      // RFC 9051 §6.4.4: BEFORE/ON/SINCE compare the internal date's day (UTC, as search.ts)
      const want = k.day;
      if (k.cmp === 'before') return (s) => day(s) < want;
      if (k.cmp === 'on') return (s) => day(s) === want;
      return (s) => day(s) >= want;
    }
    case 'not': {
      const t = compile(k.key, index, scope);
      return (s, q) => !t(s, q);
    }
    case 'or': {
      const a = compile(k.a, index, scope);
      const b = compile(k.b, index, scope);
      return (s, q) => a(s, q) || b(s, q);
    }
    case 'and': {
      const ts = k.keys.map((x) => compile(x, index, scope));
      return (s, q) => ts.every((t) => t(s, q));
    }
    default:
      throw new Error(`search key ${k.op} is not answered by the index`);
  }
}

/**
 * A flag-only search (indexSearchable) over the messages of the view, from the index: the
 * matching UIDs, ascending. null when the key needs the messages themselves.
 */
export async function indexSearch(index: MailboxIndex, scope: IndexSearchScope, key: SearchKey): Promise<number[] | null> {
  if (!indexSearchable(key)) return null;
  await index.settle();
  const test = compile(key, index, scope);
  const out: number[] = [];
  for (let s = 0; s < index.slots; s++) {
    if (!index.isLive(s)) continue;
    const uid = index.uids[s]!;
    if (uid > scope.maxUid) break;
    const seq = scope.seqOf(uid);
    if (seq && test(s, seq)) out.push(uid);
  }
  return out;
}
