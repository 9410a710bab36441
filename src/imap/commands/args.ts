// Parsers for the argument productions commands share (RFC 9051 §9): mailbox names, sequence
// sets, flag lists, date-time. Pure: they read tokens and the ParseContext passed in, nothing else.
import type { ParseContext } from '../server/conn.js';
import { decodeMailboxName } from '../server/names.js';
import { parseSequenceSet, type SequenceSet } from '../wire/sequence.js';
import type { ArgReader, Token } from '../wire/tokenizer.js';
import { MONTHS } from '../search.js';

/** RFC 9051 §9 mailbox = "INBOX" / astring, decoded (modified UTF-7, or UTF-8 after UTF8=ACCEPT) and normalised. */
export function mailboxArg(args: ArgReader, ctx: ParseContext): string {
  return decodeMailboxName(args.astringBytes(), ctx.utf8);
}

/** RFC 9051 §9 sequence-set (or "$", RFC 5182): kept as text for resolving and checked here (BAD). */
export interface SetArg {
  text: string;
  set: SequenceSet;
}

export function sequenceSetArg(args: ArgReader): SetArg {
  const text = args.atom();
  const set = parseSequenceSet(text);
  if (!set) args.bad('Invalid sequence set');
  return { text, set };
}

const SYSTEM = new Map(['\\answered', '\\flagged', '\\deleted', '\\seen', '\\draft'].map((f) => [f, '\\' + f[1]!.toUpperCase() + f.slice(2)]));

/** Validates and normalises flags for STORE/APPEND (RFC 9051 §2.3.2, §9 flag). */
export function parseFlags(tokens: readonly Token[], bad: (m: string) => never): string[] {
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
    // RFC 9051 §9: flag-keyword = atom; NIL is the nil token, never a keyword (it could not be sent back as one)
    if (v.toUpperCase() === 'NIL') bad('NIL is not a flag');
    // RFC 9051 §9: flag-keyword = atom (no "]", no list-wildcards, no quoted-specials)
    if (!/^[^\x00-\x20\x7f-\uffff(){%*"\\\]]{1,100}$/.test(v)) bad(`Invalid keyword ${v.slice(0, 40)}`);
    if (!out.some((f) => f.toLowerCase() === v.toLowerCase())) out.push(v);
  }
  if (out.length > 100) bad('Too many flags');
  return out;
}

/** RFC 9051 §9 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be space-padded). */
export function parseDateTime(s: string): Date | null {
  const m = /^([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  if (!m) return null;
  const mon = MONTHS.indexOf(m[2]!.toLowerCase());
  const day = Number(m[1]!.trim());
  const [h, mi, se] = [Number(m[4]), Number(m[5]), Number(m[6])];
  if (mon < 0 || day < 1 || day > 31 || h > 23 || mi > 59 || se > 60 || Number(m[9]) > 59) return null;
  // 31-Feb is not a day: Date.UTC would roll it over into March
  if (new Date(Date.UTC(Number(m[3]), mon, day)).getUTCDate() !== day) return null;
  const offset = (Number(m[8]) * 60 + Number(m[9])) * (m[7] === '-' ? -1 : 1);
  const t = Date.UTC(Number(m[3]), mon, day, h, mi, Math.min(se, 59)) - offset * 60_000;
  return new Date(t);
}
