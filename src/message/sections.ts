// FETCH BODY[section] / BINARY[section] support: which octets of the stored message a section
// names (RFC 9051 §6.4.5), header field subsets, content-transfer decoding (RFC 2045 §6.7, §6.8)
// and the decoded text of a message for SEARCH (RFC 9051 §6.4.4).
import { decodeCharset, decodeEncodedWords, headerBytesToString, parseHeaderFields } from './headers.js';
import type { MessageStructure, MimePart } from './types.js';

/** A parsed section-spec (RFC 9051 §9). */
export interface SectionSpec {
  /** section-part: [1, 2] for "1.2"; [] for the whole message. */
  part: number[];
  /** section-text / section-msgtext; absent for the whole part. */
  text?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  /** header-list of HEADER.FIELDS [.NOT], as given. */
  fields?: string[];
}

/**
 * The octets a section names: `raw.subarray(start, end)`, then `filter` applied when present
 * (HEADER.FIELDS and HEADER.FIELDS.NOT: the filter takes those header octets and returns the
 * subset). The partial `<origin.count>` of FETCH applies to the result, after the filter.
 */
export interface SectionRange {
  start: number;
  end: number;
  filter?: (header: Uint8Array) => Buffer;
}

/**
 * Parses a section-spec, the text between "[" and "]" (RFC 9051 §9):
 *   section-spec = section-msgtext / (section-part ["." section-text])
 *   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
 *   section-text = section-msgtext / "MIME"
 * header-list items are atoms or quoted strings (a literal is the IMAP tokenizer's job: pass
 * the names with `spec.fields` instead). Returns null on a syntax error.
 */
export function parseSection(s: string): SectionSpec | null {
  const m = /^((?:[1-9][0-9]*)(?:\.[1-9][0-9]*)*)?(?:(^|\.)(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)(?:\s+\((.*)\))?)?$/is.exec(s.trim());
  if (!m) return null;
  const part = m[1] ? m[1].split('.').map(Number) : [];
  if (!m[3]) {
    if (m[2] === '.' || m[4] !== undefined) return null;
    return { part };
  }
  if (m[1] && m[2] !== '.') return null;
  const text = m[3].toUpperCase() as NonNullable<SectionSpec['text']>;
  // RFC 9051 §6.4.5: MIME must be prefixed by a part number.
  if (text === 'MIME' && part.length === 0) return null;
  const isFields = text === 'HEADER.FIELDS' || text === 'HEADER.FIELDS.NOT';
  if (isFields !== (m[4] !== undefined)) return null;
  if (!isFields) return { part, text };
  const fields: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^\s()"]+))/gy;
  const list = m[4]!;
  let mm: RegExpExecArray | null;
  let last = 0;
  while ((mm = re.exec(list))) {
    fields.push(mm[1] !== undefined ? mm[1].replace(/\\(.)/g, '$1') : mm[2]!);
    last = re.lastIndex;
  }
  if (list.slice(last).trim() !== '' || fields.length === 0) return null;
  return { part, text, fields };
}

function isMessagePart(p: MimePart): boolean {
  return p.type === 'message' && (p.subtype === 'rfc822' || p.subtype === 'global') && p.message !== undefined;
}

/**
 * The part a section-part names, or null when there is none.
 * RFC 9051 §6.4.5: a non-multipart message (with no encapsulated message) has only a part 1, its
 * body; the parts of a multipart are numbered from 1; the parts of a MESSAGE/RFC822 part are the
 * parts of the message in its body (so "2.1" is the first part of a multipart message in part 2,
 * or the body of a non-multipart message in part 2).
 */
export function findPart(structure: MessageStructure, path: number[]): MimePart | null {
  let p: MimePart = structure.root;
  let atMessageRoot = true;
  for (const n of path) {
    if (p.type === 'multipart') {
      const c = p.children?.[n - 1];
      if (!c) return null;
      p = c;
    } else if (atMessageRoot) {
      if (n !== 1) return null;
    } else if (isMessagePart(p)) {
      const r: MimePart = p.message!.root;
      if (r.type === 'multipart') {
        const c = r.children?.[n - 1];
        if (!c) return null;
        p = c;
      } else {
        if (n !== 1) return null;
        p = r;
      }
    } else {
      // A leaf part has no sub-parts (RFC 9051 §6.4.5 numbers only multipart and message parts).
      return null;
    }
    atMessageRoot = false;
  }
  return p;
}

/**
 * The octets of FETCH BODY[section] (RFC 9051 §6.4.5), or null when the section names nothing
 * in this message (no such part, or HEADER/TEXT of a part that is not a message). Mature
 * servers answer such a section with an empty string.
 */
export function resolveSection(structure: MessageStructure, section: SectionSpec | string): SectionRange | null {
  const spec = typeof section === 'string' ? parseSection(section) : section;
  if (!spec) return null;
  if (spec.part.length === 0) {
    // RFC 9051 §6.4.5: without a part number, HEADER/TEXT refer to the message itself.
    if (!spec.text) return { start: 0, end: structure.size };
    if (spec.text === 'MIME') return null;
    return messageSection(structure.root, structure.size, spec);
  }
  const p = findPart(structure, spec.part);
  if (!p) return null;
  if (!spec.text) return { start: p.bodyStart, end: p.bodyEnd };
  // RFC 9051 §6.4.5: MIME is the [MIME-IMB] header of this part.
  if (spec.text === 'MIME') return { start: p.headerStart, end: p.bodyStart };
  // RFC 9051 §6.4.5: HEADER, HEADER.FIELDS[.NOT] and TEXT after a part number need a
  // MESSAGE/RFC822 or MESSAGE/GLOBAL part; they then name the header or body of that message.
  if (!isMessagePart(p)) return null;
  const root = p.message!.root;
  return messageSection(root, p.bodyEnd, spec);
}

function messageSection(root: MimePart, end: number, spec: SectionSpec): SectionRange {
  const header = { start: root.headerStart, end: root.bodyStart };
  switch (spec.text) {
    case 'TEXT':
      // RFC 9051 §6.4.5: TEXT is the body of the message, without its header.
      return { start: root.bodyStart, end };
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT': {
      const names = spec.fields ?? [];
      const not = spec.text === 'HEADER.FIELDS.NOT';
      return { ...header, filter: (h) => filterHeaderFields(h, names, not) };
    }
    default:
      return header;
  }
}

/**
 * HEADER.FIELDS / HEADER.FIELDS.NOT (RFC 9051 §6.4.5): the header fields whose name matches
 * (or, with `not`, does not match) one of `names`, ASCII case-insensitively, in the order of the
 * message and with their folding kept. "Subsetting does not exclude the [RFC5322] delimiting blank
 * line between the header and the body; the blank line is included in all header fetches, except
 * in the case of a message that has no body and no blank line."
 */
export function filterHeaderFields(header: Uint8Array, names: readonly string[], not: boolean): Buffer {
  const want = new Set(names.map((n) => n.toLowerCase()));
  const buf = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  const out: Buffer[] = [];
  let keep = false;
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    const lineEnd = nl === -1 ? buf.length : nl + 1;
    const line = buf.subarray(pos, lineEnd);
    const empty = line.length === 0 || line[0] === 0x0a || (line[0] === 0x0d && line[1] === 0x0a);
    if (empty) {
      // The delimiting blank line ends the header.
      out.push(line);
      break;
    }
    if (line[0] === 0x20 || line[0] === 0x09) {
      // RFC 5322 §2.2.3: a folded continuation belongs to the field before it.
      if (keep) out.push(line);
    } else {
      const colon = line.indexOf(0x3a);
      if (colon <= 0) keep = false;
      else {
        const name = line.subarray(0, colon).toString('latin1').trim().toLowerCase();
        keep = want.has(name) !== not;
      }
      if (keep) out.push(line);
    }
    pos = lineEnd;
  }
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------
// Content-Transfer-Encoding

const B64 = new Int16Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => (B64[c.charCodeAt(0)] = i));

/** A decoder for a Content-Transfer-Encoding that takes the body in chunks. */
export interface TransferDecoder {
  write(chunk: Uint8Array): Buffer;
  end(): Buffer;
}

/**
 * A streaming decoder for a Content-Transfer-Encoding (RFC 2045 §6), or null when the encoding
 * is unknown (RFC 3516 §4.2: BINARY then answers NO [UNKNOWN-CTE]).
 * 7BIT, 8BIT and BINARY are the identity (RFC 2045 §6.2).
 */
export function createTransferDecoder(encoding: string): TransferDecoder | null {
  const enc = encoding.trim().toUpperCase();
  if (enc === '' || enc === '7BIT' || enc === '8BIT' || enc === 'BINARY') {
    return { write: (c) => Buffer.from(c), end: () => Buffer.alloc(0) };
  }
  if (enc === 'BASE64') return base64Decoder();
  if (enc === 'QUOTED-PRINTABLE') return qpDecoder();
  return null;
}

/**
 * RFC 2045 §6.8: base64. Characters outside the alphabet (line breaks, garbage) are ignored;
 * "=" ends the data.
 */
function base64Decoder(): TransferDecoder {
  let acc = 0;
  let bits = 0;
  let done = false;
  const write = (chunk: Uint8Array): Buffer => {
    const out = Buffer.allocUnsafe(Math.ceil((chunk.length * 3) / 4) + 3);
    let o = 0;
    for (let i = 0; i < chunk.length && !done; i++) {
      const c = chunk[i]!;
      if (c === 0x3d) {
        done = true;
        break;
      }
      const v = B64[c]!;
      if (v < 0) continue;
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >> bits) & 0xff;
      }
    }
    return out.subarray(0, o);
  };
  return { write, end: () => Buffer.alloc(0) };
}

/**
 * RFC 2045 §6.7: quoted-printable. "=XX" is an octet (rule 1), "=" at the end of a line is a soft
 * line break (rule 5), and whitespace at the end of a line is removed (rule 3). A "=" not
 * followed by two hex digits is kept as it is (§6.7, note 2: robust decoders).
 */
const MAX_QP_PENDING = 64 * 1024;

function qpDecoder(): TransferDecoder {
  let pending = Buffer.alloc(0); // an incomplete line, kept until its line end arrives
  const hex = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);
  // Output goes to `out` at `o`; a line decodes to at most its own length plus one (LF -> CRLF).
  let out = Buffer.alloc(0);
  let o = 0;
  const decodeLine = (line: Buffer, hasEol: boolean): void => {
    let end = line.length;
    if (hasEol) {
      // strip the line end, then trailing whitespace (rule 3)
      end--;
      if (end > 0 && line[end - 1] === 0x0d) end--;
      while (end > 0 && (line[end - 1] === 0x20 || line[end - 1] === 0x09)) end--;
    }
    let soft = false;
    for (let i = 0; i < end; i++) {
      const c = line[i]!;
      if (c === 0x3d) {
        if (i === end - 1 && hasEol) {
          soft = true;
          break;
        }
        if (i + 2 < end) {
          const h = hex(line[i + 1]!);
          const l = hex(line[i + 2]!);
          if (h >= 0 && l >= 0) {
            out[o++] = h * 16 + l;
            i += 2;
            continue;
          }
        }
      }
      out[o++] = c;
    }
    if (hasEol && !soft) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    }
  };
  const write = (chunk: Uint8Array): Buffer => {
    const data = pending.length ? Buffer.concat([pending, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    out = Buffer.allocUnsafe(data.length * 2 + 2);
    o = 0;
    let pos = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, pos);
      if (nl === -1) break;
      decodeLine(data.subarray(pos, nl + 1), true);
      pos = nl + 1;
    }
    // A line that never ends must not grow without bound: decode all of it but its last octets
    // (kept so that a "=XX" and the trailing whitespace of the line are seen whole).
    if (data.length - pos > MAX_QP_PENDING) {
      let cut = data.length - 3;
      const eq = data.lastIndexOf(0x3d, cut - 1);
      if (eq >= pos && eq >= cut - 2) cut = eq;
      while (cut > pos && (data[cut - 1] === 0x20 || data[cut - 1] === 0x09)) cut--;
      decodeLine(data.subarray(pos, cut), false);
      pos = cut;
    }
    pending = Buffer.from(data.subarray(pos));
    return Buffer.from(out.subarray(0, o));
  };
  const end = (): Buffer => {
    out = Buffer.allocUnsafe(pending.length + 2);
    o = 0;
    if (pending.length) decodeLine(pending, false);
    pending = Buffer.alloc(0);
    return Buffer.from(out.subarray(0, o));
  };
  return { write, end };
}

/** Decodes a whole body; null when the encoding is unknown. */
export function decodeTransfer(encoding: string, bytes: Uint8Array): Buffer | null {
  const d = createTransferDecoder(encoding);
  if (!d) return null;
  const a = d.write(bytes);
  const b = d.end();
  return b.length ? Buffer.concat([a, b]) : a;
}

// ---------------------------------------------------------------------------------------------
// Text for SEARCH

/** Every leaf part of a message, enclosed messages included, in order. */
export function leafParts(structure: MessageStructure): MimePart[] {
  const out: MimePart[] = [];
  const work: MimePart[] = [structure.root];
  while (work.length) {
    const p = work.pop()!;
    if (p.type === 'multipart') {
      const c = p.children ?? [];
      for (let i = c.length - 1; i >= 0; i--) work.push(c[i]!);
    } else if (p.message) work.push(p.message.root);
    else out.push(p);
  }
  return out;
}

/**
 * The decoded text of one text/* part (transfer encoding and charset undone), or null when the
 * part is not text or its encoding is unknown.
 */
export function decodedPartText(part: MimePart, raw: Uint8Array): string | null {
  if (part.type !== 'text') return null;
  const body = decodeTransfer(part.encoding, raw.subarray(part.bodyStart, part.bodyEnd));
  if (!body) return null;
  return decodeCharset(body, part.params['charset'] ?? 'us-ascii');
}

/**
 * The body text of a message for SEARCH BODY / TEXT (RFC 9051 §6.4.4): the decoded text of
 * every text part, enclosed messages included, joined by newlines.
 */
export function partText(structure: MessageStructure, raw: Uint8Array): string {
  const texts: string[] = [];
  for (const p of leafParts(structure)) {
    const t = decodedPartText(p, raw);
    if (t !== null) texts.push(t);
  }
  return texts.join('\n');
}

/**
 * The header of the message as text for SEARCH HEADER / TEXT / SUBJECT...: fields unfolded and
 * encoded words decoded (RFC 2047). Returns the fields so a search can pick one by name.
 */
export function headerText(structure: MessageStructure, raw: Uint8Array): Array<{ name: string; value: string }> {
  const bytes = raw.subarray(structure.root.headerStart, structure.root.bodyStart);
  return parseHeaderFields(headerBytesToString(bytes).text).map((f) => ({ name: f.name, value: decodeEncodedWords(f.value) }));
}
