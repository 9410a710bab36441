// SMTP command parsing (RFC 5321 §4.1): verbs, paths, ESMTP parameters, xtext (RFC 3461 §4).
// Pure functions over one command line (already without its CRLF). Errors are SmtpError with
// the reply the client gets.
import { SmtpError } from './reply.js';

export interface CommandLine {
  /** Upper case verb, e.g. "MAIL". */
  verb: string;
  /** Everything after the verb and one space ("" when none). */
  args: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** True when the text holds CR, LF, NUL or another control character. */
export function hasControl(s: string): boolean {
  return CONTROL.test(s);
}

/** Splits "VERB args". RFC 5321 §2.4: verbs are case-insensitive. */
export function splitCommand(line: string): CommandLine {
  const sp = line.indexOf(' ');
  const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
  return { verb, args: sp < 0 ? '' : line.slice(sp + 1) };
}

export interface Mailbox {
  /** Local part as written (quoted form kept verbatim). */
  localPart: string;
  /** Local part with quoting removed (for policy checks). */
  localPartValue: string;
  domain: string;
  /** True when the domain is an address literal "[...]". */
  literal: boolean;
}

export interface ParsedPath {
  /** "" for the null path <>; "postmaster" for <postmaster>; else local@domain as written. */
  address: string;
  mailbox: Mailbox | null;
  /** Obsolete source route ("@a,@b"), ignored for routing (RFC 5321 §4.1.1.3, Appendix C); null when absent. */
  sourceRoute: string | null;
  /** True when the address holds non-ASCII characters (needs SMTPUTF8). */
  utf8: boolean;
}

export interface PathWithParams {
  path: ParsedPath;
  /** ESMTP parameters, keywords upper case; value null for a keyword without "=". */
  params: Map<string, string | null>;
}

// RFC 5321 §4.1.2: atext of RFC 5322 plus, with SMTPUTF8 (RFC 6531 §3.3), any non-ASCII.
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+$/u;
const LDH_LABEL = /^[A-Za-z0-9\u0080-\u{10FFFF}](?:[A-Za-z0-9\-\u0080-\u{10FFFF}]*[A-Za-z0-9\u0080-\u{10FFFF}])?$/u;

/** RFC 5321 §4.1.2 Domain: dot-separated labels of letters, digits and hyphens. */
export function isDomain(s: string): boolean {
  if (!s || s.length > 255) return false;
  return s.split('.').every((l) => l.length > 0 && l.length <= 63 && LDH_LABEL.test(l));
}

/** RFC 5321 §4.1.3 address literal: [IPv4], [IPv6:...] (General-address-literal is refused). */
export function isAddressLiteral(s: string): boolean {
  const m = /^\[(.*)\]$/.exec(s);
  if (!m) return false;
  const inner = m[1]!;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(inner)) return inner.split('.').every((o) => Number(o) <= 255);
  if (/^IPv6:[0-9A-Fa-f:.]+$/i.test(inner)) return inner.length <= 6 + 45;
  return false;
}

/** Local-part: Dot-string or Quoted-string (RFC 5321 §4.1.2). Returns the unquoted value, or null when invalid. */
function parseLocalPart(lp: string): string | null {
  if (lp.startsWith('"')) {
    if (lp.length < 2 || !lp.endsWith('"')) return null;
    let out = '';
    for (let i = 1; i < lp.length - 1; i++) {
      const c = lp[i]!;
      if (c === '\\') {
        // quoted-pairSMTP = %d92 %d32-126
        const n = lp[++i];
        if (n === undefined || i === lp.length - 1) return null;
        if (n.charCodeAt(0) < 32 || n.charCodeAt(0) > 126) return null;
        out += n;
      } else if (c === '"') {
        return null;
      } else {
        const code = c.codePointAt(0)!;
        // qtextSMTP = %d32-33 / %d35-91 / %d93-126 (plus UTF-8 with SMTPUTF8)
        if (code < 32 || code === 127) return null;
        out += c;
      }
    }
    return out;
  }
  if (!lp.split('.').every((atom) => atom.length > 0 && ATEXT.test(atom))) return null;
  return lp;
}

/** Splits "local@domain" at the last "@" outside quotes. */
function splitMailbox(s: string): Mailbox | null {
  let inQuote = false;
  let at = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && inQuote) {
      i++;
      continue;
    }
    if (c === '"') inQuote = !inQuote;
    else if (c === '@' && !inQuote) {
      // A second unquoted "@" (x@remote@local) is not a mailbox.
      if (at >= 0) return null;
      at = i;
    }
  }
  if (inQuote || at <= 0 || at === s.length - 1) return null;
  const localPart = s.slice(0, at);
  const domain = s.slice(at + 1);
  const value = parseLocalPart(localPart);
  if (value === null) return null;
  // RFC 5321 §4.5.3.1.1: local part at most 64 octets; §4.5.3.1.2: domain at most 255 octets.
  if (Buffer.byteLength(localPart) > 64) return null;
  const literal = domain.startsWith('[');
  if (literal ? !isAddressLiteral(domain) : !isDomain(domain)) return null;
  return { localPart, localPartValue: value, domain, literal };
}

/**
 * Parses a Reverse-path or Forward-path "<...>" (RFC 5321 §4.1.2). `kind` decides whether
 * "<>" (MAIL) or "<postmaster>" (RCPT, RFC 5321 §4.5.1) is allowed.
 */
export function parsePath(raw: string, kind: 'mail' | 'rcpt'): ParsedPath {
  // Made only when thrown (an Error captures its stack: two per message when made up front).
  const bad = () => (kind === 'mail' ? new SmtpError(501, '5.1.7', 'Bad sender address syntax') : new SmtpError(501, '5.1.3', 'Bad recipient address syntax'));
  if (!raw.startsWith('<') || !raw.endsWith('>')) throw bad();
  let inner = raw.slice(1, -1);
  // RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the brackets.
  if (Buffer.byteLength(raw) > 256) throw new SmtpError(501, kind === 'mail' ? '5.1.7' : '5.1.3', 'Address too long');
  const utf8 = /[^\x00-\x7f]/.test(inner);
  if (inner === '') {
    if (kind === 'mail') return { address: '', mailbox: null, sourceRoute: null, utf8: false };
    throw bad();
  }
  let sourceRoute: string | null = null;
  if (inner.startsWith('@')) {
    // A-d-l ":" Mailbox: the route is parsed and then ignored (RFC 5321 §4.1.1.3, Appendix C).
    const colon = inner.indexOf(':');
    if (colon < 0) throw bad();
    sourceRoute = inner.slice(0, colon);
    if (!sourceRoute.split(',').every((h) => h.startsWith('@') && (isDomain(h.slice(1)) || isAddressLiteral(h.slice(1))))) throw bad();
    inner = inner.slice(colon + 1);
  }
  if (kind === 'rcpt' && sourceRoute === null && inner.toLowerCase() === 'postmaster') {
    return { address: 'postmaster', mailbox: null, sourceRoute: null, utf8: false };
  }
  const mailbox = splitMailbox(inner);
  if (!mailbox) throw bad();
  return { address: inner, mailbox, sourceRoute, utf8 };
}

// RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-");
// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 with SMTPUTF8 (RFC 6531 §3.3).
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const VALUE = /^[\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+$/u;

/** Parses "KEY[=VALUE] KEY[=VALUE] ..." (RFC 5321 §4.1.2 Mail-parameters / Rcpt-parameters). */
export function parseParams(s: string): Map<string, string | null> {
  const params = new Map<string, string | null>();
  if (s === '') return params;
  for (const item of s.split(' ')) {
    if (item === '') continue; // tolerate doubled spaces
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? null : item.slice(eq + 1);
    if (!KEYWORD.test(key)) throw new SmtpError(501, '5.5.4', 'Bad parameter syntax');
    if (value !== null && !VALUE.test(value)) throw new SmtpError(501, '5.5.4', `Bad value for parameter ${key}`);
    if (params.has(key)) throw new SmtpError(501, '5.5.4', `Duplicate parameter ${key}`);
    params.set(key, value);
  }
  return params;
}

/**
 * Parses the arguments of MAIL ("FROM:<path> params") or RCPT ("TO:<path> params").
 * Spaces between the colon and the path are tolerated (many clients send them).
 */
export function parsePathArgs(args: string, kind: 'mail' | 'rcpt'): PathWithParams {
  if (hasControl(args)) throw new SmtpError(501, '5.5.2', 'Control characters are not allowed');
  const prefix = kind === 'mail' ? 'FROM:' : 'TO:';
  if (args.slice(0, prefix.length).toUpperCase() !== prefix) {
    throw new SmtpError(501, '5.5.4', kind === 'mail' ? 'Syntax: MAIL FROM:<address> [parameters]' : 'Syntax: RCPT TO:<address> [parameters]');
  }
  let rest = args.slice(prefix.length).replace(/^ +/, '');
  if (!rest.startsWith('<')) throw kind === 'mail' ? new SmtpError(501, '5.1.7', 'Bad sender address syntax') : new SmtpError(501, '5.1.3', 'Bad recipient address syntax');
  // The path ends at the first ">" outside a quoted string.
  let end = -1;
  let inQuote = false;
  for (let i = 1; i < rest.length; i++) {
    const c = rest[i];
    if (inQuote && c === '\\') {
      i++;
      continue;
    }
    if (c === '"') inQuote = !inQuote;
    else if (c === '>' && !inQuote) {
      end = i;
      break;
    }
  }
  if (end < 0) throw kind === 'mail' ? new SmtpError(501, '5.1.7', 'Bad sender address syntax') : new SmtpError(501, '5.1.3', 'Bad recipient address syntax');
  const path = parsePath(rest.slice(0, end + 1), kind);
  rest = rest.slice(end + 1);
  if (rest !== '' && !rest.startsWith(' ')) throw new SmtpError(501, '5.5.4', 'Bad parameter syntax');
  return { path, params: parseParams(rest.trim()) };
}

/**
 * Decodes xtext (RFC 3461 §4): printable ASCII 33-126 except "+" and "=", with "+XX" (upper-case
 * hex) for any other octet. Control characters, even encoded, are refused (501).
 */
export function decodeXtext(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) throw new SmtpError(501, '5.5.4', 'Bad xtext encoding');
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c >= 33 && c <= 126 && c !== 0x3d) {
      bytes.push(c);
    } else {
      throw new SmtpError(501, '5.5.4', 'Bad xtext encoding');
    }
  }
  const out = Buffer.from(bytes).toString('utf8');
  if (hasControl(out) || out.includes('\ufffd')) throw new SmtpError(501, '5.5.4', 'Control characters are not allowed in xtext');
  return out;
}

/** Encodes text as xtext (RFC 3461 §4). */
export function encodeXtext(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b >= 33 && b <= 126 && b !== 0x2b && b !== 0x3d ? String.fromCharCode(b) : '+' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * Decodes a utf-8-addr-xtext / utf-8-addr-unitext value (RFC 6533 §3): xtext, plus "\x{HEX}"
 * escapes for Unicode characters. An escape that names no Unicode scalar value is refused (501).
 */
export function decodeUtf8AddrXtext(s: string): string {
  const decoded = decodeXtext(
    s.replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (_m, hex: string) => {
      const cp = parseInt(hex, 16);
      // RFC 6533 §3: HEXPOINT is a Unicode scalar value: at most 10FFFF, and no surrogate
      // (D800-DFFF). Client input, so a 501, never the RangeError of String.fromCodePoint.
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new SmtpError(501, '5.5.4', `Bad code point \\x{${hex}} in utf-8-addr-xtext`);
      return encodeXtext(String.fromCodePoint(cp));
    }),
  );
  return decoded;
}

export type DsnNotify = 'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY';

/** RFC 3461 §4.1: NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY. */
export function parseNotify(v: string | null): DsnNotify[] {
  if (!v) throw new SmtpError(501, '5.5.4', 'NOTIFY needs a value');
  const items = v.toUpperCase().split(',');
  const allowed = new Set(['NEVER', 'SUCCESS', 'FAILURE', 'DELAY']);
  if (!items.every((i) => allowed.has(i)) || new Set(items).size !== items.length) throw new SmtpError(501, '5.5.4', 'Bad NOTIFY value');
  if (items.includes('NEVER') && items.length > 1) throw new SmtpError(501, '5.5.4', 'NOTIFY=NEVER cannot be combined');
  return items as DsnNotify[];
}

/** RFC 3461 §4.2: ORCPT=addr-type ";" xtext. */
export function parseOrcpt(v: string | null): { type: string; address: string } {
  if (!v) throw new SmtpError(501, '5.5.4', 'ORCPT needs a value');
  const semi = v.indexOf(';');
  if (semi <= 0) throw new SmtpError(501, '5.5.4', 'Bad ORCPT value');
  const type = v.slice(0, semi);
  if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(type)) throw new SmtpError(501, '5.5.4', 'Bad ORCPT address type');
  const raw = v.slice(semi + 1);
  const address = type.toLowerCase() === 'utf-8' ? decodeUtf8AddrXtext(raw) : decodeXtext(raw);
  if (!address || address.length > 500) throw new SmtpError(501, '5.5.4', 'Bad ORCPT value');
  return { type: type.toLowerCase(), address };
}

/** RFC 3461 §4.4: ENVID=xtext, at most 100 characters. */
export function parseEnvid(v: string | null): string {
  if (!v) throw new SmtpError(501, '5.5.4', 'ENVID needs a value');
  const id = decodeXtext(v);
  if (id.length > 100) throw new SmtpError(501, '5.5.4', 'ENVID too long');
  return id;
}
