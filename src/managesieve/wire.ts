// ManageSieve wire format (RFC 5804 §4): the input framer (command lines with quoted strings,
// numbers, atoms and literals {n+} / {n}) and the composers of responses. Pure: no session state.
import type { InputFramer } from '../net/line-session.js';

/** RFC 5804 §4: quoted strings are at most 1024 octets. */
export const MAX_QUOTED = 1024;
/** RFC 5804 §4: number = 1*DIGIT, 0 <= n < 4,294,967,296. */
export const MAX_NUMBER = 4_294_967_295;

export type Token = { kind: 'atom'; value: string } | { kind: 'string'; value: Buffer; literal: boolean } | { kind: 'number'; value: number };

/** One framer event: a whole command (literals included), or a command that could not be read. */
export type FramedItem =
  | { kind: 'command'; tokens: Token[] }
  /** The command was refused by the framer (bad syntax, too long); its input was skipped up to its end. */
  | { kind: 'error'; message: string; code: 'syntax' | 'too-long' | 'literal-too-big' };

export interface FramerLimits {
  /** Longest command line (its literals not counted). */
  maxLine: number;
  /** Largest literal accepted; a larger one is skipped and the command refused. */
  maxLiteral: number;
}

/**
 * Turns bytes into commands. A command is a line (CRLF; a bare LF is accepted) that may be
 * continued after literals: `PUTSCRIPT "a" {5+}CRLF` then 5 octets then the rest of the line.
 * RFC 5804 §4 gives clients `{n+}`; `{n}` is accepted the same way (no continuation request is
 * sent: ManageSieve has none outside SASL).
 */
export class ManageSieveFramer implements InputFramer {
  private buf: Buffer = Buffer.alloc(0);
  private tokens: Token[] = [];
  private lineBytes = 0;
  /** Octets of a literal still to read (or skip). */
  private literalLeft = 0;
  private literalParts: Buffer[] = [];
  /** Skipping the rest of a refused command: literals still counted so their bytes are not read as commands. */
  private skipping: FramedItem | null = null;

  constructor(private readonly limits: FramerLimits) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
  }

  get buffered(): number {
    return this.buf.length;
  }

  clear(): void {
    this.buf = Buffer.alloc(0);
    this.reset();
  }

  private reset(): void {
    this.tokens = [];
    this.lineBytes = 0;
    this.literalLeft = 0;
    this.literalParts = [];
    this.skipping = null;
  }

  /** The next whole command, or null when more input is needed. */
  next(): FramedItem | null {
    for (;;) {
      if (this.literalLeft > 0) {
        if (this.buf.length === 0) return null;
        const n = Math.min(this.literalLeft, this.buf.length);
        if (!this.skipping) this.literalParts.push(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.literalLeft -= n;
        if (this.literalLeft > 0) return null;
        if (!this.skipping) {
          this.tokens.push({ kind: 'string', value: Buffer.concat(this.literalParts), literal: true });
          this.literalParts = [];
        }
        continue;
      }
      const lf = this.buf.indexOf(10);
      if (lf < 0) {
        if (!this.skipping && this.lineBytes + this.buf.length > this.limits.maxLine) {
          this.skipping = { kind: 'error', code: 'too-long', message: 'Command line too long' };
        }
        if (this.skipping) {
          // Keep only enough to find a literal marker at the end of the line ({4294967295+}).
          this.lineBytes += Math.max(0, this.buf.length - 16);
          this.buf = this.buf.length > 16 ? this.buf.subarray(this.buf.length - 16) : this.buf;
        }
        return null;
      }
      const end = lf > 0 && this.buf[lf - 1] === 13 ? lf - 1 : lf;
      const segment = this.buf.subarray(0, end);
      this.buf = this.buf.subarray(lf + 1);
      this.lineBytes += lf + 1;
      const literal = literalAtEnd(segment);
      if (this.skipping) {
        if (literal) {
          this.literalLeft = literal.size;
          continue;
        }
        const item = this.skipping;
        this.reset();
        return item;
      }
      if (this.lineBytes > this.limits.maxLine) {
        this.skipping = { kind: 'error', code: 'too-long', message: 'Command line too long' };
        if (literal) this.literalLeft = literal.size;
        else {
          const item = this.skipping;
          this.reset();
          return item;
        }
        continue;
      }
      const r = tokenize(literal ? segment.subarray(0, literal.start) : segment);
      if (!r.ok) {
        const item: FramedItem = { kind: 'error', code: 'syntax', message: r.error };
        if (literal && literal.size > 0) {
          this.skipping = item;
          this.literalLeft = literal.size;
          continue;
        }
        this.reset();
        return item;
      }
      this.tokens.push(...r.tokens);
      if (literal) {
        if (literal.size > this.limits.maxLiteral) {
          this.skipping = { kind: 'error', code: 'literal-too-big', message: `Literal of ${literal.size} octets is too large` };
          this.literalLeft = literal.size;
          continue;
        }
        if (literal.size === 0) this.tokens.push({ kind: 'string', value: Buffer.alloc(0), literal: true });
        this.literalLeft = literal.size;
        continue;
      }
      const item: FramedItem = { kind: 'command', tokens: this.tokens };
      this.reset();
      return item;
    }
  }
}

/** `{n+}` or `{n}` ending a line segment (after optional SP before it). */
function literalAtEnd(seg: Buffer): { start: number; size: number } | null {
  if (seg.length < 3 || seg[seg.length - 1] !== 0x7d /* } */) return null;
  let i = seg.length - 2;
  if (seg[i] === 0x2b /* + */) i--;
  const digitsEnd = i + 1;
  while (i >= 0 && seg[i]! >= 0x30 && seg[i]! <= 0x39) i--;
  if (i < 0 || seg[i] !== 0x7b /* { */ || digitsEnd - (i + 1) === 0 || digitsEnd - (i + 1) > 10) return null;
  // A line ending in a literal marker announces a literal even when the rest of it is malformed (a
  // quoted string cannot run to the end of a line): its octets are then skipped, never run as commands.
  const size = Number(seg.subarray(i + 1, digitsEnd).toString('latin1'));
  if (size > MAX_NUMBER) return null;
  return { start: i, size };
}

/** Splits a line segment into tokens: SP-separated atoms/numbers and quoted strings. */
export function tokenize(seg: Buffer): { ok: true; tokens: Token[] } | { ok: false; error: string } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < seg.length) {
    const c = seg[i]!;
    if (c === 0x20) {
      i++;
      continue;
    }
    if (c === 0x22) {
      // RFC 5804 §4: QUOTED-CHAR = SAFE-UTF8-CHAR / "\" QUOTED-SPECIALS; QUOTED-SPECIALS = DQUOTE / "\"
      const out: number[] = [];
      let j = i + 1;
      let closed = false;
      while (j < seg.length) {
        const d = seg[j]!;
        if (d === 0x22) {
          closed = true;
          break;
        }
        if (d === 0x5c) {
          const e = seg[j + 1];
          if (e !== 0x22 && e !== 0x5c) return { ok: false, error: 'Bad escape in quoted string (only \\" and \\\\ are allowed)' };
          out.push(e);
          j += 2;
          continue;
        }
        if (d === 0 || d === 13 || d === 10) return { ok: false, error: 'NUL, CR or LF in quoted string' };
        out.push(d);
        j++;
      }
      if (!closed) return { ok: false, error: 'Unterminated quoted string' };
      if (out.length > MAX_QUOTED) return { ok: false, error: `Quoted string longer than ${MAX_QUOTED} octets (use a literal)` };
      tokens.push({ kind: 'string', value: Buffer.from(out), literal: false });
      i = j + 1;
      if (i < seg.length && seg[i] !== 0x20) return { ok: false, error: 'Missing space after quoted string' };
      continue;
    }
    let j = i;
    while (j < seg.length && seg[j] !== 0x20) j++;
    const word = seg.subarray(i, j).toString('latin1');
    if (/^\d+$/.test(word)) {
      const n = Number(word);
      if (word.length > 10 || n > MAX_NUMBER) return { ok: false, error: 'Number out of range' };
      tokens.push({ kind: 'number', value: n });
    } else if (/^[A-Za-z][A-Za-z0-9_-]*$/.test(word)) {
      tokens.push({ kind: 'atom', value: word });
    } else {
      return { ok: false, error: `Unexpected "${word.slice(0, 20).replace(/[^\x20-\x7e]/g, '?')}"` };
    }
    i = j;
  }
  return { ok: true, tokens };
}

// ---- composing ----

/** A string as the server sends it: quoted when short and safe, otherwise a literal {n}. */
export function str(s: string | Buffer): string {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const text = b.toString('utf8');
  if (b.length <= MAX_QUOTED && !/[\r\n\0]/.test(text)) return `"${text.replace(/[\\"]/g, (c) => '\\' + c)}"`;
  // RFC 5804 §4: literal-s2c = "{" number "}" CRLF *OCTET
  return `{${b.length}}\r\n${text}`;
}

/** RFC 5804 §1.3 response codes (with their argument when they have one). */
export type ResponseCode =
  | 'AUTH-TOO-WEAK'
  | 'ENCRYPT-NEEDED'
  | 'QUOTA'
  | 'QUOTA/MAXSCRIPTS'
  | 'QUOTA/MAXSIZE'
  | 'REFERRAL'
  | 'SASL'
  | 'TRANSITION-NEEDED'
  | 'TRYLATER'
  | 'ACTIVE'
  | 'NONEXISTENT'
  | 'ALREADYEXISTS'
  | 'WARNINGS'
  | 'TAG';

function response(status: 'OK' | 'NO' | 'BYE', code: ResponseCode | null, text: string | null, codeArg?: string): string {
  let line = status;
  if (code) line += ` (${code}${codeArg !== undefined ? ' ' + str(codeArg) : ''})`;
  if (text !== null) line += ` ${str(text)}`;
  return line + '\r\n';
}

export const ok = (text: string | null = null, code: ResponseCode | null = null, codeArg?: string): string => response('OK', code, text, codeArg);
export const no = (text: string, code: ResponseCode | null = null, codeArg?: string): string => response('NO', code, text, codeArg);
export const bye = (text: string, code: ResponseCode | null = null): string => response('BYE', code, text);

/** A token's text (a string or an atom), or null for a number. */
export function tokenText(t: Token): string | null {
  if (t.kind === 'string') return t.value.toString('utf8');
  if (t.kind === 'atom') return t.value;
  return null;
}
