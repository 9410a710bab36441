// IMAP syntax for message data: strings, ENVELOPE, BODY and BODYSTRUCTURE
// (RFC 9051 §4.3, §7.5.2 and the formal syntax in §9; RFC 3501 §7.4.2 and §9 for IMAP4rev1).
import { emptyEnvelope } from './headers.js';
import { newPart } from './parser.js';
import type { Envelope, EnvelopeAddress, MimePart } from './types.js';

export interface ImapStringOptions {
  /**
   * RFC 9051 §9 (quoted-char with UTF8-2..4, RFC 6855 §3): when the client has enabled
   * UTF8=ACCEPT (or the session is IMAP4rev2), UTF-8 may go in a quoted string; otherwise
   * 8-bit data needs a literal.
   */
  utf8?: boolean;
}

export interface BodyStructureOptions extends ImapStringOptions {
  /**
   * RFC 9051 §9 (IMAP4rev2) shows MESSAGE/GLOBAL parts like MESSAGE/RFC822, with the envelope
   * and structure of the enclosed message; RFC 3501 §9 (IMAP4rev1) knows only MESSAGE/RFC822,
   * so for IMAP4rev1 sessions MESSAGE/GLOBAL is shown as a basic part.
   */
  imap4rev2?: boolean;
}

/**
 * A string in IMAP syntax: a quoted string when that can carry it, otherwise a literal.
 * RFC 9051 §4.3: a quoted string holds no CR or LF (and no NUL, §4.3.1); `"` and `\` are
 * escaped with `\`; 8-bit characters need a literal unless UTF-8 is accepted.
 * The returned string is meant to be written as UTF-8; the literal's count is in octets.
 */
export function imapString(s: string, opts: ImapStringOptions = {}): string {
  let literal = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0) {
      literal = true;
      break;
    }
    if (c > 0x7f && !opts.utf8) {
      literal = true;
      break;
    }
  }
  if (literal) return `{${Buffer.byteLength(s, 'utf8')}}\r\n${s}`;
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

/** nstring (RFC 9051 §9): NIL for null, otherwise a string. */
export function imapNString(s: string | null | undefined, opts: ImapStringOptions = {}): string {
  return s === null || s === undefined ? 'NIL' : imapString(s, opts);
}

// RFC 9051 §9: ATOM-CHAR = <any CHAR except atom-specials>;
// atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
const ASTRING_ATOM = /^[^(){ \x00-\x1f\x7f%*"\\\x80-\uffff]+$/;

/**
 * astring (RFC 9051 §9): an atom when the value is made of ASTRING-CHAR (ATOM-CHAR or "]"),
 * otherwise a string. NIL is quoted so that it does not read as NIL.
 */
export function imapAString(s: string, opts: ImapStringOptions = {}): string {
  if (s !== '' && ASTRING_ATOM.test(s) && s.toUpperCase() !== 'NIL') return s;
  return imapString(s, opts);
}

/** address (RFC 9051 §9): "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")" */
function formatAddress(a: EnvelopeAddress, opts: ImapStringOptions): string {
  return `(${imapNString(a.name, opts)} ${imapNString(a.adl, opts)} ${imapNString(a.mailbox, opts)} ${imapNString(a.host, opts)})`;
}

/** env-from etc. (RFC 9051 §9): "(" 1*address ")" / nil */
function formatAddressList(list: EnvelopeAddress[] | null, opts: ImapStringOptions): string {
  if (!list || list.length === 0) return 'NIL';
  return `(${list.map((a) => formatAddress(a, opts)).join('')})`;
}

/**
 * envelope (RFC 9051 §9, §7.5.2): "(" env-date SP env-subject SP env-from SP env-sender SP
 * env-reply-to SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
 */
export function formatEnvelope(env: Envelope, opts: ImapStringOptions = {}): string {
  return (
    '(' +
    [
      imapNString(env.date, opts),
      imapNString(env.subject, opts),
      formatAddressList(env.from, opts),
      formatAddressList(env.sender, opts),
      formatAddressList(env.replyTo, opts),
      formatAddressList(env.to, opts),
      formatAddressList(env.cc, opts),
      formatAddressList(env.bcc, opts),
      imapNString(env.inReplyTo, opts),
      imapNString(env.messageId, opts),
    ].join(' ') +
    ')'
  );
}

/** Is this value safe to send as is in a parameter (7-bit, printable)? */
function isPlainParamValue(v: string): boolean {
  return /^[\x20-\x7e]*$/.test(v);
}

/**
 * RFC 2231 §4 form of a decoded parameter value: charset''percent-encoded. Used for values that
 * are not 7-bit printable, so BODYSTRUCTURE stays 7-bit for IMAP4rev1 clients (which decode
 * `name*` as RFC 2231 says).
 */
function rfc2231Encode(v: string): string {
  let out = "UTF-8''";
  for (const b of Buffer.from(v, 'utf8')) {
    // RFC 2231 §7: attribute-char = <any (US-ASCII) CHAR except SPACE, CTLs, "*", "'", "%", or tspecials>
    const ch = String.fromCharCode(b);
    if (b > 0x20 && b < 0x7f && !"*'%()<>@,;:\\\"/[]?=".includes(ch)) out += ch;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** body-fld-param (RFC 9051 §9): "(" string SP string *(SP string SP string) ")" / nil */
function formatParams(params: Record<string, string>, opts: ImapStringOptions): string {
  const keys = Object.keys(params);
  if (keys.length === 0) return 'NIL';
  const items: string[] = [];
  for (const k of keys) {
    const v = params[k]!;
    if (isPlainParamValue(v) || opts.utf8) items.push(`${imapString(k, opts)} ${imapString(v, opts)}`);
    else items.push(`${imapString(k + '*', opts)} ${imapString(rfc2231Encode(v), opts)}`);
  }
  return `(${items.join(' ')})`;
}

/** body-fld-dsp (RFC 9051 §9): "(" string SP body-fld-param ")" / nil */
function formatDisposition(d: MimePart['disposition'], opts: ImapStringOptions): string {
  if (!d) return 'NIL';
  return `(${imapString(d.type, opts)} ${formatParams(d.params, opts)})`;
}

/** body-fld-lang (RFC 9051 §9): nstring / "(" string *(SP string) ")" */
function formatLanguage(lang: string[] | null, opts: ImapStringOptions): string {
  if (!lang || lang.length === 0) return 'NIL';
  // The list form is used even for one tag, as mature servers do (both forms are valid).
  return `(${lang.map((l) => imapString(l, opts)).join(' ')})`;
}

/** body-fields (RFC 9051 §9): body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets */
function formatBodyFields(p: MimePart, opts: ImapStringOptions): string {
  return [formatParams(p.params, opts), imapNString(p.id, opts), imapNString(p.description, opts), imapString(p.encoding, opts), String(p.size)].join(' ');
}

/** body-ext-1part (RFC 9051 §9): body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]] */
function formatExt1Part(p: MimePart, opts: ImapStringOptions): string {
  return [imapNString(p.md5, opts), formatDisposition(p.disposition, opts), formatLanguage(p.language, opts), imapNString(p.location, opts)].join(' ');
}

/** body-ext-mpart (RFC 9051 §9): body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]] */
function formatExtMPart(p: MimePart, opts: ImapStringOptions): string {
  return [formatParams(p.params, opts), formatDisposition(p.disposition, opts), formatLanguage(p.language, opts), imapNString(p.location, opts)].join(' ');
}

/**
 * A multipart body has at least one part (RFC 9051 §9: body-type-mpart = 1*body SP media-subtype);
 * a multipart with none (no boundary, or no delimiter found) shows one empty text/plain part,
 * as mature servers do.
 */
const EMPTY_TEXT: MimePart = newPart('', 0);

const EMPTY_ENVELOPE: Envelope = emptyEnvelope();

/**
 * RFC 9051 §9: media-message = DQUOTE "MESSAGE" DQUOTE SP DQUOTE ("RFC822" / "GLOBAL") DQUOTE
 * RFC 3501 §9: media-message = DQUOTE "MESSAGE" DQUOTE SP DQUOTE "RFC822" DQUOTE
 */
function isMessageType(p: MimePart, opts: BodyStructureOptions): boolean {
  return p.type === 'message' && (p.subtype === 'rfc822' || (p.subtype === 'global' && opts.imap4rev2 === true));
}

/**
 * BODY (extensible = false) or BODYSTRUCTURE (extensible = true) of a part (RFC 9051 §7.5.2,
 * formal syntax `body` in §9). The structure is at most DEFAULT_LIMITS.maxDepth deep (the parser
 * cuts deeper nesting), so the walk below is bounded; it uses an explicit stack all the same.
 */
export function formatBodyStructure(part: MimePart, extensible: boolean, opts: BodyStructureOptions = {}): string {
  // Work items: a part to open, or a literal piece of text to emit.
  const out: string[] = [];
  const work: Array<MimePart | string> = [part];
  while (work.length) {
    const item = work.pop()!;
    if (typeof item === 'string') {
      out.push(item);
      continue;
    }
    const p = item;
    if (p.type === 'multipart') {
      // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
      const children = p.children && p.children.length ? p.children : [EMPTY_TEXT];
      const tail = ' ' + imapString(p.subtype, opts) + (extensible ? ' ' + formatExtMPart(p, opts) : '') + ')';
      work.push(tail);
      for (let i = children.length - 1; i >= 0; i--) work.push(children[i]!);
      out.push('(');
      continue;
    }
    // body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
    let head = '(' + imapString(p.type, opts) + ' ' + imapString(p.subtype, opts) + ' ' + formatBodyFields(p, opts);
    const ext = extensible ? ' ' + formatExt1Part(p, opts) : '';
    if (isMessageType(p, opts)) {
      // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
      const env = p.message ? p.message.envelope : EMPTY_ENVELOPE;
      const inner = p.message ? p.message.root : EMPTY_TEXT;
      head += ' ' + formatEnvelope(env, opts) + ' ';
      out.push(head);
      work.push(' ' + String(p.lines) + ext + ')');
      work.push(inner);
      continue;
    }
    if (p.type === 'text') {
      // body-type-text = media-text SP body-fields SP body-fld-lines
      head += ' ' + String(p.lines);
    }
    out.push(head + ext + ')');
  }
  return out.join('');
}
