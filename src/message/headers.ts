// Header parsing utilities: splitting a header block into fields, unfolding, Content-Type and
// Content-Disposition parameters (RFC 2045, RFC 2183, RFC 2231), encoded words (RFC 2047) and
// address lists as IMAP ENVELOPE needs them (RFC 5322 §3.4, RFC 9051 §7.5.2).
import libmime from 'libmime';
import { decode as decodeCharsetBytes } from 'libmime/lib/charset.js';
import type { Envelope, EnvelopeAddress } from './types.js';
import { parseAddresses, type InvalidAddress, type Mailbox, type RecoveredAddress } from './address.js';

/** One header field as it appears in a header block. */
export interface HeaderField {
  /** Field name as written (case kept). */
  name: string;
  /** Lower-case field name, for lookups. */
  key: string;
  /** The value after the colon, unfolded (CRLF before WSP removed) and trimmed; not decoded. */
  value: string;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Header bytes to a string: UTF-8 when the bytes are valid UTF-8 (RFC 6532 §3.2 allows UTF-8 in
 * header fields), otherwise Latin-1 so that every byte survives as one character.
 */
export function headerBytesToString(bytes: Uint8Array): { text: string; encoding: 'utf8' | 'latin1' } {
  try {
    return { text: utf8Strict.decode(bytes), encoding: 'utf8' };
  } catch {
    return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'), encoding: 'latin1' };
  }
}

/** RFC 5322 §2.2.3: unfolding is removing every CRLF that is immediately followed by WSP. */
export function unfold(value: string): string {
  return value.replace(/\r?\n(?=[ \t])/g, '').replace(/\r?\n/g, '');
}

/**
 * Splits a header block (the bytes from the start of a header up to and including the empty
 * line, or what there is of it) into fields, in order.
 * RFC 5322 §2.2: a field is a name, a colon and a body; a line that starts with WSP continues
 * the field before it (§2.2.3). Lines that are neither (no colon) are skipped.
 */
export function parseHeaderFields(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  const lines = block.split('\n');
  let current: { name: string; raw: string } | null = null;
  const flush = (): void => {
    if (current) {
      fields.push({ name: current.name, key: current.name.toLowerCase(), value: unfold(current.raw).trim() });
      current = null;
    }
  };
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') {
      // RFC 5322 §2.1: the header ends at the first empty line.
      if (i < lines.length - 1) break;
      continue;
    }
    const c = line.charCodeAt(0);
    if (c === 0x20 || c === 0x09) {
      if (current) current.raw += '\r\n' + line;
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    // RFC 5322 §3.6.8: field-name = 1*ftext; obsolete syntax (§4.5) allows WSP before the colon.
    const name = line.slice(0, colon).replace(/[ \t]+$/, '');
    if (name === '' || /[\x00-\x20\x7f]/.test(name)) continue;
    current = { name, raw: line.slice(colon + 1) };
  }
  flush();
  return fields;
}

/** First value of a field, or null. */
export function headerValue(fields: HeaderField[], key: string): string | null {
  const k = key.toLowerCase();
  for (const f of fields) if (f.key === k) return f.value;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Structured-value tokenizer (RFC 5322 §3.2, RFC 2045 §5.1)

interface Token {
  kind: 'atom' | 'quoted' | 'special' | 'comment' | 'literal';
  /** Content: for quoted strings and comments without delimiters and with quoted-pairs resolved. */
  text: string;
  /** True when whitespace (or a comment) came before this token. */
  spaceBefore: boolean;
}

/**
 * Tokenizes a structured header value. `specials` lists the characters that stand alone:
 * RFC 5322 §3.2.3 specials for addresses, RFC 2045 §5.1 tspecials for MIME parameters.
 */
function tokenize(value: string, specials: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let space = false;
  const n = value.length;
  while (i < n) {
    const ch = value[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
      space = true;
      i++;
    } else if (ch === '"') {
      // RFC 5322 §3.2.4: quoted-string, with quoted-pair (§3.2.1) inside.
      let text = '';
      i++;
      while (i < n && value[i] !== '"') {
        if (value[i] === '\\' && i + 1 < n) i++;
        const c = value[i]!;
        if (c !== '\r' && c !== '\n') text += c;
        i++;
      }
      i++; // closing quote (or end of input: an unclosed quote runs to the end)
      out.push({ kind: 'quoted', text, spaceBefore: space });
      space = false;
    } else if (ch === '(') {
      // RFC 5322 §3.2.2: comments nest.
      let depth = 1;
      let text = '';
      i++;
      while (i < n && depth > 0) {
        const c = value[i]!;
        if (c === '\\' && i + 1 < n) {
          text += value[i + 1];
          i += 2;
          continue;
        }
        if (c === '(') depth++;
        else if (c === ')') {
          depth--;
          if (depth === 0) break;
        }
        text += c;
        i++;
      }
      i++;
      out.push({ kind: 'comment', text, spaceBefore: space });
      space = true;
    } else if (ch === '[' && specials.includes('[')) {
      // RFC 5322 §3.4.1: domain-literal, kept with its brackets.
      let j = i + 1;
      while (j < n && value[j] !== ']') j += value[j] === '\\' ? 2 : 1;
      out.push({ kind: 'literal', text: value.slice(i, Math.min(j + 1, n)), spaceBefore: space });
      space = false;
      i = j + 1;
    } else if (specials.includes(ch)) {
      out.push({ kind: 'special', text: ch, spaceBefore: space });
      space = false;
      i++;
    } else {
      let j = i + 1;
      while (j < n) {
        const c = value[j]!;
        if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '"' || c === '(' || specials.includes(c)) break;
        j++;
      }
      out.push({ kind: 'atom', text: value.slice(i, j), spaceBefore: space });
      space = false;
      i = j;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Content-Type / Content-Disposition

const TSPECIALS = '()<>@,;:\\"/[]?=';

export interface ParsedContentType {
  /** Lower case; "" when the header is syntactically invalid. */
  type: string;
  subtype: string;
  params: Record<string, string>;
}

/**
 * Parses `type/subtype; a=b; ...` (RFC 2045 §5.1). When `typeOnly` is false (Content-Disposition,
 * RFC 2183 §2) the value is a single token before the parameters.
 */
function parseTypedValue(value: string, withSubtype: boolean): ParsedContentType {
  const tokens = tokenize(value, TSPECIALS);
  let i = 0;
  const next = (): Token | undefined => {
    while (i < tokens.length && tokens[i]!.kind === 'comment') i++;
    return tokens[i];
  };
  let type = '';
  let subtype = '';
  const t0 = next();
  if (t0 && (t0.kind === 'atom' || t0.kind === 'quoted')) {
    type = t0.text.toLowerCase();
    i++;
    if (withSubtype) {
      const slash = next();
      if (slash && slash.kind === 'special' && slash.text === '/') {
        i++;
        const st = next();
        if (st && (st.kind === 'atom' || st.kind === 'quoted')) {
          subtype = st.text.toLowerCase();
          i++;
        }
      }
    }
  }
  // Parameters: `; name = value`, value a token or a quoted-string (RFC 2045 §5.1).
  const raw: Array<{ name: string; value: string }> = [];
  while (i < tokens.length) {
    const t = next();
    if (!t) break;
    if (t.kind === 'special' && t.text === ';') {
      i++;
      continue;
    }
    if (t.kind !== 'atom') {
      i++;
      continue;
    }
    const name = t.text.toLowerCase();
    i++;
    const eq = next();
    if (!eq || eq.kind !== 'special' || eq.text !== '=') continue;
    i++;
    // A value runs to the next ';': an unquoted value with stray specials (e.g. `name=a b.txt`,
    // `boundary=a=b`) is taken whole, as lenient parsers do.
    let v = '';
    let first = true;
    while (i < tokens.length) {
      const vt = tokens[i]!;
      if (vt.kind === 'special' && vt.text === ';') break;
      if (vt.kind !== 'comment') {
        if (!first && vt.spaceBefore) v += ' ';
        v += vt.text;
        first = false;
      }
      i++;
    }
    raw.push({ name, value: v });
  }
  return { type, subtype, params: decodeParams(raw) };
}

/**
 * RFC 2231 §3: `name*0`, `name*1`... are continuations joined in order; §4: a `*` after the name
 * (or section) means the value is `charset'language'percent-encoded`, with the charset given in
 * the first section only. The decoded value replaces a plain `name` of the same name.
 */
function decodeParams(raw: Array<{ name: string; value: string }>): Record<string, string> {
  const out: Record<string, string> = {};
  const sections = new Map<string, Array<{ index: number; value: string; extended: boolean }>>();
  const order: string[] = [];
  for (const p of raw) {
    const m = /^(.+?)\*(?:(\d+)(\*)?)?$/.exec(p.name);
    if (!m) {
      if (!(p.name in out)) {
        out[p.name] = p.value;
        order.push(p.name);
      }
      continue;
    }
    const base = m[1]!;
    const index = m[2] === undefined ? 0 : Number(m[2]);
    const extended = m[2] === undefined ? true : m[3] === '*';
    let list = sections.get(base);
    if (!list) {
      list = [];
      sections.set(base, list);
      if (!order.includes(base)) order.push(base);
    }
    if (!list.some((s) => s.index === index)) list.push({ index, value: p.value, extended });
  }
  for (const [base, list] of sections) {
    list.sort((a, b) => a.index - b.index);
    let charset = '';
    const bytes: number[] = [];
    list.forEach((s, n) => {
      let v = s.value;
      if (s.extended && n === 0) {
        const q = /^([^']*)'([^']*)'(.*)$/s.exec(v);
        if (q) {
          charset = q[1]!;
          v = q[3]!;
        }
      }
      if (s.extended) {
        for (let k = 0; k < v.length; k++) {
          const c = v.charCodeAt(k);
          if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(v.slice(k + 1, k + 3))) {
            bytes.push(parseInt(v.slice(k + 1, k + 3), 16));
            k += 2;
          } else pushUtf8(bytes, v[k]!);
        }
      } else pushUtf8(bytes, v);
    });
    out[base] = decodeCharset(Buffer.from(bytes), charset || 'utf-8');
  }
  const ordered: Record<string, string> = {};
  for (const k of order) ordered[k] = out[k]!;
  return ordered;
}

function pushUtf8(bytes: number[], s: string): void {
  for (const b of Buffer.from(s, 'utf8')) bytes.push(b);
}

/** Bytes in a named charset to a string (unknown charsets are read as UTF-8). */
export function decodeCharset(bytes: Buffer, charset: string): string {
  const cs = charset.trim().toLowerCase();
  if (cs === '' || cs === 'utf-8' || cs === 'utf8' || cs === 'us-ascii' || cs === 'ascii') return bytes.toString('utf8');
  try {
    return decodeCharsetBytes(bytes, charset);
  } catch {
    return bytes.toString('utf8');
  }
}

/**
 * Content-Type (RFC 2045 §5.1). RFC 2045 §5.2: an absent or syntactically invalid Content-Type
 * means `text/plain; charset=us-ascii` (returned here as type "" so the caller applies the
 * default of its context, e.g. message/rfc822 inside multipart/digest, RFC 2046 §5.1.5).
 */
export function parseContentType(value: string): ParsedContentType {
  const ct = parseTypedValue(value, true);
  if (!ct.type || !ct.subtype || !/^[!#$%&'*+\-.^_`{|}~0-9a-z]+$/.test(ct.type + ct.subtype)) {
    return { type: '', subtype: '', params: ct.params };
  }
  return ct;
}

/** Content-Disposition (RFC 2183 §2): a type and parameters; null when there is no type. */
export function parseContentDisposition(value: string): { type: string; params: Record<string, string> } | null {
  const d = parseTypedValue(value, false);
  if (!d.type) return null;
  return { type: d.type, params: d.params };
}

/** Content-Language (RFC 3282 §2): a comma-separated list of language tags. */
export function parseContentLanguage(value: string): string[] | null {
  const tags = tokenize(value, ',')
    .filter((t) => t.kind === 'atom')
    .map((t) => t.text);
  return tags.length ? tags : null;
}

/**
 * RFC 2047 encoded words to text (for SEARCH and display; ENVELOPE keeps the raw form).
 * RFC 2047 §6.2: whitespace between adjacent encoded words is ignored.
 */
export function decodeEncodedWords(value: string): string {
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** One parsed address (or a malformed element) in the IMAP ENVELOPE form (RFC 9051 §7.5.2). */
function envelopeAddress(a: Mailbox | InvalidAddress): EnvelopeAddress {
  if (a.kind === 'mailbox') return { name: a.name, adl: a.route, mailbox: a.local, host: a.domain };
  // A local part alone (`root`): host "" (not NIL, which would mean a group).
  if (a.local !== null) return { name: a.name, adl: null, mailbox: a.local, host: '' };
  // Anything else malformed: the text as written, as the name, and no address. RFC 9051 has no
  // form for "invalid"; no client takes an empty mailbox and host for someone's address, and
  // guessing one out of broken syntax is how a forged sender gets shown (issue 10 item 5).
  return { name: a.text === '' ? null : a.text, adl: null, mailbox: '', host: '' };
}

/**
 * Parses an address list (RFC 5322 §3.4, through address.ts, the parser the submission From:
 * check uses too) into the IMAP ENVELOPE form (RFC 9051 §7.5.2): names raw (encoded words
 * kept), a group as a start entry (mailbox = group name, host NIL) and an end entry (mailbox
 * and host NIL). RFC 5322 §4.4: obsolete routes (`<@a,@b:user@host>`) go to adl.
 * A malformed list is shown element by element: what parses as it is, the rest as written
 * (see envelopeAddress); an unclosed group is closed at the end.
 * Returns null for an empty list.
 */
export function parseAddressList(value: string): EnvelopeAddress[] | null {
  const r = parseAddresses(value);
  const list: RecoveredAddress[] = r.ok ? r.addresses : r.recovered;
  const out: EnvelopeAddress[] = [];
  for (const a of list) {
    if (a.kind !== 'group') {
      out.push(envelopeAddress(a));
      continue;
    }
    out.push({ name: null, adl: null, mailbox: a.name, host: null });
    for (const m of a.members) out.push(envelopeAddress(m));
    out.push({ name: null, adl: null, mailbox: null, host: null });
  }
  return out.length ? out : null;
}

/** The ENVELOPE of a header block (RFC 9051 §7.5.2): raw values, unfolded, not decoded. */
export function buildEnvelope(fields: HeaderField[]): Envelope {
  const addr = (key: string): EnvelopeAddress[] | null => {
    const v = headerValue(fields, key);
    return v === null ? null : parseAddressList(v);
  };
  const from = addr('from');
  // RFC 9051 §7.5.2: if the Sender or Reply-To header is absent (or empty), the server sets
  // the field to the value of the From field.
  const sender = addr('sender') ?? from;
  const replyTo = addr('reply-to') ?? from;
  return {
    date: headerValue(fields, 'date'),
    subject: headerValue(fields, 'subject'),
    from,
    sender,
    replyTo,
    to: addr('to'),
    cc: addr('cc'),
    bcc: addr('bcc'),
    inReplyTo: headerValue(fields, 'in-reply-to'),
    messageId: headerValue(fields, 'message-id'),
  };
}

/** An envelope with every field NIL (for an enclosed message cut off by the limits). */
export function emptyEnvelope(): Envelope {
  return { date: null, subject: null, from: null, sender: null, replyTo: null, to: null, cc: null, bcc: null, inReplyTo: null, messageId: null };
}
