// Wire helpers of the outbound SMTP client: reply parsing, DATA encoding (CRLF + dot-stuffing),
// xtext for DSN parameters. Pure functions and a stream transform; no sockets.
import { Transform, type TransformCallback } from 'node:stream';

export interface SmtpReply {
  code: number;
  /** "5.1.1" when the reply carries an enhanced status code (RFC 3463), else null. */
  enhanced: string | null;
  /** Text lines without code and separator. */
  lines: string[];
}

/** One line for logs and Diagnostic-Code: "550 5.1.1 no such user". */
export function replyText(r: SmtpReply): string {
  return `${r.code} ${r.enhanced ? r.enhanced + ' ' : ''}${r.lines.join(' ')}`.replace(/[\x00-\x1f\x7f]/g, ' ').trim();
}

/**
 * Collects reply lines until a complete reply (RFC 5321 §4.2: "CODE-text" continues,
 * "CODE text" or "CODE" ends). Feed it lines without CRLF; returns the reply when complete.
 */
export class ReplyParser {
  private lines: string[] = [];
  private code = 0;

  /** Throws on a line that is not a reply line. */
  push(line: string): SmtpReply | null {
    const m = /^([2-5]\d\d)([ -]?)(.*)$/.exec(line);
    if (!m) throw new Error(`malformed SMTP reply line: ${JSON.stringify(line.slice(0, 100))}`);
    const code = Number(m[1]);
    if (this.lines.length && code !== this.code) throw new Error(`SMTP reply code changed within a multiline reply: ${line.slice(0, 100)}`);
    this.code = code;
    this.lines.push(m[3]!);
    if (m[2] === '-') return null;
    const lines = this.lines;
    this.lines = [];
    // RFC 2034 §4: the enhanced status code starts every line of the text
    const em = /^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)/.exec(lines[0] ?? '');
    const enhanced = em && Number(em[1]) === Math.floor(code / 100) ? `${em[1]}.${em[2]}.${em[3]}` : null;
    const text = enhanced ? lines.map((l) => l.replace(/^[245]\.\d{1,3}\.\d{1,3}\s*/, '')) : lines;
    return { code, enhanced, lines: text };
  }
}

/** EHLO keywords (upper case) with their parameters. */
export function parseEhlo(reply: SmtpReply): Map<string, string> {
  const ext = new Map<string, string>();
  for (const line of reply.lines.slice(1)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    if (m) ext.set(m[1]!.toUpperCase(), (m[2] ?? '').trim());
  }
  return ext;
}

/**
 * RFC 3461 §4: xtext. "+" and "=" and characters outside "!".."~" are written as "+XX".
 */
export function xtext(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b >= 0x21 && b <= 0x7e && b !== 0x2b && b !== 0x3d) out += String.fromCharCode(b);
    else out += '+' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * Encodes a stored message for DATA: every line end becomes CRLF (a bare CR or a bare LF in the
 * stored message too), and a line starting with "." gets another "." in front (unless
 * `terminate` is false: then only line ends are normalised, for DKIM signing).
 * The terminating "CRLF.CRLF" is added at the end (with a CRLF first when the message did not
 * end with one).
 */
export class DataEncoding {
  // RFC 5321 §4.5.2: transparency: a line that starts with "." gets one more "."
  // RFC 5321 §2.3.8: lines end with CRLF, and CR and LF never appear alone
  private atLineStart = true;
  private pendingCr = false;
  constructor(private readonly terminate: boolean = true) {}

  encode(chunk: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(chunk.length * 2 + 2);
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.pendingCr) {
        this.pendingCr = false;
        out[o++] = 13;
        out[o++] = 10;
        this.atLineStart = true;
        if (b === 10) continue; // CRLF
      }
      if (b === 13) {
        this.pendingCr = true;
        continue;
      }
      if (b === 10) {
        out[o++] = 13;
        out[o++] = 10;
        this.atLineStart = true;
        continue;
      }
      if (this.atLineStart && b === 0x2e && this.terminate) out[o++] = 0x2e;
      this.atLineStart = false;
      out[o++] = b;
    }
    return out.subarray(0, o);
  }

  finish(): Buffer {
    let tail = '';
    if (this.pendingCr) {
      tail += '\r\n';
      this.pendingCr = false;
      this.atLineStart = true;
    }
    if (this.terminate) tail += (this.atLineStart ? '' : '\r\n') + '.\r\n';
    return Buffer.from(tail, 'latin1');
  }
}

/** DataEncoding as a stream transform. */
export class DataEncoder extends Transform {
  private readonly enc: DataEncoding;
  constructor(opts: { terminate?: boolean } = {}) {
    super();
    this.enc = new DataEncoding(opts.terminate ?? true);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    cb(null, this.enc.encode(chunk));
  }
  override _flush(cb: TransformCallback): void {
    const tail = this.enc.finish();
    cb(null, tail.length ? tail : undefined);
  }
}

/** Encodes a whole in-memory message (tests, small messages). */
export function encodeData(message: Uint8Array, opts: { terminate?: boolean } = {}): Buffer {
  const enc = new DataEncoding(opts.terminate ?? true);
  return Buffer.concat([enc.encode(message), enc.finish()]);
}
