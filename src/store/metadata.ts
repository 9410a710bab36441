// What every backend's MetadataStore (RFC 5464 entries; types.ts) shares: which stored entries a
// GETMETADATA name and depth select (RFC 5464 §4.2.2), and the limit checks of SETMETADATA; and
// the entry-name rule its callers (IMAP, Sieve at delivery) apply before they ask.
import { StoreError, type MetadataEntry, type MetadataLimits } from './types.js';

/** Octets an entry counts against MetadataLimits.maxTotalBytes: its name and its value. */
export function entryBytes(name: string, value: Buffer): number {
  return Buffer.byteLength(name, 'utf8') + value.length;
}

/**
 * RFC 5464 §4.2.2 DEPTH: the entries (candidates: each name's own row and those below it) that
 * `names` select: the name itself, with depth 1 its immediate children, with 'infinity' every
 * descendant. By name in code point order, each once.
 */
export function selectEntries(candidates: Iterable<MetadataEntry>, names: readonly string[], depth: 0 | 1 | 'infinity'): MetadataEntry[] {
  const out = new Map<string, MetadataEntry>();
  for (const e of candidates) {
    for (const n of names) {
      if (e.name === n) out.set(e.name, e);
      else if (depth !== 0 && e.name.startsWith(n + '/')) {
        const rest = e.name.slice(n.length + 1);
        if (depth === 'infinity' || !rest.includes('/')) out.set(e.name, e);
      }
    }
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * RFC 5464 §4.3: a SETMETADATA that leaves the target with more entries than allowed, or the
 * account with more octets, fails as a whole (TOOMANY). A change that does not grow what is
 * over a limit (a deletion after the limit was lowered) is allowed.
 */
export function checkMetadataLimits(before: { entries: number; bytes: number }, after: { entries: number; bytes: number }, limits: MetadataLimits): void {
  if (limits.maxEntries > 0 && after.entries > limits.maxEntries && after.entries > before.entries) {
    throw new StoreError('over-quota', `at most ${limits.maxEntries} metadata entries per mailbox and for the server`);
  }
  if (limits.maxTotalBytes > 0 && after.bytes > limits.maxTotalBytes && after.bytes > before.bytes) {
    throw new StoreError('over-quota', `metadata of the account would take more than ${limits.maxTotalBytes} octets`);
  }
}

/**
 * RFC 5464 §3.2: an entry name is a slash-separated path below /private or /shared; it contains
 * no "*" or "%" (§5: list wildcards), no two slashes in a row and no trailing slash. Entry names
 * are compared without case: they are kept lower case. Yubin also refuses control characters,
 * space and non-ASCII (no registered entry uses them). `top` allows /private and /shared alone
 * (GETMETADATA names them to read what is below them; nothing is stored there).
 */
export function checkEntryName(raw: string, top: boolean, bad: (m: string) => never): string {
  if (!/^[\x21-\x7e]+$/.test(raw)) bad('Entry names are printable ASCII without spaces');
  if (/[*%]/.test(raw)) bad('Entry names must not contain "*" or "%"');
  const name = raw.toLowerCase();
  const m = /^\/(private|shared)(\/.*)?$/.exec(name);
  if (!m) bad('Entry names begin with /private or /shared');
  const rest = m[2];
  if (rest === undefined) {
    if (!top) bad(`${raw} is not an entry: name one below it`);
    return name;
  }
  if (rest.includes('//') || rest.endsWith('/')) bad('Entry names have no empty components');
  return name;
}
