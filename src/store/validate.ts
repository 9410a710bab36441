// Names the Store accepts: domains, addresses, mailbox names and flags, normalised once here so
// every backend stores and compares them the same way (see the conventions in types.ts).
import { domainToASCII } from 'node:url';
import { StoreError } from './types.js';

// Any C0 control, DEL, or C1 control.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Lower-cases and checks a domain name ("Example.COM." → "example.com"). */
export function normalizeDomain(input: string): string {
  let d = String(input).trim().toLowerCase().replace(/\.$/, '');
  // RFC 5890 §2.3.2.1: an internationalised name is kept in its ASCII form (A-labels), so
  // "bücher.test" and "xn--bcher-kva.test" are the same domain.
  if (/[^\x00-\x7f]/.test(d) && !CONTROL.test(d)) d = domainToASCII(d) || d;
  // RFC 1035 §2.3.4: labels of at most 63 octets, names of at most 255 octets (253 as text).
  // Letters, digits and hyphens (plus UTF-8 letters for internationalised names, RFC 6531 §3.3).
  const label = /^(?!-)[a-z0-9\u00a0-\uffff-]{1,63}(?<!-)$/u;
  if (d.length === 0 || Buffer.byteLength(d) > 253 || !d.split('.').every((l) => label.test(l)) || CONTROL.test(d)) {
    throw new StoreError('invalid', `malformed domain: ${JSON.stringify(String(input))}`);
  }
  return d;
}

/**
 * Lower-cases and checks an address "local@domain". With allowCatchAll, "@domain" (an alias
 * catch-all) is accepted too.
 */
export function normalizeAddress(input: string, opts: { allowCatchAll?: boolean } = {}): string {
  const raw = String(input).trim();
  const at = raw.lastIndexOf('@');
  const bad = (): never => {
    throw new StoreError('invalid', `malformed address: ${JSON.stringify(String(input))} (expected local@domain)`);
  };
  if (at < 0) bad();
  const local = raw.slice(0, at).toLowerCase();
  let domain: string;
  try {
    domain = normalizeDomain(raw.slice(at + 1));
  } catch {
    return bad();
  }
  if (local === '') {
    if (opts.allowCatchAll) return '@' + domain;
    bad();
  }
  // RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. RFC 5322 §3.4.1 dot-atom: no leading,
  // trailing or doubled dots; no specials, spaces or controls (UTF-8 allowed, RFC 6531 §3.3).
  if (Buffer.byteLength(local) > 64 || CONTROL.test(local) || /[\s"(),:;<>@[\\\]]/.test(local) || /^\.|\.$|\.\./.test(local)) bad();
  return `${local}@${domain}`;
}

/** The domain of an address or catch-all ("@domain"), lower case; "" when there is no "@". */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

/** The hierarchy delimiter of mailbox names (RFC 9051 §5.1.1). */
export const DELIMITER = '/';

/**
 * Checks a mailbox name and returns its canonical spelling: "INBOX" in any case (also as the
 * first segment, "inbox/x" → "INBOX/x") becomes "INBOX".
 * Refused ('invalid'): empty names or segments (leading, trailing or doubled "/"), "..",
 * control characters, names over 1000 octets.
 */
export function normalizeMailboxName(input: string): string {
  const name = String(input);
  const bad = (why: string): never => {
    throw new StoreError('invalid', `invalid mailbox name ${JSON.stringify(name)}: ${why}`);
  };
  if (name.length === 0) bad('empty');
  if (CONTROL.test(name)) bad('control characters');
  if (name.includes('..')) bad('".." is not allowed');
  if (Buffer.byteLength(name) > 1000) bad('longer than 1000 octets');
  const segments = name.split(DELIMITER);
  if (segments.some((s) => s.length === 0)) bad('empty hierarchy level');
  if (segments.some((s) => s === '.')) bad('"." is not allowed as a level');
  // RFC 9051 §5.1: INBOX is case-insensitive.
  if (segments[0]!.toUpperCase() === 'INBOX') segments[0] = 'INBOX';
  return segments.join(DELIMITER);
}

/** The names of the mailboxes above a name: "a/b/c" → ["a", "a/b"]. */
export function parentNames(name: string): string[] {
  const segments = name.split(DELIMITER);
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) out.push(segments.slice(0, i).join(DELIMITER));
  return out;
}

// System flags as bits (stored in one integer column so counting \Seen or \Deleted is cheap).
export const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const;
export const FLAG_SEEN = 1;
export const FLAG_DELETED = 8;
const SYSTEM_BY_LOWER = new Map(SYSTEM_FLAGS.map((f, i) => [f.toLowerCase(), 1 << i]));

/** Flags split into system-flag bits and keywords (original case kept, de-duplicated case-insensitively). */
export interface FlagSet {
  bits: number;
  keywords: string[];
}

/**
 * Parses IMAP flags. "\Recent" is dropped (never stored, RFC 3501 §2.3.2); an unknown
 * backslash flag or a keyword that is not an atom is refused ('invalid').
 */
export function parseFlags(flags: readonly string[] | undefined): FlagSet {
  let bits = 0;
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const raw of flags ?? []) {
    const f = String(raw);
    const lower = f.toLowerCase();
    if (lower === '\\recent') continue;
    const bit = SYSTEM_BY_LOWER.get(lower);
    if (bit !== undefined) {
      bits |= bit;
      continue;
    }
    // RFC 9051 §9 (formal syntax): flag-keyword = atom; atom-specials are ( ) { SP CTL % * " \ ]
    if (f.length === 0 || f.length > 250 || /[(){ %*"\\\]\u0000-\u001f\u007f]/.test(f)) {
      throw new StoreError('invalid', `invalid flag ${JSON.stringify(f)}`);
    }
    if (!seen.has(lower)) {
      seen.add(lower);
      keywords.push(f);
    }
  }
  return { bits, keywords };
}

/** Flags as IMAP lists them: system flags in a fixed order, then keywords. */
export function formatFlags(bits: number, keywords: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < SYSTEM_FLAGS.length; i++) if (bits & (1 << i)) out.push(SYSTEM_FLAGS[i]!);
  for (const k of keywords) out.push(k);
  return out;
}

/** Applies a STORE-style update; returns the new set. */
export function applyFlagUpdate(current: FlagSet, mode: 'set' | 'add' | 'remove', update: FlagSet): FlagSet {
  if (mode === 'set') return { bits: update.bits, keywords: [...update.keywords] };
  if (mode === 'add') {
    const have = new Set(current.keywords.map((k) => k.toLowerCase()));
    return { bits: current.bits | update.bits, keywords: current.keywords.concat(update.keywords.filter((k) => !have.has(k.toLowerCase()))) };
  }
  const drop = new Set(update.keywords.map((k) => k.toLowerCase()));
  return { bits: current.bits & ~update.bits, keywords: current.keywords.filter((k) => !drop.has(k.toLowerCase())) };
}

export function sameFlags(a: FlagSet, b: FlagSet): boolean {
  if (a.bits !== b.bits || a.keywords.length !== b.keywords.length) return false;
  const set = new Set(a.keywords.map((k) => k.toLowerCase()));
  return b.keywords.every((k) => set.has(k.toLowerCase()));
}
