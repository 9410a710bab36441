// Streaming MIME parser: bytes in, in chunks split anywhere; out comes the MIME tree with byte
// offsets (RFC 2045, RFC 2046), ENVELOPE of the message and of every enclosed message/rfc822.
// It never holds the message: only the header fields it reads, of the parts still open (each
// header bounded), and counters. Nesting is an explicit stack of open parts (no recursion), bounded by MAX_DEPTH, and
// the number of parts is bounded by MAX_PARTS: what lies beyond is kept as opaque body and the
// cut part is marked `truncated`.
import { isAscii } from 'node:buffer';
import {
  buildEnvelope,
  emptyEnvelope,
  headerBytesToString,
  headerValue,
  parseContentDisposition,
  parseContentLanguage,
  parseContentType,
  parseHeaderFields,
} from './headers.js';
import type { MessageStructure, MimePart } from './types.js';

export interface ParserLimits {
  /** Deepest nesting of parts (multipart children and enclosed messages) that is parsed. */
  maxDepth: number;
  /** Most parts (MimePart objects) in one structure. */
  maxParts: number;
  /** Most octets of the fields kept from one header block (Content-*, ENVELOPE fields). */
  maxHeaderBytes: number;
}

export const DEFAULT_LIMITS: ParserLimits = { maxDepth: 100, maxParts: 10_000, maxHeaderBytes: 64 * 1024 };

/** RFC 2046 §5.1.1: a boundary is 1 to 70 characters; longer lines are never delimiters here. */
const MAX_BOUNDARY_LINE = 1024;

/** The header fields the structure is made from: RFC 2045 §3 Content-*, RFC 9051 §7.5.2 ENVELOPE. */
const KEPT_FIELDS = new Set([
  'content-type',
  'content-transfer-encoding',
  'content-id',
  'content-description',
  'content-disposition',
  'content-language',
  'content-location',
  'content-md5',
  'date',
  'subject',
  'from',
  'sender',
  'reply-to',
  'to',
  'cc',
  'bcc',
  'in-reply-to',
  'message-id',
]);

type Mode = 'header' | 'leaf' | 'multipart' | 'message';

interface Frame {
  part: MimePart;
  depth: number;
  mode: Mode;
  /** Header bytes kept so far (bounded by maxHeaderBytes). */
  header: Buffer[];
  headerLen: number;
  headerCut: boolean;
  /** Whether the header field being read is one that is kept. */
  keepField: boolean;
  /** LF count at bodyStart, to count body lines. */
  lfAtBody: number;
  /** Multipart: the boundary (octets as a latin1 string) and where we are among the parts. */
  boundary: string | null;
  mpState: 'preamble' | 'child' | 'skip' | 'epilogue';
  /** RFC 2046 §5.1.5: in multipart/digest the default Content-Type is message/rfc822. */
  digestChild: boolean;
  /** For the root of an enclosed message: the message/rfc822 part that holds it. */
  holder: MimePart | null;
  /** IMAP section prefix of the message this frame is the root of ("" for the top level). */
  messagePrefix: string | null;
}

/** An empty part at `headerStart`, with the RFC 2045 §5.2 defaults: text/plain; charset=us-ascii, 7BIT. */
export function newPart(partNumber: string, headerStart: number): MimePart {
  return {
    partNumber,
    headerStart,
    bodyStart: headerStart,
    bodyEnd: headerStart,
    type: 'text',
    subtype: 'plain',
    params: { charset: 'us-ascii' },
    id: null,
    description: null,
    encoding: '7BIT',
    size: 0,
    lines: 0,
    md5: null,
    disposition: null,
    language: null,
    location: null,
  };
}

/** RFC 2045 §6.4: multipart and message/rfc822 may only have an identity encoding. */
function identityEncoding(enc: string): boolean {
  return enc === '7BIT' || enc === '8BIT' || enc === 'BINARY';
}

function childNumber(parent: MimePart, index: number): string {
  return parent.partNumber === '' ? String(index) : `${parent.partNumber}.${index}`;
}

export function createMessageParser(limits: Partial<ParserLimits> = {}): { write(chunk: Uint8Array): void; end(): MessageStructure } {
  const lim: ParserLimits = { ...DEFAULT_LIMITS, ...limits };
  let pos = 0; // octets consumed
  let lfCount = 0; // LFs consumed
  let lineStart = 0;
  let lineLen = 0; // octets of the current line so far, LF excluded
  let lastCR = false; // last octet of the current line so far is CR
  let prevEol = 0; // length of the line end that ends right at lineStart (0, 1 or 2)
  // The start of the current line, kept when it may be a boundary delimiter line.
  const prefix = Buffer.alloc(MAX_BOUNDARY_LINE);
  let prefixLen = 0;
  let prefixCut = false;
  let has8bit = false;
  let hasUtf8Headers = false;
  let partCount = 1;
  let truncated = false;
  let ended = false;
  let envelope = emptyEnvelope();

  const root = newPart('', 0);
  const stack: Frame[] = [makeFrame(root, 0, false, null, '')];

  function makeFrame(part: MimePart, depth: number, digestChild: boolean, holder: MimePart | null, messagePrefix: string | null): Frame {
    return {
      part,
      depth,
      mode: 'header',
      header: [],
      headerLen: 0,
      headerCut: false,
      keepField: false,
      lfAtBody: 0,
      boundary: null,
      mpState: 'preamble',
      digestChild,
      holder,
      messagePrefix,
    };
  }

  function markTruncated(part: MimePart): void {
    part.truncated = true;
    truncated = true;
  }

  /** The header of a frame is complete (or cut short): parse it and decide how to read the body. */
  function endHeader(f: Frame, bodyStart: number, lfAtBody: number): void {
    const p = f.part;
    p.bodyStart = bodyStart;
    f.lfAtBody = lfAtBody;
    const bytes = Buffer.concat(f.header, f.headerLen);
    f.header = [];
    const { text, encoding: textEnc } = headerBytesToString(bytes);
    const fields = parseHeaderFields(text);
    if (f.headerCut) markTruncated(p);

    const ctRaw = headerValue(fields, 'content-type');
    const ct = ctRaw === null ? null : parseContentType(ctRaw);
    if (ct && ct.type) {
      p.type = ct.type;
      p.subtype = ct.subtype;
      p.params = ct.params;
    } else if (f.digestChild) {
      // RFC 2046 §5.1.5: in a digest, a part without Content-Type is message/rfc822.
      p.type = 'message';
      p.subtype = 'rfc822';
      p.params = {};
    } else {
      // RFC 2045 §5.2: default (also for an invalid Content-Type) is text/plain; charset=us-ascii.
      p.type = 'text';
      p.subtype = 'plain';
      p.params = { charset: ct?.params['charset'] ?? 'us-ascii' };
    }
    // RFC 2046 §4.1.2: the default charset of text/* is US-ASCII.
    // Shown after the given parameters, as mature servers do.
    if (p.type === 'text' && p.params['charset'] === undefined) p.params = { ...p.params, charset: 'us-ascii' };
    const cte = headerValue(fields, 'content-transfer-encoding');
    // RFC 2045 §6.1: "7BIT" is the default; the mechanism is case-insensitive.
    if (cte !== null && cte.trim() !== '') p.encoding = cte.replace(/\s*\(.*$/s, '').trim().toUpperCase();
    p.id = headerValue(fields, 'content-id');
    p.description = headerValue(fields, 'content-description');
    p.md5 = headerValue(fields, 'content-md5');
    const disp = headerValue(fields, 'content-disposition');
    p.disposition = disp === null ? null : parseContentDisposition(disp);
    const lang = headerValue(fields, 'content-language');
    p.language = lang === null ? null : parseContentLanguage(lang);
    p.location = headerValue(fields, 'content-location');

    if (f.messagePrefix !== null) {
      const env = buildEnvelope(fields);
      if (f.holder) f.holder.message = { envelope: env, root: p };
      else envelope = env;
      // RFC 9051 §6.4.5: a multipart message's parts are numbered from its prefix; a
      // non-multipart message has a part 1, its body.
      if (f.holder) p.partNumber = p.type === 'multipart' ? f.messagePrefix : f.messagePrefix === '' ? '1' : `${f.messagePrefix}.1`;
    }

    if (p.type === 'multipart') {
      p.children = [];
      const b = p.params['boundary'];
      if (f.depth >= lim.maxDepth) {
        markTruncated(p);
        f.mode = 'leaf';
      } else if (b === undefined || b === '' || !identityEncoding(p.encoding)) {
        // No usable boundary: the body is opaque (a multipart with no parts).
        f.mode = 'leaf';
      } else {
        f.mode = 'multipart';
        f.boundary = Buffer.from(b, textEnc).toString('latin1');
        f.mpState = 'preamble';
        if (stack[stack.length - 1] === f) listen(f, stack.length - 1);
      }
    } else if (p.type === 'message' && (p.subtype === 'rfc822' || p.subtype === 'global') && identityEncoding(p.encoding)) {
      if (f.depth >= lim.maxDepth || partCount >= lim.maxParts) {
        markTruncated(p);
        f.mode = 'leaf';
      } else {
        // RFC 2046 §5.2.1: the body of message/rfc822 is a complete message.
        f.mode = 'message';
        const prefix = p.partNumber === '' ? '1' : p.partNumber;
        const inner = newPart(prefix, bodyStart);
        partCount++;
        p.message = { envelope: emptyEnvelope(), root: inner };
        stack.push(makeFrame(inner, f.depth + 1, false, p, prefix));
      }
    } else {
      f.mode = 'leaf';
    }
  }

  /** Closes a frame: its body ends at `end`; `lfEnd` LFs lie before `end`. */
  function closeFrame(f: Frame, end: number, lfEnd: number): void {
    const p = f.part;
    if (f.mode === 'header') {
      // The header never ended: it runs to `end`, the body is empty.
      const depth = stack.length;
      endHeader(f, end, lfEnd);
      // endHeader may have pushed an enclosed message frame; it is empty too (and, with an
      // empty header, text/plain: this goes one level deep only).
      if (stack.length > depth) closeFrame(stack.pop()!, end, lfEnd);
    }
    const bodyEnd = Math.max(end, p.bodyStart);
    p.bodyEnd = bodyEnd;
    p.size = bodyEnd - p.bodyStart;
    p.lines = Math.max(0, lfEnd - f.lfAtBody);
  }

  /** Closes every frame deeper than `index`, at a delimiter line that starts at `lineStart`. */
  function closeAbove(index: number): void {
    while (stack.length - 1 > index) {
      const f = stack.pop()!;
      unlisten(f);
      // RFC 2046 §5.1.1: the CRLF before a boundary delimiter belongs to the delimiter.
      const body = f.mode === 'header' ? lineStart : f.part.bodyStart;
      const excl = lineStart > body ? prevEol : 0;
      closeFrame(f, lineStart - excl, lfCount - (excl > 0 ? 1 : 0));
    }
  }

  /**
   * Open multiparts by boundary: boundary -> their indexes in the stack, innermost last. A line
   * is looked up once, whatever the depth: no scan of every open boundary per line.
   */
  const listening = new Map<string, number[]>();

  function listen(f: Frame, index: number): void {
    const list = listening.get(f.boundary!);
    if (list) list.push(index);
    else listening.set(f.boundary!, [index]);
  }

  function unlisten(f: Frame): void {
    if (f.mode !== 'multipart' || f.mpState === 'epilogue' || f.boundary === null) return;
    const list = listening.get(f.boundary);
    if (!list) return;
    list.pop(); // frames close innermost first
    if (list.length === 0) listening.delete(f.boundary);
  }

  /** Which open multipart (index in the stack) the current line is a delimiter of, if any. */
  function matchBoundary(): { index: number; close: boolean } | null {
    if (listening.size === 0 || prefixCut || prefixLen < 3 || prefix[0] !== 0x2d || prefix[1] !== 0x2d) return null;
    let len = prefixLen;
    if (lastCR) len--; // the CR of CRLF is in the prefix
    // RFC 2046 §5.1.1: transport-padding (LWSP) may follow the delimiter.
    while (len > 2 && (prefix[len - 1] === 0x20 || prefix[len - 1] === 0x09)) len--;
    const text = prefix.toString('latin1', 2, len);
    const open = listening.get(text);
    // RFC 2046 §5.1.1: the close delimiter is the delimiter followed by "--".
    const close = text.endsWith('--') ? listening.get(text.slice(0, -2)) : undefined;
    const o = open ? open[open.length - 1]! : -1;
    const c = close ? close[close.length - 1]! : -1;
    if (o < 0 && c < 0) return null;
    // Both (boundaries "x" and "x--"): the innermost multipart wins.
    return o > c ? { index: o, close: false } : { index: c, close: true };
  }

  /** A complete line (content + `eol` octets of line end) has been consumed. */
  function onLine(eol: number): void {
    const contentLen = lineLen - (eol === 2 ? 1 : 0);
    const m = matchBoundary();
    if (m) {
      closeAbove(m.index);
      const mp = stack[m.index]!;
      if (m.close) {
        unlisten(mp);
        mp.mpState = 'epilogue';
      } else if (partCount >= lim.maxParts) {
        // Limit reached: the rest up to the next delimiter is skipped, like a preamble.
        markTruncated(mp.part);
        mp.mpState = 'skip';
      } else {
        const children = mp.part.children!;
        const child = newPart(childNumber(mp.part, children.length + 1), lineStart + lineLen + (eol === 2 ? 1 : eol));
        children.push(child);
        partCount++;
        mp.mpState = 'child';
        stack.push(makeFrame(child, mp.depth + 1, mp.part.subtype === 'digest', null, null));
      }
      return;
    }
    const top = stack[stack.length - 1]!;
    if (top.mode === 'header' && contentLen === 0) {
      // RFC 5322 §2.1: an empty line ends the header.
      endHeader(top, lineStart + lineLen + (eol === 2 ? 1 : eol), lfCount + (eol > 0 ? 1 : 0));
    }
  }

  /** The current header line, while the deepest open part is in its header (bounded). */
  let hdrLine: Buffer[] = [];
  let hdrLineLen = 0;
  let hdrLineCut = false;

  function appendHeaderLine(chunk: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    const room = lim.maxHeaderBytes - hdrLineLen;
    const take = Math.min(Math.max(room, 0), to - from);
    if (take > 0) {
      hdrLine.push(Buffer.from(chunk.subarray(from, from + take)));
      hdrLineLen += take;
    }
    if (take < to - from) hdrLineCut = true;
  }

  /**
   * A header line is complete. Only the fields this parser reads (Content-*, the ENVELOPE fields)
   * are kept, up to maxHeaderBytes per header block: a huge header (long Received chains,
   * spam) costs no memory and cannot push Content-Type out of reach.
   */
  function commitHeaderLine(f: Frame): void {
    const line = hdrLine.length === 1 ? hdrLine[0]! : Buffer.concat(hdrLine, hdrLineLen);
    const cut = hdrLineCut;
    hdrLine = [];
    hdrLineLen = 0;
    hdrLineCut = false;
    if (line.length === 0) return;
    // RFC 6532 §3.2: UTF-8 in a header field needs SMTPUTF8 to be relayed.
    if (!hasUtf8Headers && !isAscii(line)) hasUtf8Headers = true;
    const c = line[0]!;
    if (c === 0x20 || c === 0x09) {
      // RFC 5322 §2.2.3: a continuation line belongs to the field before it.
      if (!f.keepField) return;
    } else if (c === 0x0a || (c === 0x0d && line[1] === 0x0a)) {
      // the empty line that ends the header
    } else {
      const colon = line.indexOf(0x3a);
      f.keepField = colon > 0 && KEPT_FIELDS.has(line.subarray(0, colon).toString('latin1').trim().toLowerCase());
      if (!f.keepField) return;
    }
    if (cut) f.headerCut = true;
    if (f.headerLen + line.length > lim.maxHeaderBytes) {
      f.headerCut = true;
      f.keepField = false;
      return;
    }
    f.header.push(line);
    f.headerLen += line.length;
  }

  function write(chunk: Uint8Array): void {
    if (ended) throw new Error('message parser: write after end');
    const n = chunk.length;
    if (n === 0) return;
    if (!has8bit && !isAscii(chunk)) has8bit = true;
    let i = 0;
    while (i < n) {
      const nl = chunk.indexOf(0x0a, i);
      const segEnd = nl === -1 ? n : nl;
      const top = stack[stack.length - 1]!;
      // Keep the start of the line while it may still be a delimiter line.
      if (segEnd > i) {
        if (lineLen === 0) {
          prefixLen = 0;
          prefixCut = false;
        }
        if (!prefixCut && (lineLen > 0 ? prefixLen > 0 : chunk[i] === 0x2d)) {
          const take = Math.min(segEnd - i, MAX_BOUNDARY_LINE - prefixLen);
          prefix.set(chunk.subarray(i, i + take), prefixLen);
          prefixLen += take;
          if (take < segEnd - i) prefixCut = true;
        }
        lineLen += segEnd - i;
        lastCR = chunk[segEnd - 1] === 0x0d;
      }
      if (top.mode === 'header') appendHeaderLine(chunk, i, nl === -1 ? n : nl + 1);
      if (nl === -1) break;
      // A line ends at this LF.
      const eol = lastCR ? 2 : 1;
      if (lineLen === 0) prefixLen = 0;
      if (top.mode === 'header') commitHeaderLine(top);
      onLine(eol);
      lfCount++;
      prevEol = eol;
      lineLen = 0;
      lastCR = false;
      prefixLen = 0;
      prefixCut = false;
      i = nl + 1;
      // Offsets are absolute: lineStart counts from the start of the message.
      lineStart = pos + i;
    }
    pos += n;
  }

  function end(): MessageStructure {
    if (ended) throw new Error('message parser: end called twice');
    // A last line without a line end: it may still be a close delimiter.
    if (lineLen > 0) {
      const top = stack[stack.length - 1]!;
      if (top.mode === 'header') commitHeaderLine(top);
      onLine(0);
    }
    ended = true;
    while (stack.length) {
      const f = stack.pop()!;
      closeFrame(f, pos, lfCount);
    }
    return {
      version: 1,
      size: pos,
      lines: lfCount,
      envelope,
      root,
      has8bit,
      hasUtf8Headers,
      ...(truncated ? { truncated: true } : {}),
    };
  }

  return { write, end };
}

/** Parses a whole message held in memory. */
export function parseMessage(bytes: Uint8Array, limits?: Partial<ParserLimits>): MessageStructure {
  const p = createMessageParser(limits);
  p.write(bytes);
  return p.end();
}
