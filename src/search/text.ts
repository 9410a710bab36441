// The searchable text of a message, as IMAP SEARCH compares it (RFC 9051 §6.4.4: case-insensitive
// substring match on decoded text). One definition for both ways of searching: the scan over
// messages (src/imap/search.ts) and the full-text index (src/search/fts.ts, filled by
// indexer.ts). Because the index stores exactly these strings, an index lookup can only narrow
// the messages the scan would look at, never change what matches.
import type { MessageStructure, MimePart } from '../message/types.js';
import { decodeCharset, decodeEncodedWords, headerBytesToString, parseHeaderFields, type HeaderField } from '../message/headers.js';
import { decodeTransfer } from '../message/sections.js';

/** The envelope fields SUBJECT, FROM, TO, CC and BCC search (RFC 9051 §6.4.4). */
export type EnvelopeField = 'subject' | 'from' | 'to' | 'cc' | 'bcc';
export const ENVELOPE_FIELDS: readonly EnvelopeField[] = ['subject', 'from', 'to', 'cc', 'bcc'];

/** Bytes of text/* body searched per message at most (both the scan and the index). */
export const BODY_BUDGET = 8 * 1024 * 1024;

/** A header's text from the stored envelope, encoded words decoded (RFC 9051 §6.4.4 matches decoded text). */
export function envelopeText(st: MessageStructure, field: EnvelopeField): string {
  const env = st.envelope;
  if (field === 'subject') return env.subject ? decodeEncodedWords(env.subject) : '';
  const list = env[field];
  if (!list) return '';
  return list
    .map((a) => {
      const name = a.name ? decodeEncodedWords(a.name) + ' ' : '';
      if (a.host === null) return a.mailbox ? `${a.mailbox}:` : ';';
      return `${name}<${a.mailbox ?? ''}@${a.host}>`;
    })
    .join(', ');
}

/** The header fields of the message (top level), parsed from the stored bytes. */
export function headerFieldsOf(st: MessageStructure, raw: Uint8Array): HeaderField[] {
  return parseHeaderFields(headerBytesToString(raw.subarray(0, st.root.bodyStart)).text);
}

/** One header field as TEXT compares it: "Name: decoded value", lower case. */
export function headerLine(f: HeaderField): string {
  return `${f.name}: ${decodeEncodedWords(f.value)}`.toLowerCase();
}

/** A header value as HEADER compares it: decoded, lower case. */
export function headerValueText(f: HeaderField): string {
  return decodeEncodedWords(f.value).toLowerCase();
}

const BLOCK_TAGS = new Set(['address', 'article', 'aside', 'blockquote', 'br', 'dd', 'div', 'dl', 'dt', 'footer', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'li', 'ol', 'p', 'pre', 'section', 'table', 'td', 'th', 'tr', 'ul']);
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', shy: '', ndash: '–', mdash: '—', hellip: '…', copy: '©', reg: '®', euro: '€', laquo: '«', raquo: '»', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', bull: '•', middot: '·' };

function decodeEntity(m: string, body: string): string {
  if (body[0] === '#') {
    const cp = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
    return Number.isFinite(cp) && cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : m;
  }
  return ENTITIES[body.toLowerCase()] ?? m;
}

/**
 * text/html as a reader sees it: scripts, styles and comments dropped, block elements as line
 * breaks, other tags removed (so "hel<b>lo</b>" reads "hello"), character references decoded.
 */
export function htmlToText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?(?:-->|$)/g, '')
    .replace(/<(script|style|head)\b[\s\S]*?(?:<\/\1\s*>|$)/gi, '')
    .replace(/<\/?([a-zA-Z][a-zA-Z0-9]*)\b(?:[^>"']|"[^"]*"|'[^']*')*>/g, (_m, tag: string) => (BLOCK_TAGS.has(tag.toLowerCase()) ? '\n' : ''))
    .replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});?/g, decodeEntity);
}

/** The file name a part carries (Content-Disposition filename, or Content-Type name), or null. */
function fileName(p: MimePart): string | null {
  const n = p.disposition?.params['filename'] ?? p.params['name'];
  return n ? decodeEncodedWords(n) : null;
}

/**
 * The body text SEARCH BODY compares (lower case): every text/* leaf part, transfer- and
 * charset-decoded, text/html converted to text, parts of enclosed messages included, at most
 * BODY_BUDGET bytes of parts; then the file names of attachments, one per line.
 * `read` returns the raw bytes of the message in [start, end).
 */
export async function bodyText(st: MessageStructure, read: (start: number, end: number) => Promise<Uint8Array>): Promise<string> {
  const parts: string[] = [];
  const names: string[] = [];
  const stack: MimePart[] = [st.root];
  let budget = BODY_BUDGET;
  while (stack.length) {
    const p = stack.pop()!;
    if (p.children) {
      for (let i = p.children.length - 1; i >= 0; i--) stack.push(p.children[i]!);
      continue;
    }
    if (p.message) {
      stack.push(p.message.root);
      continue;
    }
    const name = fileName(p);
    if (name) names.push(name);
    if (p.type !== 'text' || budget <= 0) continue;
    const end = Math.min(p.bodyEnd, p.bodyStart + budget);
    const raw = Buffer.from(await read(p.bodyStart, end));
    budget -= raw.length;
    const dec = decodeTransfer(p.encoding, raw) ?? raw;
    const text = decodeCharset(dec, p.params['charset'] ?? 'utf-8');
    parts.push(p.subtype === 'html' ? htmlToText(text) : text);
  }
  return [...parts, ...names].join('\n').toLowerCase();
}

/** Every searchable text of a message, as the index keeps it (each lower case). */
export interface SearchDocument {
  subject: string;
  from: string;
  to: string;
  cc: string;
  bcc: string;
  /** Every header field as headerLine() gives it, one per line. */
  headers: string;
  body: string;
}

/** The message's searchable text; `raw` is the whole message (or at least its header and text parts). */
export async function searchDocument(st: MessageStructure, read: (start: number, end: number) => Promise<Uint8Array>): Promise<SearchDocument> {
  const header = await read(0, st.root.bodyStart);
  const fields = parseHeaderFields(headerBytesToString(header).text);
  return {
    subject: envelopeText(st, 'subject').toLowerCase(),
    from: envelopeText(st, 'from').toLowerCase(),
    to: envelopeText(st, 'to').toLowerCase(),
    cc: envelopeText(st, 'cc').toLowerCase(),
    bcc: envelopeText(st, 'bcc').toLowerCase(),
    headers: fields.map(headerLine).join('\n'),
    body: await bodyText(st, read),
  };
}

/** A reader of the message's bytes: one read of the whole message when it is of ordinary size. */
export function messageReader(size: number, readRange: (start: number, end: number) => Promise<Buffer>): (start: number, end: number) => Promise<Uint8Array> {
  if (size > BODY_BUDGET) return readRange;
  let whole: Promise<Buffer> | null = null;
  return async (start, end) => {
    whole ??= readRange(0, size);
    return (await whole).subarray(start, end);
  };
}
