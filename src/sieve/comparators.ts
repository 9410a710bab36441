// Comparators (RFC 4790 §9: i;octet, i;ascii-casemap, i;ascii-numeric; RFC 5051: i;unicode-casemap)
// and their capabilities "comparator-<name>" (RFC 5228 §2.7.3).

export interface Comparator {
  name: string;
  /** Equality (RFC 4790 §4.2). */
  equals(a: string, b: string): boolean;
  /** Ordering for relational :value (RFC 5231): negative, 0, positive. */
  compare(a: string, b: string): number;
  /** Folds one string (or one code point) for substring and wildcard matching; null when the comparator has no substring operation. */
  fold: ((s: string) => string) | null;
}

function octetCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** RFC 4790 §9.2: i;ascii-casemap maps a-z to A-Z and then compares octets. */
export function asciiFold(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** RFC 5051 §2: the titlecase mapping of each character, then Unicode normalization form KD. */
export function unicodeFold(s: string): string {
  // JavaScript has no titlecase mapping; the simple (one-character) upper-case mapping stands in
  // for it: a character whose upper case is several characters (e.g. U+00DF) is left as it is,
  // as the simple titlecase mapping of UnicodeData does. Digraphs (e.g. U+01C6) differ from
  // their titlecase only in case, which NFKD then decomposes alike.
  let out = '';
  for (const c of s) {
    const u = c.toUpperCase();
    out += u.length === c.length || Array.from(u).length === 1 ? u : c;
  }
  return out.normalize('NFKD');
}

/** RFC 4790 §9.1: the value of the leading digits, or null ("positive infinity") without them. */
function numericValue(s: string): string | null {
  const m = /^[0-9]+/.exec(s);
  if (!m) return null;
  return m[0].replace(/^0+(?=[0-9])/, '');
}

function numericCompare(a: string, b: string): number {
  const x = numericValue(a);
  const y = numericValue(b);
  if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

export const COMPARATORS: ReadonlyMap<string, Comparator> = new Map<string, Comparator>([
  ['i;octet', { name: 'i;octet', equals: (a, b) => a === b, compare: octetCompare, fold: (s) => s }],
  ['i;ascii-casemap', { name: 'i;ascii-casemap', equals: (a, b) => asciiFold(a) === asciiFold(b), compare: (a, b) => octetCompare(asciiFold(a), asciiFold(b)), fold: asciiFold }],
  // RFC 4790 §9.1.1: i;ascii-numeric offers equality and ordering only, no substring operation.
  ['i;ascii-numeric', { name: 'i;ascii-numeric', equals: (a, b) => numericCompare(a, b) === 0, compare: numericCompare, fold: null }],
  ['i;unicode-casemap', { name: 'i;unicode-casemap', equals: (a, b) => unicodeFold(a) === unicodeFold(b), compare: (a, b) => octetCompare(unicodeFold(a), unicodeFold(b)), fold: unicodeFold }],
]);

/** RFC 5228 §2.7.3: i;octet and i;ascii-casemap need no require; others need "comparator-NAME". */
export const BUILTIN_COMPARATORS: ReadonlySet<string> = new Set(['i;octet', 'i;ascii-casemap']);

/** RFC 5228 §2.7.3: the default comparator is i;ascii-casemap. */
export const DEFAULT_COMPARATOR = 'i;ascii-casemap';
