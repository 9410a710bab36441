// SMTP input framing (RFC 5321 §2.3.8, §4.5.2, RFC 3030): command lines, the DATA body with
// dot-unstuffing, and BDAT chunks. Strict about line ends: only CR LF ends a line. A bare CR or
// a bare LF is never a line end, so "\n.\n" and friends can never end DATA (SMTP smuggling,
// CVE-2023-51764/51765/51766); the message is refused for them at the end instead.
// Pure and incremental: the same bytes give the same result however they are split.

export type LineEvent =
  /** A complete line without its line end; `crlf` false when it ended with a bare LF. */
  | { type: 'line'; line: Buffer; crlf: boolean }
  /** A line longer than the limit was skipped up to its end. */
  | { type: 'too-long' }
  /** More than the flood limit arrived without any line end: the session should close. */
  | { type: 'flood' };

/** Buffers input and cuts it into command lines (or hands raw bytes to DATA/BDAT). */
export class InputBuffer {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes of an over-long line dropped so far (0 when not discarding). */
  private discarded = 0;
  private discarding = false;

  constructor(
    /** Bytes without a line end after which the session closes (bounded memory). */
    private readonly floodLimit = 1024 * 1024,
  ) {}

  get length(): number {
    return this.buf.length;
  }

  /** The same as length (src/net/line-session.ts InputFramer). */
  get buffered(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
  }

  /** Puts bytes back at the front (what a DATA scanner did not consume). */
  unshift(chunk: Buffer): void {
    if (chunk.length) this.buf = this.buf.length ? Buffer.concat([chunk, this.buf]) : chunk;
  }

  /** Drops everything buffered (STARTTLS: RFC 3207 §4.2, nothing sent before the handshake counts). */
  clear(): void {
    this.buf = Buffer.alloc(0);
    this.discarding = false;
    this.discarded = 0;
  }

  /**
   * The next line, if complete. `maxLength` counts the line with its CRLF
   * (RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF).
   */
  takeLine(maxLength: number): LineEvent | null {
    const lf = this.buf.indexOf(0x0a);
    if (this.discarding) {
      if (lf < 0) {
        this.discarded += this.buf.length;
        this.buf = Buffer.alloc(0);
        return this.discarded > this.floodLimit ? { type: 'flood' } : null;
      }
      this.discarded += lf + 1;
      this.buf = this.buf.subarray(lf + 1);
      this.discarding = false;
      const flood = this.discarded > this.floodLimit;
      this.discarded = 0;
      return flood ? { type: 'flood' } : { type: 'too-long' };
    }
    if (lf < 0) {
      if (this.buf.length >= maxLength) {
        this.discarding = true;
        this.discarded = this.buf.length;
        this.buf = Buffer.alloc(0);
        return this.discarded > this.floodLimit ? { type: 'flood' } : null;
      }
      return null;
    }
    if (lf + 1 > maxLength) {
      this.buf = this.buf.subarray(lf + 1);
      return { type: 'too-long' };
    }
    const crlf = lf > 0 && this.buf[lf - 1] === 0x0d;
    const line = this.buf.subarray(0, crlf ? lf - 1 : lf);
    this.buf = this.buf.subarray(lf + 1);
    return { type: 'line', line, crlf };
  }

  /** Takes up to `max` buffered bytes (all when max is omitted); null when nothing is buffered. */
  takeBytes(max = Infinity): Buffer | null {
    if (!this.buf.length) return null;
    if (this.buf.length <= max) {
      const b = this.buf;
      this.buf = Buffer.alloc(0);
      return b;
    }
    const b = this.buf.subarray(0, max);
    this.buf = this.buf.subarray(max);
    return b;
  }
}

/** What a body scanner found wrong with the message so far. */
export interface BodyFlags {
  bareCr: boolean;
  bareLf: boolean;
  /** A line longer than the limit (RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with CRLF). */
  longLine: boolean;
  /** More than the flood limit without any LF: the session must close. */
  flood: boolean;
  /** A NUL octet: never allowed in text (RFC 5321 §4.5.2, RFC 6152 §3); only BINARYMIME may carry it. */
  nul: boolean;
  /** The header section has more lines than `maxHeaderLines` (an abusive structure, refused). */
  tooManyHeaderLines: boolean;
  /** One header field has more lines (the first and its continuations) than `maxHeaderFieldLines`. */
  longHeaderField: boolean;
}

/** Limits of a body scanner. Line lengths count the line with its CR LF. */
export interface BodyLimits {
  /** Longest line, with its CR LF, before `longLine` is set (RFC 5321 §4.5.3.1.6: 1000). */
  maxLineLength: number;
  /** Octets without any LF after which `flood` is set (the session closes). */
  floodLimit: number;
  /** Most lines in the header section (up to the empty line) before `tooManyHeaderLines` is set. */
  maxHeaderLines: number;
  /** Most lines in one header field (RFC 5322 §2.2.3 folding) before `longHeaderField` is set. */
  maxHeaderFieldLines: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = { maxLineLength: 1000, floodLimit: 1024 * 1024, maxHeaderLines: 10_000, maxHeaderFieldLines: 1000 };

export interface ScanResult {
  /** Message bytes (dot-unstuffed in DATA mode), slices of the input. */
  body: Buffer[];
  /** Input bytes used; the rest (after the end of data) belongs to the next command. */
  consumed: number;
  /** DATA mode: the terminating CRLF "." CRLF was seen. */
  done: boolean;
}

const S_LINE_START = 0;
const S_MID = 1;
const S_CR = 2;
const S_DOT = 3;
const S_DOT_CR = 4;
const CR_ONLY = Buffer.from('\r');

/**
 * Scans a message body. In DATA mode (`dotStuffed`), removes the leading dot of a line
 * (RFC 5321 §4.5.2) and finds the end of data: CR LF "." CR LF, where the first CR LF is the
 * end of the last line and is part of the message (RFC 5321 §4.1.1.4). In BDAT mode it only
 * checks line ends and lengths (RFC 3030 §2: the chunk length frames the data).
 */
export class BodyScanner {
  readonly flags: BodyFlags = { bareCr: false, bareLf: false, longLine: false, flood: false, nul: false, tooManyHeaderLines: false, longHeaderField: false };
  readonly limits: BodyLimits;
  private state = S_LINE_START;
  /** Octets on the current line so far (since the last CR LF), as sent. */
  private lineLength = 0;
  /** Octets since the last LF of any kind. */
  private sinceLf = 0;
  /** Still in the header section (before the first empty line). */
  private inHeader = true;
  /** The current line starts with SP or HTAB (a header continuation line, RFC 5322 §2.2.3). */
  private continuation = false;
  /** Lines of the header section so far, and of the header field being read. */
  private headerLines = 0;
  private fieldLines = 0;

  constructor(
    private readonly dotStuffed: boolean,
    limits: Partial<BodyLimits> = {},
  ) {
    this.limits = { ...DEFAULT_BODY_LIMITS, ...limits };
  }

  /** True when the message so far ended in the middle of a CR LF (BDAT: checked at LAST). */
  get pendingCr(): boolean {
    return this.state === S_CR || this.state === S_DOT_CR;
  }

  /** BDAT LAST: checks the end of the message (a trailing CR, an over-long last line). */
  end(): void {
    if (this.pendingCr) this.flags.bareCr = true;
    if (this.lineLength > this.limits.maxLineLength) this.flags.longLine = true;
    // A last header line without its CR LF still counts.
    if (this.inHeader && this.lineLength > 0) this.headerLine();
  }

  /**
   * A line of the header section ended (not the empty line). Counts it against the limits: a
   * header of tens of thousands of (folded) lines costs later parsers (DKIM, ARC, MIME) quadratic
   * time, so it is refused here, while the bytes stream past, before anything parses it.
   */
  private headerLine(): void {
    this.headerLines++;
    // RFC 5322 §2.2.3: a line starting with WSP continues the field before it.
    this.fieldLines = this.continuation && this.fieldLines > 0 ? this.fieldLines + 1 : 1;
    if (this.headerLines > this.limits.maxHeaderLines) this.flags.tooManyHeaderLines = true;
    if (this.fieldLines > this.limits.maxHeaderFieldLines) this.flags.longHeaderField = true;
  }

  scan(chunk: Buffer): ScanResult {
    const body: Buffer[] = [];
    let start = 0; // start of the slice of bytes to emit
    let i = 0;
    const n = chunk.length;
    let state = this.state;
    let lineLength = this.lineLength;
    let sinceLf = this.sinceLf;
    const flags = this.flags;
    const emitUpTo = (end: number): void => {
      if (end > start) body.push(chunk.subarray(start, end));
    };
    const floodLimit = this.limits.floodLimit;
    for (; i < n; i++) {
      const b = chunk[i]!;
      if (state === S_MID && b !== 0x0d && b !== 0x0a && b !== 0) {
        // Inside a line (most of the bytes): run to the next CR, LF or NUL in one tight loop,
        // which counts them as the steps below would one by one (no state changes on the way).
        let j = i + 1;
        for (; j < n; j++) {
          const c = chunk[j]!;
          if (c === 0x0d || c === 0x0a || c === 0) break;
        }
        lineLength += j - i;
        sinceLf += j - i;
        if (sinceLf > floodLimit) flags.flood = true;
        i = j - 1;
        continue;
      }
      lineLength++;
      sinceLf++;
      if (b === 0x0a) sinceLf = 0;
      else if (b === 0) flags.nul = true;
      else if (sinceLf > floodLimit) {
        flags.flood = true;
      }
      switch (state) {
        case S_LINE_START:
          if (lineLength === 1) this.continuation = b === 0x20 || b === 0x09;
          if (this.dotStuffed && b === 0x2e) {
            // the dot is not part of the message: emit what came before it
            emitUpTo(i);
            start = i + 1;
            state = S_DOT;
          } else if (b === 0x0d) state = S_CR;
          else if (b === 0x0a) {
            flags.bareLf = true;
            state = S_MID;
          } else state = S_MID;
          break;
        case S_MID:
          if (b === 0x0d) state = S_CR;
          else if (b === 0x0a) flags.bareLf = true;
          break;
        case S_CR:
          if (b === 0x0a) {
            // RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF (the
            // configured limit may be higher: such lines are re-encoded when relayed)
            if (lineLength > this.limits.maxLineLength) flags.longLine = true;
            if (this.inHeader) {
              // RFC 5322 §2.1: the header section ends at the first empty line.
              if (lineLength === 2) this.inHeader = false;
              else this.headerLine();
            }
            lineLength = 0;
            state = S_LINE_START;
          } else if (b === 0x0d) flags.bareCr = true;
          else {
            flags.bareCr = true;
            state = S_MID;
          }
          break;
        case S_DOT:
          if (b === 0x0d) {
            state = S_DOT_CR;
            start = i + 1; // hold the CR until we know whether this is the end
          } else {
            if (b === 0x0a) flags.bareLf = true;
            state = S_MID;
          }
          break;
        case S_DOT_CR:
          if (b === 0x0a) {
            // CR LF "." CR LF: end of data
            this.state = S_LINE_START;
            this.lineLength = 0;
            this.sinceLf = 0;
            return { body, consumed: i + 1, done: true };
          }
          // "." CR then something else: a stuffed dot followed by a bare CR
          body.push(CR_ONLY);
          start = i;
          flags.bareCr = true;
          if (b === 0x0d) state = S_CR;
          else state = S_MID;
          break;
      }
    }
    if (state !== S_DOT_CR) emitUpTo(n);
    this.state = state;
    this.lineLength = lineLength;
    this.sinceLf = sinceLf;
    return { body, consumed: n, done: false };
  }
}
