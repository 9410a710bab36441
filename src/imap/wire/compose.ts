// Composing IMAP response data (RFC 9051 §4, §7): strings as quoted or literal, nstring,
// astring, flag lists, mailbox names in UTF-8 or modified UTF-7.
import { encodeMutf7 } from './mutf7.js';

/**
 * A string as a quoted string when it can be one, else as a literal.
 * RFC 9051 §4.3: quoted strings cannot hold CR, LF or NUL; 8-bit text needs UTF-8 mode
 * (IMAP4rev2 or UTF8=ACCEPT), else a literal.
 */
export function imapString(s: string | Buffer, utf8 = false): string {
  const str = typeof s === 'string' ? s : s.toString('utf8');
  if (str.length < 4096 && /^[\x20-\x7e]*$/.test(str)) return '"' + str.replace(/["\\]/g, '\\$&') + '"';
  if (utf8 && str.length < 4096 && !/[\x00-\x1f\x7f]/.test(str) && (typeof s === 'string' || Buffer.from(str, 'utf8').equals(s))) {
    return '"' + str.replace(/["\\]/g, '\\$&') + '"';
  }
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return `{${bytes.length}}\r\n` + bytes.toString('utf8');
}

/** nstring: NIL or a string. */
export function nstring(s: string | null | undefined, utf8 = false): string {
  return s === null || s === undefined ? 'NIL' : imapString(s, utf8);
}

/** astring: an atom when the text is a plain atom, else a string. */
export function astring(s: string, utf8 = false): string {
  // RFC 9051 §9: ASTRING-CHAR = ATOM-CHAR / resp-specials
  if (s.length > 0 && s.length < 1024 && /^[!#$&'+-[\]-z|}~^]+$/.test(s) && s.toUpperCase() !== 'NIL') return s;
  return imapString(s, utf8);
}

/** A mailbox name for a response: UTF-8 when enabled, else modified UTF-7 (RFC 9051 Appendix A.1). */
export function mailboxName(name: string, utf8: boolean): string {
  return astring(utf8 ? name : encodeMutf7(name), utf8);
}

export function flagList(flags: readonly string[]): string {
  return '(' + flags.join(' ') + ')';
}

/** Byte length of a composed response (for literals the text is UTF-8). */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** A sequence set string from sorted numbers: 1,2,3,5 -> "1:3,5". */
export function compressSet(nums: readonly number[]): string {
  if (nums.length === 0) return '';
  const out: string[] = [];
  let start = nums[0]!;
  let prev = start;
  for (let i = 1; i <= nums.length; i++) {
    const n = nums[i];
    if (n === prev + 1) {
      prev = n;
      continue;
    }
    out.push(start === prev ? String(start) : `${start}:${prev}`);
    if (n !== undefined) start = prev = n;
  }
  return out.join(',');
}
