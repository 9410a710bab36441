// POP3 wire format (RFC 1939, RFC 2449, RFC 5034): line framing, command parsing, reply
// composing and the dot-stuffing encoder for multi-line responses. Pure: no I/O, no store.

// RFC 2449 §4: a command line is at most 255 octets including CRLF. Yubin accepts up to 8192
// (long passwords, SASL responses) and never more: longer lines are refused as they arrive.
export const MAX_LINE_OCTETS = 8192;

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const DOT_BYTES = Buffer.from('.');
const LF_DOT = Buffer.from('\n.');

export type FramedLine = { kind: 'line'; line: Buffer } | { kind: 'too-long' };

/**
 * Splits input into lines. Bytes are kept as they arrive and split lazily (one line per next()),
 * so a session can stop reading while a command runs and drop everything pipelined (STLS).
 * A line longer than the limit is dropped as it arrives (memory stays bounded by the limit)
 * and reported once as 'too-long' when its end comes.
 */
export class LineReader {
  private queue: Buffer[] = [];
  private pos = 0;
  private partial: Buffer[] = [];
  private partialLen = 0;
  private discarding = false;
  private queued = 0;

  constructor(private readonly maxLine: number = MAX_LINE_OCTETS) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
  }

  /** Bytes received and not yet returned as lines (the partial line included). */
  get pendingBytes(): number {
    return this.queued - this.pos + this.partialLen;
  }

  /** The same as pendingBytes (src/net/line-session.ts InputFramer). */
  get buffered(): number {
    return this.pendingBytes;
  }

  /** Drops everything buffered: unread lines and the partial line. */
  clear(): void {
    // RFC 2595 §4: input the client sent before the TLS handshake is not acted on after it
    this.queue = [];
    this.queued = 0;
    this.pos = 0;
    this.partial = [];
    this.partialLen = 0;
    this.discarding = false;
  }

  next(): FramedLine | null {
    while (this.queue.length > 0) {
      const chunk = this.queue[0]!;
      const idx = chunk.indexOf(LF, this.pos);
      if (idx === -1) {
        const rest = chunk.subarray(this.pos);
        this.shift();
        if (this.discarding) continue;
        this.partial.push(rest);
        this.partialLen += rest.length;
        if (this.partialLen > this.maxLine) {
          this.partial = [];
          this.partialLen = 0;
          this.discarding = true;
        }
        continue;
      }
      const piece = chunk.subarray(this.pos, idx + 1);
      this.pos = idx + 1;
      if (this.pos >= chunk.length) this.shift();
      if (this.discarding || this.partialLen + piece.length > this.maxLine) {
        this.discarding = false;
        this.partial = [];
        this.partialLen = 0;
        return { kind: 'too-long' };
      }
      let line = this.partial.length === 0 ? piece : Buffer.concat([...this.partial, piece]);
      this.partial = [];
      this.partialLen = 0;
      // RFC 1939 §3: lines end in CRLF; a bare LF is accepted as well (robustness).
      let end = line.length - 1;
      if (end > 0 && line[end - 1] === CR) end--;
      line = line.subarray(0, end);
      return { kind: 'line', line };
    }
    return null;
  }

  private shift(): void {
    const c = this.queue.shift()!;
    this.queued -= c.length;
    this.pos = 0;
  }
}

export interface Command {
  /** The keyword, upper case ("RETR"). */
  name: string;
  /** Arguments split on spaces. */
  args: string[];
  /** Everything after the keyword and its single separating space, as sent (PASS takes spaces in passwords). */
  rest: string;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * RFC 1939 §3: a command is a case-insensitive keyword of three or four characters, possibly
 * followed by arguments separated by a single space. Returns null for a line that is no command
 * (empty, not UTF-8, or the keyword is not 3-4 characters starting with a letter: "UTF8" is one).
 */
export function parseCommand(line: Buffer): Command | null {
  let text: string;
  try {
    // RFC 6856 §2-3: arguments are UTF-8 (US-ASCII before UTF8). Bytes that are not UTF-8 are
    // refused rather than decoded to U+FFFD, which would make different passwords or user
    // names the same string.
    text = utf8Strict.decode(line);
  } catch {
    return null;
  }
  // RFC 1939 §3: a keyword of three or four characters, case-insensitive, then arguments after a space
  const sp = text.indexOf(' ');
  const keyword = sp === -1 ? text : text.slice(0, sp);
  if (!/^[A-Za-z][A-Za-z0-9]{2,3}$/.test(keyword)) return null;
  const rest = sp === -1 ? '' : text.slice(sp + 1);
  const args = rest.split(/[ \t]+/).filter((a) => a.length > 0);
  return { name: keyword.toUpperCase(), args, rest };
}

/** A message number; null when `arg` is not one. */
export function parseMessageNumber(arg: string | undefined): number | null {
  // RFC 1939 §5: messages are numbered from 1, written in decimal
  if (arg === undefined || !/^[0-9]{1,9}$/.test(arg)) return null;
  const n = Number(arg);
  return n >= 1 ? n : null;
}

/** A non-negative decimal (TOP's line count). */
export function parseCount(arg: string | undefined): number | null {
  if (arg === undefined || !/^[0-9]{1,9}$/.test(arg)) return null;
  return Number(arg);
}

/** Response codes: RFC 2449 §8 (IN-USE, LOGIN-DELAY), RFC 3206 (SYS/TEMP, SYS/PERM, AUTH). */
export type ResponseCode = 'IN-USE' | 'LOGIN-DELAY' | 'SYS/TEMP' | 'SYS/PERM' | 'AUTH';

/** Response text on one line, cut to fit. */
function clip(text: string): string {
  // RFC 2449 §4: a response line is at most 512 octets including CRLF
  const clean = text.replace(/[\r\n]+/g, ' ');
  const b = Buffer.from(clean, 'utf8');
  if (b.length <= 500) return clean;
  return b.subarray(0, 500).toString('utf8').replace(/\uFFFD$/, '');
}

export function okLine(text?: string): string {
  return text ? `+OK ${clip(text)}\r\n` : '+OK\r\n';
}

export function errLine(text: string, code?: ResponseCode): string {
  return code ? `-ERR [${code}] ${clip(text)}\r\n` : `-ERR ${clip(text)}\r\n`;
}

// RFC 5034 §4: a server challenge is "+" SP base64 (an empty challenge is "+ ").
export function challengeLine(challenge: Uint8Array): string {
  return `+ ${Buffer.from(challenge).toString('base64')}\r\n`;
}

/**
 * A multi-line response (RFC 1939 §3): the status line, the lines dot-stuffed, and the
 * terminating ".". For short generated lists (CAPA, LIST, UIDL); message bodies use DotStuffer.
 */
export function multiLine(status: string, lines: readonly string[]): string {
  let out = status;
  for (const l of lines) out += (l.startsWith('.') ? '.' : '') + l + '\r\n';
  return out + '.\r\n';
}

/**
 * The unique-id listing value (RFC 1939 §7 UIDL): 1-70 characters in 0x21-0x7E, unique in the
 * maildrop and the same for the same message in every session. The mailbox's UIDVALIDITY and
 * the message's UID together name one message for ever (RFC 9051 §2.3.1.1).
 */
export function uniqueId(uidValidity: number, uid: number): string {
  // RFC 1939 §7: a unique-id is 1 to 70 characters in the range 0x21 to 0x7E, the same for a message in every session
  return `${uidValidity}.${uid}`;
}

/**
 * Streaming encoder for a message inside a multi-line response (RFC 1939 §3): every line that
 * starts with "." gets one more "." (byte-stuffing). The message's own bytes are sent unchanged,
 * so what RETR sends before stuffing is exactly the stored size that LIST reports. Messages are
 * stored with CRLF line ends; should one hold a bare LF anyway, the octet after it is stuffed as
 * well, so that no client, whether it splits lines at LF or at CRLF, can see an early end.
 * Optionally stops after a number of lines (TOP): set `lineBudget` before the bytes it applies
 * to. Works across chunk boundaries.
 */
export class DotStuffer {
  /** Lines still allowed; Infinity for no limit. When it reaches 0, push() returns done. */
  lineBudget = Infinity;
  /** Octets of the message sent, not counting stuffing dots. */
  unstuffedOctets = 0;
  private atLineStart = true;
  /** The last octet sent was LF and the one before it CR. */
  private endsWithCrlf = true;
  private lastWasCR = false;

  /** Encodes a chunk. `done` is true once the line budget is spent (the rest of `chunk` is dropped). */
  push(chunk: Uint8Array): { out: Buffer; done: boolean } {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.lineBudget <= 0) return { out: Buffer.alloc(0), done: true };
    if (buf.length === 0) return { out: buf, done: false };
    const parts: Buffer[] = [];
    let start = 0;
    let end = buf.length;
    let done = false;
    // RFC 1939 §3: a line of a multi-line response that starts with "." is byte-stuffed with another "."
    if (this.atLineStart && buf[0] === DOT) parts.push(DOT_BYTES);
    if (this.lineBudget === Infinity) {
      // No line budget (RETR): only the lines that start with "." matter, found by searching for
      // LF "." (one native search per stuffed line, not one per line of the message).
      for (let from = 0; ; ) {
        const i = buf.indexOf(LF_DOT, from);
        if (i === -1) break;
        parts.push(buf.subarray(start, i + 1), DOT_BYTES);
        start = i + 1;
        from = i + 1;
      }
    }
    for (let from = this.lineBudget === Infinity ? buf.length : 0; ; ) {
      const i = buf.indexOf(LF, from);
      if (i === -1) break;
      from = i + 1;
      if (--this.lineBudget <= 0) {
        end = i + 1;
        done = true;
        break;
      }
      if (from < buf.length && buf[from] === DOT) {
        parts.push(buf.subarray(start, from), DOT_BYTES);
        start = from;
      }
    }
    parts.push(buf.subarray(start, end));
    const last = buf[end - 1];
    const beforeLast = end >= 2 ? buf[end - 2] === CR : this.lastWasCR;
    this.atLineStart = last === LF;
    this.endsWithCrlf = last === LF && beforeLast;
    this.lastWasCR = last === CR;
    this.unstuffedOctets += end;
    return { out: parts.length === 1 ? parts[0]! : Buffer.concat(parts), done };
  }

  /** The end of the response: a CRLF unless the message ended with one, then ".". */
  finish(): Buffer {
    return Buffer.from(this.endsWithCrlf ? '.\r\n' : '\r\n.\r\n');
  }
}
