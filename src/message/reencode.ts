// Makes a stored message fit for SMTP relay when it has lines over 998 octets (RFC 5322 §2.1.1,
// RFC 5321 §4.5.3.1.6): we accept such lines (smtp.max_line_length) and store the message byte
// for byte, but never send them on. The parts that hold a long line are re-encoded (RFC 2045
// §6.7 quoted-printable for text, §6.8 base64 otherwise, Content-Transfer-Encoding updated, the
// multipart structure untouched); a long header line is folded at its white space (RFC 5322
// §2.2.3); a long line in a multipart preamble or epilogue (which readers ignore, RFC 2046
// §5.1.1) is broken. What cannot be made to fit throws UnrelayableError: the queue bounces the
// message with that reason instead of sending it broken.
//
// Streaming: the parts are found with the MIME parser (parser.ts) in one pass over the file; the
// re-encoded message is produced as a stream from ranges of the file each time it is read (DKIM
// signing, then sending). Memory: one line at a time only where a line must be seen whole (a
// header line being folded, a preamble line being broken), bounded by `maxHeldLine`; the offsets
// of the long lines (at most one per 999 octets of the message).
import { Readable } from 'node:stream';
import { createMessageParser } from './parser.js';
import type { MimePart } from './types.js';

/** RFC 5322 §2.1.1, RFC 5321 §4.5.3.1.6: at most 998 octets on a line, CRLF not counted. */
export const MAX_LINE = 998;

/** Opens the stored message, or a range of it (end exclusive). */
export type MessageOpener = (range?: { start?: number; end?: number }) => NodeJS.ReadableStream;

/** The message cannot be relayed without breaking it; `message` is the reason for the DSN. */
export class UnrelayableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnrelayableError';
  }
}

export interface Reencoded {
  /** Octets of the re-encoded message. */
  size: number;
  /** The re-encoded message (a fresh stream each time). */
  open(): Readable;
  /** What was changed, for the logs: e.g. ["part 2: quoted-printable", "header folded"]. */
  changes: string[];
}

export interface ReencodeOptions {
  /** Longest line held whole in memory (a header line to fold, a preamble line); longer: unrelayable. */
  maxHeldLine?: number;
}

interface LongLine {
  start: number;
  /** Octets without the line end. */
  length: number;
}

type Segment =
  | { kind: 'header'; start: number; end: number; cte: string | null; mimeVersion: boolean }
  | { kind: 'qp' | 'base64' | 'rewrap-base64' | 'soft-break-qp'; start: number; end: number }
  | { kind: 'split'; start: number; end: number };

const WSP = (b: number | undefined): boolean => b === 0x20 || b === 0x09;

/** The lines over MAX_LINE octets of the message, and its size. One pass, nothing kept but offsets. */
async function findLongLines(open: MessageOpener): Promise<{ long: LongLine[]; size: number }> {
  const long: LongLine[] = [];
  let pos = 0;
  let lineStart = 0;
  let lastCr = false;
  for await (const c of open() as AsyncIterable<Buffer>) {
    let i = 0;
    for (;;) {
      const lf = c.indexOf(0x0a, i);
      if (lf < 0) break;
      const cr = lf > 0 ? c[lf - 1] === 0x0d : lastCr;
      const length = pos + lf - lineStart - (cr ? 1 : 0);
      if (length > MAX_LINE) long.push({ start: lineStart, length });
      lineStart = pos + lf + 1;
      i = lf + 1;
    }
    if (c.length) lastCr = c[c.length - 1] === 0x0d;
    pos += c.length;
  }
  if (pos - lineStart > MAX_LINE) long.push({ start: lineStart, length: pos - lineStart });
  return { long, size: pos };
}

async function parseStructure(open: MessageOpener): Promise<MimePart> {
  const p = createMessageParser();
  for await (const c of open() as AsyncIterable<Buffer>) p.write(c);
  return p.end().root;
}

/**
 * Plans the re-encoding of a stored message: null when every line is within 998 octets (send
 * it as it is), else the re-encoded message. Throws UnrelayableError when it cannot be done.
 */
export async function reencodeForRelay(open: MessageOpener, opts: ReencodeOptions = {}): Promise<Reencoded | null> {
  const maxHeldLine = opts.maxHeldLine ?? 1024 * 1024;
  const { long, size } = await findLongLines(open);
  if (!long.length) return null;
  const root = await parseStructure(open);
  const segments: Segment[] = [];
  const changes: string[] = [];
  // index of the first long line at or after `start` (long is sorted by start)
  const firstAt = (start: number): number => {
    let lo = 0;
    let hi = long.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (long[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const longIn = (start: number, end: number): LongLine[] => {
    const out: LongLine[] = [];
    for (let i = firstAt(start); i < long.length && long[i]!.start < end; i++) out.push(long[i]!);
    return out;
  };
  const label = (p: MimePart): string => (p.partNumber === '' ? 'the message body' : `part ${p.partNumber}`);

  const walk = (p: MimePart, messageRoot: boolean): void => {
    const headerLong = longIn(p.headerStart, p.bodyStart).length > 0;
    let cte: string | null = null;
    let body: Segment | null = null;
    if (p.type === 'multipart' && p.children) {
      for (const c of p.children) walk(c, false);
      // Long lines outside every child: the preamble, the epilogue (RFC 2046 §5.1.1: ignored by readers).
      const outside = longIn(p.bodyStart, p.bodyEnd).filter((l) => !p.children!.some((c) => l.start >= c.headerStart && l.start < c.bodyEnd));
      if (outside.length && p.truncated) throw new UnrelayableError(`${label(p)} has a line over ${MAX_LINE} octets in a part too deeply nested to re-encode`);
      for (const l of outside) segments.push({ kind: 'split', start: l.start, end: l.start + l.length });
      if (outside.length) changes.push(`${label(p)}: preamble/epilogue lines broken`);
    } else if (p.message) {
      walk(p.message.root, true);
    } else if (longIn(p.bodyStart, p.bodyEnd).length) {
      const enc = p.encoding;
      if (enc === 'BASE64') body = { kind: 'rewrap-base64', start: p.bodyStart, end: p.bodyEnd };
      else if (enc === 'QUOTED-PRINTABLE') body = { kind: 'soft-break-qp', start: p.bodyStart, end: p.bodyEnd };
      else if (enc === '7BIT' || enc === '8BIT' || enc === 'BINARY') {
        // RFC 2045 §6.4, RFC 2046 §5.2.1: multipart and message types take no encoding but identity.
        if (p.type === 'multipart' || p.type === 'message') throw new UnrelayableError(`${label(p)} (${p.type}/${p.subtype}) has a line over ${MAX_LINE} octets and may not be re-encoded`);
        cte = p.type === 'text' ? 'quoted-printable' : 'base64';
        body = { kind: cte === 'base64' ? 'base64' : 'qp', start: p.bodyStart, end: p.bodyEnd };
      } else throw new UnrelayableError(`${label(p)} has a line over ${MAX_LINE} octets in an unknown transfer encoding (${enc})`);
      changes.push(`${label(p)}: ${cte ?? `${enc.toLowerCase()} re-wrapped`}`);
    }
    if (headerLong || cte) {
      segments.push({ kind: 'header', start: p.headerStart, end: p.bodyStart, cte, mimeVersion: messageRoot && cte !== null });
      if (headerLong) changes.push(`${p.partNumber === '' ? 'message' : `part ${p.partNumber}`} header: long lines folded`);
    }
    if (body) segments.push(body);
  };
  walk(root, true);
  segments.sort((a, b) => a.start - b.start);

  const generate = async function* (): AsyncGenerator<Buffer> {
    let pos = 0;
    for (const s of segments) {
      if (s.start > pos) yield* copy(open, pos, s.start);
      yield* transform(open, s, maxHeldLine);
      pos = s.end;
    }
    if (size > pos) yield* copy(open, pos, size);
  };
  // One pass to learn the size (SIZE=, the remote's limit); it also finds what cannot be folded.
  let outSize = 0;
  for await (const b of generate()) outSize += b.length;
  return { size: outSize, open: () => Readable.from(generate(), { objectMode: false }), changes };
}

async function* copy(open: MessageOpener, start: number, end: number): AsyncGenerator<Buffer> {
  if (end <= start) return;
  for await (const c of open({ start, end }) as AsyncIterable<Buffer>) yield c;
}

/** The lines of a range, each with its line end (the last one may have none), each at most `max` octets. */
async function* lines(open: MessageOpener, start: number, end: number, max: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const c of open({ start, end }) as AsyncIterable<Buffer>) {
    let i = 0;
    for (;;) {
      const lf = c.indexOf(0x0a, i);
      const piece = c.subarray(i, lf < 0 ? c.length : lf + 1);
      held += piece.length;
      if (held > max) throw new UnrelayableError(`a line of more than ${max} octets is too long to re-encode`);
      if (piece.length) parts.push(piece);
      if (lf < 0) break;
      yield parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      parts = [];
      held = 0;
      i = lf + 1;
    }
  }
  if (held) yield Buffer.concat(parts);
}

function eolLength(line: Buffer): number {
  if (line[line.length - 1] !== 0x0a) return 0;
  return line.length > 1 && line[line.length - 2] === 0x0d ? 2 : 1;
}

/**
 * RFC 5322 §2.2.3: folds a header line (without its line end) by putting CRLF before white
 * space, so that no line is over MAX_LINE octets and none is white space only.
 */
export function foldHeaderLine(line: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  let s = 0;
  while (line.length - s > MAX_LINE) {
    // the piece must hold something other than white space
    let firstText = s;
    while (firstText < line.length && WSP(line[firstText])) firstText++;
    let p = Math.min(s + MAX_LINE, line.length - 1);
    while (p > firstText && !WSP(line[p])) p--;
    if (p <= firstText) {
      const name = /^[^:\s]{1,76}/.exec(line.subarray(0, 80).toString('latin1'))?.[0] ?? '?';
      throw new UnrelayableError(`header field ${name} has a line over ${MAX_LINE} octets that cannot be folded (no white space to fold at)`);
    }
    pieces.push(line.subarray(s, p));
    s = p;
  }
  pieces.push(line.subarray(s));
  return pieces;
}

const CRLF = Buffer.from('\r\n');

async function* transform(open: MessageOpener, s: Segment, maxHeldLine: number): AsyncGenerator<Buffer> {
  switch (s.kind) {
    case 'header': {
      // Drops the old Content-Transfer-Encoding (with its continuation lines) when replaced, adds
      // the new one (and MIME-Version on a message's own header, RFC 2045 §4) before the empty line.
      let dropping = false;
      let mimeVersion = false;
      for await (const line of lines(open, s.start, s.end, maxHeldLine)) {
        const eol = eolLength(line);
        const content = line.subarray(0, line.length - eol);
        if (content.length === 0 && eol) {
          if (s.cte) {
            if (s.mimeVersion && !mimeVersion) yield Buffer.from('MIME-Version: 1.0\r\n');
            yield Buffer.from(`Content-Transfer-Encoding: ${s.cte}\r\n`);
          }
          yield line;
          continue;
        }
        if (!WSP(content[0])) {
          const name = content.subarray(0, Math.max(0, content.indexOf(0x3a))).toString('latin1').trim().toLowerCase();
          if (name === 'mime-version') mimeVersion = true;
          dropping = s.cte !== null && name === 'content-transfer-encoding';
        }
        if (dropping) continue;
        if (content.length <= MAX_LINE) {
          yield line;
          continue;
        }
        const pieces = foldHeaderLine(content);
        for (let i = 0; i < pieces.length; i++) {
          yield pieces[i]!;
          if (i < pieces.length - 1) yield CRLF;
        }
        if (eol) yield line.subarray(line.length - eol);
      }
      return;
    }
    case 'split': {
      // A preamble/epilogue line (RFC 2046 §5.1.1: ignored by readers): broken into lines of at
      // most MAX_LINE octets, none starting with "-", so that none can pose as a boundary.
      let line = Buffer.alloc(0);
      for await (const c of lines(open, s.start, s.end, maxHeldLine)) line = Buffer.concat([line, c]);
      let st = 0;
      while (line.length - st > MAX_LINE) {
        let p = st + MAX_LINE;
        while (p > st + 1 && line[p] === 0x2d) p--;
        if (line[p] === 0x2d) throw new UnrelayableError(`a multipart preamble line over ${MAX_LINE} octets cannot be broken safely`);
        yield line.subarray(st, p);
        yield CRLF;
        st = p;
      }
      yield line.subarray(st);
      return;
    }
    case 'qp': {
      const enc = new QpEncoder();
      for await (const c of open({ start: s.start, end: s.end }) as AsyncIterable<Buffer>) yield enc.write(c);
      yield enc.end();
      return;
    }
    case 'base64': {
      const enc = new Base64Lines(false);
      for await (const c of open({ start: s.start, end: s.end }) as AsyncIterable<Buffer>) yield enc.write(c);
      yield enc.end();
      return;
    }
    case 'rewrap-base64': {
      const enc = new Base64Lines(true);
      for await (const c of open({ start: s.start, end: s.end }) as AsyncIterable<Buffer>) yield enc.write(c);
      yield enc.end();
      return;
    }
    case 'soft-break-qp': {
      const br = new QpSoftBreaker();
      for await (const c of open({ start: s.start, end: s.end }) as AsyncIterable<Buffer>) yield br.write(c);
      return;
    }
  }
}

const HEX = Buffer.from('0123456789ABCDEF');
/** RFC 2045 §6.7: output lines of at most 76 octets; 75 before a soft line break's "=". */
const QP_LINE = 75;

/**
 * RFC 2045 §6.7 quoted-printable encoder, streaming. CRLF is a hard line break; a bare CR or LF,
 * "=", control and 8-bit octets are =XX; white space before a line end (or at the end) is
 * encoded; a "-" or "." at the start of a line is encoded too, so that no encoded line can look
 * like a MIME boundary (RFC 2046 §5.1.1) or need dot-stuffing.
 */
export class QpEncoder {
  private col = 0;
  private pendingCr = false;
  private pendingWs = -1;
  private out: Buffer = Buffer.alloc(0);
  private o = 0;

  private put(b: number): void {
    this.out[this.o++] = b;
  }

  private token(b: number, encode: boolean): void {
    let enc = encode || (this.col === 0 && (b === 0x2d || b === 0x2e));
    const k = enc ? 3 : 1;
    if (this.col + k > QP_LINE) {
      this.put(0x3d);
      this.put(0x0d);
      this.put(0x0a);
      this.col = 0;
      enc = encode || b === 0x2d || b === 0x2e;
    }
    if (enc) {
      this.put(0x3d);
      this.put(HEX[b >> 4]!);
      this.put(HEX[b & 15]!);
      this.col += 3;
    } else {
      this.put(b);
      this.col++;
    }
  }

  /** White space held back: literal when text follows on the line, encoded at a line end. */
  private flushWs(atLineEnd: boolean): void {
    if (this.pendingWs < 0) return;
    const w = this.pendingWs;
    this.pendingWs = -1;
    this.token(w, atLineEnd);
  }

  private byte(b: number): void {
    if (this.pendingCr) {
      this.pendingCr = false;
      if (b === 0x0a) {
        this.flushWs(true);
        this.put(0x0d);
        this.put(0x0a);
        this.col = 0;
        return;
      }
      this.flushWs(false);
      this.token(0x0d, true);
    }
    if (b === 0x0d) {
      this.pendingCr = true;
      return;
    }
    this.flushWs(false);
    if (b === 0x20 || b === 0x09) {
      this.pendingWs = b;
      return;
    }
    this.token(b, b === 0x3d || b < 0x20 || b > 0x7e);
  }

  write(chunk: Uint8Array): Buffer {
    // worst case: every octet =XX, plus a soft break every 24 octets, plus what is held back
    this.out = Buffer.allocUnsafe(chunk.length * 4 + 16);
    this.o = 0;
    for (let i = 0; i < chunk.length; i++) this.byte(chunk[i]!);
    return this.out.subarray(0, this.o);
  }

  end(): Buffer {
    this.out = Buffer.allocUnsafe(16);
    this.o = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      this.flushWs(false);
      this.token(0x0d, true);
    }
    this.flushWs(true);
    return this.out.subarray(0, this.o);
  }
}

/**
 * RFC 2045 §6.8 base64 in lines of 76 characters (separated by CRLF, none after the last).
 * `rewrap`: the input is base64 already; its white space is dropped and it is laid out again
 * (the decoded content is the same).
 */
export class Base64Lines {
  private carry: Buffer = Buffer.alloc(0);
  private lines = 0;
  constructor(private readonly rewrap: boolean) {}

  private take(data: Buffer, final: boolean): Buffer {
    const unit = this.rewrap ? 76 : 57;
    const whole = final ? data.length : data.length - (data.length % unit);
    const out: Buffer[] = [];
    for (let i = 0; i < whole; i += unit) {
      const block = data.subarray(i, Math.min(i + unit, whole));
      if (this.lines++ > 0) out.push(CRLF);
      out.push(this.rewrap ? block : Buffer.from(block.toString('base64'), 'latin1'));
    }
    this.carry = data.subarray(whole);
    return Buffer.concat(out);
  }

  write(chunk: Buffer): Buffer {
    const input = this.rewrap ? chunk.filter((b) => b !== 0x0d && b !== 0x0a && b !== 0x20 && b !== 0x09) : chunk;
    return this.take(Buffer.concat([this.carry, Buffer.from(input)]), false);
  }

  end(): Buffer {
    return this.take(this.carry, true);
  }
}

/** Longest line piece a soft break leaves in an already quoted-printable body (lines up to this stay as they are). */
const SOFT_BREAK_AT = 990;

/**
 * A quoted-printable body whose lines are too long: soft line breaks ("=" CRLF, RFC 2045 §6.7
 * rule 5) are inserted, never inside an =XX escape, and a "-" that would start a new line is
 * written =2D. The decoded content is the same.
 */
export class QpSoftBreaker {
  private col = 0;
  private escLeft = 0;

  write(chunk: Buffer): Buffer {
    const out = Buffer.allocUnsafe(chunk.length * 3 + 8);
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 0x0d || b === 0x0a) {
        out[o++] = b;
        this.col = 0;
        this.escLeft = 0;
        continue;
      }
      if (this.escLeft > 0) {
        this.escLeft--;
        out[o++] = b;
        this.col++;
        continue;
      }
      const k = b === 0x3d ? 3 : 1;
      if (this.col + k > SOFT_BREAK_AT) {
        out[o++] = 0x3d;
        out[o++] = 0x0d;
        out[o++] = 0x0a;
        this.col = 0;
      }
      if (this.col === 0 && b === 0x2d) {
        out[o++] = 0x3d;
        out[o++] = 0x32;
        out[o++] = 0x44;
        this.col += 3;
        continue;
      }
      out[o++] = b;
      this.col++;
      if (b === 0x3d) this.escLeft = 2;
    }
    return out.subarray(0, o);
  }
}
