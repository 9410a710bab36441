// Mailbox names: decoding from the wire, normalising INBOX, refusing names that could escape
// the account or confuse clients, and LIST pattern matching (RFC 9051 §5.1, §6.3.9).
import { decodeMutf7 } from '../wire/mutf7.js';
import { ImapError } from './errors.js';

export const DELIMITER = '/';
/** Longest mailbox name we accept, in octets, and deepest hierarchy. */
export const MAX_NAME_BYTES = 512;
export const MAX_NAME_DEPTH = 32;

/**
 * Wire bytes to a UTF-8 name. In UTF-8 mode (RFC 6855 §3, RFC 9051 §5.1) the bytes are UTF-8;
 * otherwise 7-bit modified UTF-7 (RFC 3501 §5.1.3). Throws NO on anything else.
 */
export function decodeMailboxName(raw: Buffer, utf8: boolean): string {
  let name: string;
  if (utf8) {
    name = raw.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(raw)) throw new ImapError('NO', 'CANNOT', 'Mailbox name is not valid UTF-8');
    if (/^[\x20-\x7e]*$/.test(name) && name.includes('&')) {
      // An IMAP4rev1-era client in UTF-8 mode may still send modified UTF-7; accept valid forms.
      const d = decodeMutf7(name);
      if (d !== null) name = d;
    }
  } else {
    const s = raw.toString('latin1');
    const d = decodeMutf7(s);
    if (d === null) throw new ImapError('NO', 'CANNOT', 'Mailbox name is not valid modified UTF-7');
    name = d;
  }
  return normalizeInbox(name);
}

/** "inbox" in any case, also as the first level of a hierarchy, is INBOX (RFC 9051 §5.1). */
export function normalizeInbox(name: string): string {
  if (name.length >= 5 && name.slice(0, 5).toUpperCase() === 'INBOX' && (name.length === 5 || name[5] === DELIMITER)) return 'INBOX' + name.slice(5);
  return name;
}

/** Why a name is refused, or null when it is acceptable. */
export function invalidNameReason(name: string): string | null {
  if (name.length === 0) return 'Empty mailbox name';
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return 'Mailbox name too long';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]/.test(name)) return 'Control characters in mailbox name';
  if (name.startsWith(DELIMITER)) return 'Mailbox name starts with the hierarchy delimiter';
  if (name.startsWith('~')) return 'Mailbox name starts with ~';
  if (/[*%]/.test(name)) return 'Wildcards in mailbox name';
  const segs = name.split(DELIMITER);
  if (segs.length > MAX_NAME_DEPTH) return 'Mailbox hierarchy too deep';
  for (const s of segs) {
    if (s === '') return 'Empty hierarchy level in mailbox name';
    if (s === '.' || s === '..') return '"." and ".." are not mailbox names';
  }
  return null;
}

export function validateName(name: string): string {
  const why = invalidNameReason(name);
  if (why) throw new ImapError('NO', 'CANNOT', why);
  return name;
}

/**
 * Longest LIST/LSUB pattern we match, in UTF-16 units, reference included. No mailbox name is
 * longer than MAX_NAME_BYTES, and every literal character of a pattern must appear in the name,
 * so a longer pattern could only be wildcards piled up to cost time; it is refused with BAD.
 */
export const MAX_PATTERN_LENGTH = 1024;

const WILD_NONE = 0;
const WILD_STAR = 1;
const WILD_PERCENT = 2;

/**
 * A LIST pattern as a matcher (RFC 9051 §6.3.9): "*" matches anything, "%" anything but the
 * hierarchy delimiter. The reference is prefixed. INBOX matches case-insensitively (RFC 9051
 * §5.1: the name INBOX is case-insensitive), also as the first level of a hierarchy.
 *
 * The match runs the pattern as a bit-parallel NFA (one bit per pattern position, shifted per
 * name character), so the time is O(name length x pattern length / 32) whatever the
 * wildcards: a backtracking RegExp took exponential time on "%%%...%x" and froze the event loop.
 * Throws BAD for a pattern longer than MAX_PATTERN_LENGTH.
 */
export function listMatcher(reference: string, pattern: string): (name: string) => boolean {
  let full = pattern;
  if (reference && !pattern.startsWith(DELIMITER)) full = reference.endsWith(DELIMITER) ? reference + pattern : reference + DELIMITER + pattern;
  if (full.length > MAX_PATTERN_LENGTH) throw new ImapError('BAD', null, `LIST pattern too long (at most ${MAX_PATTERN_LENGTH} characters)`);
  return compileWildcard(full);
}

/** The matcher for a whole pattern (reference already prefixed). */
function compileWildcard(full: string): (name: string) => boolean {
  // Pattern positions: a literal character or a wildcard. A run of wildcards is one wildcard
  // ("%%" is "%", and any run holding "*" is "*"), so no two wildcards are adjacent.
  const kinds: number[] = [];
  const chars: string[] = [];
  for (const ch of full) {
    const w = ch === '*' ? WILD_STAR : ch === '%' ? WILD_PERCENT : WILD_NONE;
    const last = kinds.length - 1;
    if (w !== WILD_NONE && last >= 0 && kinds[last] !== WILD_NONE) {
      if (w === WILD_STAR) kinds[last] = WILD_STAR;
      continue;
    }
    kinds.push(w);
    chars.push(w === WILD_NONE ? ch : '');
  }
  const m = kinds.length;
  // Bit i of the state: pattern[0..i) has matched the name read so far; bit m means all of it.
  const words = (m >>> 5) + 1;
  const mask = (): Uint32Array => new Uint32Array(words);
  const setBit = (a: Uint32Array, i: number): void => {
    a[i >>> 5]! |= 1 << (i & 31);
  };
  const star = mask();
  const wild = mask();
  /** For each literal character, the positions that hold it. */
  const literal = new Map<string, Uint32Array>();
  for (let i = 0; i < m; i++) {
    if (kinds[i] === WILD_NONE) {
      let a = literal.get(chars[i]!);
      if (!a) literal.set(chars[i]!, (a = mask()));
      setBit(a, i);
    } else {
      setBit(wild, i);
      if (kinds[i] === WILD_STAR) setBit(star, i);
    }
  }
  const empty = mask();
  // Case-folded literal masks for the INBOX prefix of a name.
  const folded = (c: string): Uint32Array => {
    const lo = literal.get(c.toLowerCase()) ?? empty;
    const up = literal.get(c.toUpperCase()) ?? empty;
    const a = mask();
    for (let w = 0; w < words; w++) a[w] = lo[w]! | up[w]!;
    return a;
  };
  const inboxMasks = [...'INBOX'].map(folded);

  /** a = (a << 1), across words. */
  const shift = (a: Uint32Array): void => {
    let carry = 0;
    for (let w = 0; w < words; w++) {
      const v = a[w]!;
      a[w] = (v << 1) | carry;
      carry = v >>> 31;
    }
  };
  /** A wildcard also matches nothing: from state i on a wildcard, state i + 1 is active too. */
  const close = (d: Uint32Array, t: Uint32Array): void => {
    for (let w = 0; w < words; w++) t[w] = d[w]! & wild[w]!;
    shift(t);
    for (let w = 0; w < words; w++) d[w]! |= t[w]!;
  };

  return (name: string): boolean => {
    const inbox = name === 'INBOX' || name.startsWith('INBOX' + DELIMITER);
    let d = mask();
    let next = mask();
    const tmp = mask();
    d[0] = 1;
    close(d, tmp);
    let k = 0;
    for (const c of name) {
      const lit = inbox && k < 5 ? inboxMasks[k]! : (literal.get(c) ?? empty);
      const stay = c === DELIMITER ? star : wild;
      let any = 0;
      for (let w = 0; w < words; w++) next[w] = d[w]! & lit[w]!;
      shift(next);
      for (let w = 0; w < words; w++) {
        next[w]! |= d[w]! & stay[w]!;
        any |= next[w]!;
      }
      if (any === 0) return false;
      close(next, tmp);
      [d, next] = [next, d];
      k++;
    }
    return (d[m >>> 5]! & (1 << (m & 31))) !== 0;
  };
}
