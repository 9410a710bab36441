// IMAP command framing (RFC 9051 §2.2, §4.3): lines end with CRLF, and a line that ends with a
// literal announcement `{n}` (synchronising), `{n+}` (LITERAL+, RFC 7888) or `~{n}` (literal8,
// RFC 3516) continues with n raw octets and then more of the same command line.
//
// The framer is pull-based: push() stores bytes, next() returns one event at a time, so the
// session finishes a command before the framer looks at the bytes after it (a pipelined
// LOGIN changes how the next command's literal is judged). Literal sizes are checked by the
// session's decide() BEFORE the "+" continuation is sent, and a literal can be streamed
// (APPEND to a blob) instead of held in memory.

import { replyTag } from './tokenizer.js';

/** A piece of one command: line text (bytes, as sent) or literal bytes held in memory. */
export type CommandPart = { kind: 'text'; bytes: Buffer } | { kind: 'literal'; bytes: Buffer; binary: boolean } | { kind: 'stream'; size: number; binary: boolean; handle: unknown };

export interface LiteralInfo {
  size: number;
  /** `{n+}`: the client sends the data without waiting for "+". */
  nonSync: boolean;
  /** `~{n}`: literal8, may hold NUL. */
  binary: boolean;
  /** The command so far (text parts and earlier literals). */
  parts: readonly CommandPart[];
}

export type LiteralDecision =
  /** Keep the literal in memory (it counts against the command length limit). */
  | { action: 'buffer' }
  /** Hand the literal's bytes to the session as 'literal-data' events; `handle` comes back in the part. */
  | { action: 'stream'; handle: unknown }
  /**
   * Refuse: the command is dropped. For a synchronising literal the client sends nothing more
   * for this command; for a non-synchronising one the data is already on its way, so the
   * session must close the connection (RFC 7888 §4) after sending `response`.
   */
  | { action: 'reject'; response: string };

export type FramerEvent =
  | { type: 'command'; parts: CommandPart[] }
  /** Send "+ ..." now: the client waits for it before sending the literal. */
  | { type: 'continue' }
  | { type: 'literal-data'; handle: unknown; chunk: Buffer; last: boolean }
  /** The command was refused by decide(); send `response`; `close` when the stream cannot be resynchronised. */
  | { type: 'rejected'; response: string; close: boolean }
  /** The command line is longer than the limit: answer and close (we cannot find where it ends safely). */
  | { type: 'too-long' };

export interface FramerOptions {
  /** Longest command (line text plus buffered literals), octets. */
  maxCommandLength: number;
  decide(info: LiteralInfo): LiteralDecision;
}

const LF = 0x0a;
const CR = 0x0d;

export class ImapFramer {
  private input: Buffer[] = [];
  private inputLen = 0;
  /** Bytes of the current line not yet terminated by LF. */
  private line: Buffer[] = [];
  private lineLen = 0;
  private parts: CommandPart[] = [];
  private commandLen = 0;
  /** Literal being read: bytes left, where they go. */
  private literal: { left: number; chunks: Buffer[] | null; handle: unknown; binary: boolean; size: number } | null = null;
  /** After too-long: ignore everything. */
  private dead = false;

  constructor(private readonly opts: FramerOptions) {}

  /** Octets received but not yet turned into events. */
  get buffered(): number {
    return this.inputLen;
  }

  push(chunk: Buffer): void {
    if (this.dead || chunk.length === 0) return;
    this.input.push(chunk);
    this.inputLen += chunk.length;
  }

  /** Drops input received but not processed (STARTTLS: nothing sent before the handshake counts). */
  clear(): void {
    this.input = [];
    this.inputLen = 0;
    this.line = [];
    this.lineLen = 0;
    this.parts = [];
    this.commandLen = 0;
    this.literal = null;
  }

  /** True while a command has started (bytes of it were received) but is not complete. */
  get midCommand(): boolean {
    return this.lineLen > 0 || this.parts.length > 0 || this.literal !== null;
  }

  /** The next event, or null when more input is needed. */
  next(): FramerEvent | null {
    while (!this.dead && this.inputLen > 0) {
      if (this.literal) {
        const lit = this.literal;
        const chunk = this.take(lit.left);
        lit.left -= chunk.length;
        const last = lit.left === 0;
        if (last) this.literal = null;
        if (lit.chunks) {
          lit.chunks.push(chunk);
          if (last) this.parts.push({ kind: 'literal', bytes: Buffer.concat(lit.chunks), binary: lit.binary });
          continue;
        }
        if (last) this.parts.push({ kind: 'stream', size: lit.size, binary: lit.binary, handle: lit.handle });
        return { type: 'literal-data', handle: lit.handle, chunk, last };
      }
      // Line mode: look for LF in the first input chunk.
      const head = this.input[0]!;
      const lf = head.indexOf(LF);
      const piece = lf < 0 ? head : head.subarray(0, lf + 1);
      this.shift(piece.length);
      this.line.push(piece);
      this.lineLen += piece.length;
      // RFC 9051 §4: servers limit what they accept; the limit covers the whole command.
      if (this.commandLen + this.lineLen > this.opts.maxCommandLength) {
        this.dead = true;
        this.input = [];
        this.inputLen = 0;
        return { type: 'too-long' };
      }
      if (lf < 0) continue;
      const ev = this.endOfLine();
      if (ev) return ev;
    }
    // A zero-length literal completes without input.
    if (this.literal && this.literal.left === 0) {
      const lit = this.literal;
      this.literal = null;
      if (lit.chunks) this.parts.push({ kind: 'literal', bytes: Buffer.alloc(0), binary: lit.binary });
      else {
        this.parts.push({ kind: 'stream', size: 0, binary: lit.binary, handle: lit.handle });
        return { type: 'literal-data', handle: lit.handle, chunk: Buffer.alloc(0), last: true };
      }
    }
    return null;
  }

  private endOfLine(): FramerEvent | null {
    let text = this.line.length === 1 ? this.line[0]! : Buffer.concat(this.line);
    this.line = [];
    this.commandLen += this.lineLen;
    this.lineLen = 0;
    // RFC 9051 §2.2: lines end with CRLF; a bare LF is accepted as well (robustness).
    let end = text.length - 1;
    if (end > 0 && text[end - 1] === CR) end--;
    text = text.subarray(0, end);
    const lit = parseLiteralAnnouncement(text);
    if (!lit) {
      this.parts.push({ kind: 'text', bytes: text });
      const parts = this.parts;
      this.parts = [];
      this.commandLen = 0;
      return { type: 'command', parts };
    }
    this.parts.push({ kind: 'text', bytes: text.subarray(0, lit.start) });
    const decision = this.opts.decide({ size: lit.size, nonSync: lit.nonSync, binary: lit.binary, parts: this.parts });
    if (decision.action === 'buffer' && this.commandLen + lit.size > this.opts.maxCommandLength) {
      const head = this.parts[0];
      const tag = head && head.kind === 'text' ? replyTag(head.bytes) : '*';
      return this.reject(lit.nonSync, `${tag} BAD [TOOBIG] Literal too big for this command`);
    }
    if (decision.action === 'reject') return this.reject(lit.nonSync, decision.response);
    if (decision.action === 'buffer') {
      this.commandLen += lit.size;
      this.literal = { left: lit.size, chunks: [], handle: null, binary: lit.binary, size: lit.size };
    } else {
      this.literal = { left: lit.size, chunks: null, handle: decision.handle, binary: lit.binary, size: lit.size };
    }
    if (!lit.nonSync) return { type: 'continue' };
    return null;
  }

  private reject(nonSync: boolean, response: string): FramerEvent {
    this.parts = [];
    this.commandLen = 0;
    if (nonSync) {
      // RFC 7888 §4: the literal's octets are already in flight; we cannot tell where the
      // command ends, so the session answers and closes.
      this.dead = true;
      this.input = [];
      this.inputLen = 0;
    }
    return { type: 'rejected', response, close: nonSync };
  }

  /** Takes up to n bytes from the input. */
  private take(n: number): Buffer {
    const head = this.input[0]!;
    const chunk = head.length <= n ? head : head.subarray(0, n);
    this.shift(chunk.length);
    return chunk;
  }

  private shift(n: number): void {
    const head = this.input[0]!;
    if (n >= head.length) this.input.shift();
    else this.input[0] = head.subarray(n);
    this.inputLen -= n;
  }
}

/** `{123}`, `{123+}` or `~{123}` at the end of a line. */
export function parseLiteralAnnouncement(line: Buffer): { size: number; nonSync: boolean; binary: boolean; start: number } | null {
  const n = line.length;
  if (n < 3 || line[n - 1] !== 0x7d /* } */) return null;
  let i = n - 2;
  let nonSync = false;
  if (line[i] === 0x2b /* + */) {
    nonSync = true;
    i--;
  }
  const digitsEnd = i + 1;
  while (i >= 0 && line[i]! >= 0x30 && line[i]! <= 0x39) i--;
  const digitsStart = i + 1;
  if (digitsStart === digitsEnd || i < 0 || line[i] !== 0x7b /* { */) return null;
  // RFC 9051 §9: number64; more than 15 digits cannot be a size we accept anyway.
  if (digitsEnd - digitsStart > 15) return { size: Number.MAX_SAFE_INTEGER, nonSync, binary: false, start: i };
  const size = Number(line.toString('latin1', digitsStart, digitsEnd));
  let start = i;
  let binary = false;
  if (start > 0 && line[start - 1] === 0x7e /* ~ */) {
    binary = true;
    start--;
  }
  return { size, nonSync, binary, start };
}
