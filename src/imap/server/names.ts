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

/** The parents of "a/b/c": ["a", "a/b"]. */
export function parentsOf(name: string): string[] {
  const segs = name.split(DELIMITER);
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) out.push(segs.slice(0, i).join(DELIMITER));
  return out;
}

/**
 * A LIST pattern as a matcher (RFC 9051 §6.3.9): "*" matches anything, "%" anything but the
 * delimiter. The reference is prefixed. INBOX matches case-insensitively.
 */
export function listMatcher(reference: string, pattern: string): (name: string) => boolean {
  let full = pattern;
  if (reference && !pattern.startsWith(DELIMITER)) full = reference.endsWith(DELIMITER) || reference === '' ? reference + pattern : reference + DELIMITER + pattern;
  full = normalizeInbox(full);
  let re = '^';
  for (const ch of full) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += '[^/]*';
    else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  const rx = new RegExp(re + '$', 's');
  return (name) => rx.test(name);
}
