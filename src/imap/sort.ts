// SORT (RFC 5256 §3, with SORT=DISPLAY, RFC 5957): the base subject (RFC 5256 §2.1), the sent
// date (§2.2), the i;unicode-casemap comparator (RFC 5051) and the sort itself. Sort keys come
// from the metadata and the envelope kept at delivery, read a page at a time
// (Store.getStructures): no message is read or parsed again, no query per message.
import type { EnvelopeAddress, MessageStructure } from '../message/types.js';
import type { MessageMeta, Store } from '../store/types.js';
import { decodeEncodedWords } from '../message/headers.js';
import { parseDateTime } from '../message/date.js';
import { PAGE, metasFor } from './server/messages.js';

// ---- i;unicode-casemap (RFC 5051) ----

// RFC 5051 §2 step 1 uses the *simple* titlecase mapping of UnicodeData.txt. JavaScript has only
// the full uppercase mapping: where that is one character it is the simple mapping, except for
// the four digraph triples, whose titlecase form is the middle one.
const TITLE_DIGRAPHS: Record<number, number> = { 0x1c4: 0x1c5, 0x1c5: 0x1c5, 0x1c6: 0x1c5, 0x1c7: 0x1c8, 0x1c8: 0x1c8, 0x1c9: 0x1c8, 0x1ca: 0x1cb, 0x1cb: 0x1cb, 0x1cc: 0x1cb, 0x1f1: 0x1f2, 0x1f2: 0x1f2, 0x1f3: 0x1f2 };
const titleCache = new Map<string, string>();

function titlecase(ch: string): string {
  let t = titleCache.get(ch);
  if (t !== undefined) return t;
  const cp = ch.codePointAt(0)!;
  if (TITLE_DIGRAPHS[cp] !== undefined) t = String.fromCodePoint(TITLE_DIGRAPHS[cp]!);
  else {
    const up = ch.toUpperCase();
    // a full mapping of several characters (ß -> SS) has no simple counterpart: unchanged
    t = [...up].length === 1 ? up : ch;
  }
  if (titleCache.size < 10_000) titleCache.set(ch, t);
  return t;
}

/**
 * The i;unicode-casemap key of a string (RFC 5051 §2): each character titlecased, then the whole
 * decomposed (NFKD). Two strings compare as their keys do, code point by code point
 * (the RFC's i;octet over UTF-8, which orders as code points do): see compareKeys.
 */
export function casemapKey(s: string): string {
  // ASCII needs neither decomposition nor anything but A-Z
  if (/^[\x00-\x7f]*$/.test(s)) return s.toUpperCase();
  let out = '';
  for (const ch of s) out += titlecase(ch);
  return out.normalize('NFKD');
}

/** Compares two strings by code point (UTF-16 order differs for characters above U+FFFF). */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // surrogates (U+D800-DFFF) stand for code points above every BMP character
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

// ---- base subject (RFC 5256 §2.1) ----

// RFC 5256 §5: subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"; subj-blob = "[" *BLOBCHAR "]" *WSP
// subj-leader = (*subj-blob subj-refwd) / WSP
const LEADER_REFWD = /^(?:\[[^[\]]*\][ \t]*)*(?:re|fwd?)[ \t]*(?:\[[^[\]]*\][ \t]*)?:/i;
const BLOB = /^\[[^[\]]*\][ \t]*/;
// subj-trailer = "(fwd)" / WSP
const TRAILER_FWD = /\(fwd\)$/i;

export interface BaseSubject {
  subject: string;
  /** RFC 5256 §2.1: extraction removed a subj-refwd, a "(fwd)" trailer or a subj-fwd-hdr/trl (THREAD=REFERENCES step 5). */
  replyOrForward: boolean;
}

/** The base subject of a raw (encoded-word) Subject: value, per RFC 5256 §2.1 steps 1-7. */
export function baseSubject(raw: string | null): BaseSubject {
  // (1) encoded words decoded to UTF-8; tabs and continuations to a space; runs of spaces to one
  let s = decodeEncodedWords(raw ?? '').replace(/[\t\r\n ]+/g, ' ');
  let replyOrForward = false;
  for (;;) {
    // (2) remove all trailing subj-trailer ("(fwd)" or WSP), repeatedly
    for (;;) {
      if (s.endsWith(' ')) s = s.slice(0, -1);
      else if (TRAILER_FWD.test(s)) {
        s = s.slice(0, -5);
        replyOrForward = true;
      } else break;
    }
    // (5) repeat (3) and (4) until neither matches
    for (;;) {
      let changed = false;
      // (3) remove all prefix text matching subj-leader
      for (;;) {
        if (s.startsWith(' ')) s = s.slice(1);
        else {
          const m = LEADER_REFWD.exec(s);
          if (!m) break;
          s = s.slice(m[0].length);
          replyOrForward = true;
        }
        changed = true;
      }
      // (4) a leading subj-blob is removed if what remains is not empty
      const b = BLOB.exec(s);
      if (b && b[0].length < s.length) {
        s = s.slice(b[0].length);
        changed = true;
      }
      if (!changed) break;
    }
    // (6) "[fwd:" ... "]" around the whole subject: remove both and go back to (2)
    if (s.length >= 6 && s.slice(0, 5).toLowerCase() === '[fwd:' && s.endsWith(']')) {
      s = s.slice(5, -1);
      replyOrForward = true;
      continue;
    }
    // (7) what is left is the base subject
    return { subject: s, replyOrForward };
  }
}

// ---- sent date (RFC 5256 §2.2) ----

/**
 * RFC 5256 §2.2: the sent date is the Date: header's date and time in UTC; a zone that is not
 * valid counts as UTC; without a Date: that parses, the INTERNALDATE.
 */
export function sentDate(st: MessageStructure | null | undefined, internalDate: Date): number {
  const raw = st?.envelope.date;
  if (raw) {
    const d = parseDateTime(raw);
    if (d) return d.ms;
  }
  return internalDate.getTime();
}

// ---- sort criteria (RFC 5256 §3, RFC 5957 §3) ----

export type SortKeyName = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';
export const SORT_KEYS: ReadonlySet<string> = new Set<SortKeyName>(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);

export interface SortCriterion {
  key: SortKeyName;
  reverse: boolean;
}

/** The first address of a list that is an address (group start and end markers skipped). */
function firstAddress(list: EnvelopeAddress[] | null): EnvelopeAddress | null {
  for (const a of list ?? []) if (a.host !== null) return a;
  return null;
}

/** RFC 5256 §3: CC, FROM, TO sort on the [IMAP] addr-mailbox of the first address. */
function addrMailbox(list: EnvelopeAddress[] | null): string {
  return firstAddress(list)?.mailbox ?? '';
}

/**
 * RFC 5957 §3: DISPLAYFROM/DISPLAYTO sort on the display name of the first address, RFC 2047
 * decoded; without one (or an empty one) on its addr-spec; for a group, the group's name.
 */
export function displayValue(list: EnvelopeAddress[] | null): string {
  const first = list?.[0];
  if (!first) return '';
  if (first.host === null) return first.mailbox ? decodeEncodedWords(first.mailbox) : '';
  const name = first.name ? decodeEncodedWords(first.name).trim() : '';
  if (name) return name;
  return first.host ? `${first.mailbox ?? ''}@${first.host}` : (first.mailbox ?? '');
}

/** The sort value of one key: a number, or a casemap key compared by code point. */
function keyValue(key: SortKeyName, meta: MessageMeta, st: MessageStructure | undefined): number | string {
  const env = st?.envelope;
  switch (key) {
    case 'ARRIVAL':
      return meta.internalDate.getTime();
    case 'DATE':
      return sentDate(st, meta.internalDate);
    case 'SIZE':
      return meta.size;
    case 'SUBJECT':
      return casemapKey(baseSubject(env?.subject ?? null).subject);
    case 'FROM':
      return casemapKey(addrMailbox(env?.from ?? null));
    case 'TO':
      return casemapKey(addrMailbox(env?.to ?? null));
    case 'CC':
      return casemapKey(addrMailbox(env?.cc ?? null));
    case 'DISPLAYFROM':
      return casemapKey(displayValue(env?.from ?? null));
    case 'DISPLAYTO':
      return casemapKey(displayValue(env?.to ?? null));
  }
}

/** A message with what sorting or threading needs of it, the structure already dropped. */
export interface SortRow {
  uid: number;
  values: Array<number | string>;
}

/**
 * Visits the given messages (ascending UIDs) a page at a time: metadata and structures in one
 * query each per page (never one per message), handed to `each` and then let go.
 */
export async function forEachWithStructure(store: Store, mailboxId: number, uids: readonly number[], each: (meta: MessageMeta, st: MessageStructure | undefined) => void): Promise<void> {
  for (let i = 0; i < uids.length; i += PAGE) {
    const page = uids.slice(i, i + PAGE);
    const [metas, structures] = await Promise.all([metasFor(store, mailboxId, page), store.getStructures(mailboxId, page)]);
    for (const m of metas) each(m, structures.get(m.uid));
  }
}

/** Needs the envelope (everything but ARRIVAL and SIZE). */
function needsStructure(criteria: readonly SortCriterion[]): boolean {
  return criteria.some((c) => c.key !== 'ARRIVAL' && c.key !== 'SIZE');
}

/**
 * Sorts the messages (UIDs ascending, i.e. in sequence order) by the criteria. RFC 5256 §3:
 * messages that compare equal on every criterion stay in sequence-number order (REVERSE
 * reverses only its own key).
 */
export async function sortMessages(store: Store, mailboxId: number, uids: readonly number[], criteria: readonly SortCriterion[]): Promise<number[]> {
  const rows: SortRow[] = [];
  const keys = criteria.map((c) => c.key);
  if (needsStructure(criteria)) {
    await forEachWithStructure(store, mailboxId, uids, (meta, st) => rows.push({ uid: meta.uid, values: keys.map((k) => keyValue(k, meta, st)) }));
  } else {
    for (const m of await metasFor(store, mailboxId, uids)) rows.push({ uid: m.uid, values: keys.map((k) => keyValue(k, m, undefined)) });
  }
  return sortRows(rows, criteria);
}

/** Sorts rows whose values follow the criteria; ties in UID (= sequence) order. */
export function sortRows(rows: SortRow[], criteria: readonly SortCriterion[]): number[] {
  rows.sort((a, b) => {
    for (let i = 0; i < criteria.length; i++) {
      const x = a.values[i]!;
      const y = b.values[i]!;
      const c = typeof x === 'number' ? x - (y as number) : compareKeys(x, y as string);
      if (c !== 0) return criteria[i]!.reverse ? -c : c;
    }
    return a.uid - b.uid;
  });
  return rows.map((r) => r.uid);
}
