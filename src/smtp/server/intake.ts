// Receives one message (DATA or BDAT) as it arrives, with bounded memory: a message of up to
// IN_MEMORY_LIMIT octets stays in memory (no spool file: its bytes are written once, into the
// staged blob, with our headers in front); a longer one goes to a spool file, every write awaited
// (backpressure). The header section is kept in memory up to a limit (for the checks that need
// it: From:, Message-ID:, Date:, removed headers), and the framing flags (bare CR/LF, long lines,
// NUL) are collected by the wire scanner.
// Neither is ever acknowledged from: the message becomes durable only in a staged blob (deliver.ts).
import { createReadStream } from 'node:fs';
import { open, mkdir, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { randomHex } from '../../net/random.js';
import { BodyScanner, DEFAULT_BODY_LIMITS } from '../wire/framer.js';

/** Most header-section bytes kept in memory; a longer header section is refused (552 5.3.4). */
export const MAX_HEADER_SECTION = 256 * 1024;

/**
 * A message up to this size is kept in memory, not spooled (most mail: the issue 14 profile
 * showed the spool's open, write, close, read back and unlink as a tenth of the main thread's
 * time per 4 KB message). Bounds what a session holds: 1,000 sessions in DATA hold at most 64 MB.
 */
export const IN_MEMORY_LIMIT = 64 * 1024;

const swept = new Map<string, Promise<void>>();

/** Creates the spool directory once per process and removes what a previous run left behind. */
function prepareSpool(dir: string): Promise<void> {
  let p = swept.get(dir);
  if (!p) {
    p = (async () => {
      await mkdir(dir, { recursive: true });
      for (const name of await readdir(dir)) {
        if (name.endsWith('.eml')) await rm(join(dir, name), { force: true });
      }
    })();
    swept.set(dir, p);
  }
  return p;
}

export interface IntakeResult {
  /** The spool file; null when the whole message is in `bytes`. */
  path: string | null;
  /** The whole message, when it was kept in memory (at most IN_MEMORY_LIMIT octets); else null. */
  bytes: Buffer | null;
  /** Octets of the message as received (unstuffed). */
  size: number;
  /** The header section including the empty line that ends it (or the whole message when it has no body). */
  header: Buffer;
}

/** What a message may look like (from [smtp]): lines and header structure. */
export interface IntakeLimits {
  /** Longest line, in octets without its CR LF (smtp.max_line_length). */
  maxLineLength: number;
  /** Most header lines (smtp.max_header_lines), and most lines in one header field (smtp.max_header_field_lines). */
  maxHeaderLines: number;
  maxHeaderFieldLines: number;
}

/** The limits of the [smtp] section. */
export function intakeLimits(smtp: { max_line_length: number; max_header_lines: number; max_header_field_lines: number }): IntakeLimits {
  return { maxLineLength: smtp.max_line_length, maxHeaderLines: smtp.max_header_lines, maxHeaderFieldLines: smtp.max_header_field_lines };
}

export class Intake {
  readonly scanner: BodyScanner;
  /** Octets of message content received so far (also those not written after a refusal). */
  size = 0;
  /** Over max_message_size: the rest is read and dropped (RFC 1870 §6.1: 552 at the end). */
  oversize = false;
  private file: FileHandle | null = null;
  private opening: Promise<void> | null = null;
  /** The spool file's name, given when it is first opened (a message kept in memory never has one). */
  private path: string | null = null;
  private headerParts: Buffer[] = [];
  private headerBytes = 0;
  /** Offset (in the message) just after the empty line that ends the header section; -1 while not found. */
  private headerEnd = -1;
  /** Last 3 octets seen (at first a virtual CRLF before the message), to find CRLF CRLF across chunk borders. */
  private tail = Buffer.from('\r\n');
  headerTooLarge = false;
  private closed = false;
  private writtenBytes = 0;
  /** The message while it fits in memory (one buffer per write); spilled to the file past the limit. */
  private memory: Buffer[] = [];

  constructor(
    spoolDir: string,
    private readonly maxSize: number,
    mode: 'data' | 'bdat',
    /** BODY=BINARYMIME: bare CR/LF, NUL and long lines are content, not errors (RFC 3030 §3). */
    private readonly binary = false,
    limits?: IntakeLimits,
  ) {
    this.maxLineLength = limits?.maxLineLength ?? DEFAULT_BODY_LIMITS.maxLineLength - 2;
    this.scanner = new BodyScanner(mode === 'data', {
      // the scanner counts the CR LF
      maxLineLength: this.maxLineLength + 2,
      // a line the limit allows is never a flood (the 1 MB default closes the session otherwise)
      floodLimit: Math.max(DEFAULT_BODY_LIMITS.floodLimit, this.maxLineLength + 2),
      maxHeaderLines: limits?.maxHeaderLines ?? DEFAULT_BODY_LIMITS.maxHeaderLines,
      maxHeaderFieldLines: limits?.maxHeaderFieldLines ?? DEFAULT_BODY_LIMITS.maxHeaderFieldLines,
    });
    this.spoolDir = spoolDir;
  }

  private readonly spoolDir: string;
  /** Longest line accepted, in octets without its CR LF. */
  readonly maxLineLength: number;

  /**
   * The header section's structure is abusive (too many lines, or one field of too many lines):
   * the reason to give (552 5.3.4), else null. Found while the bytes stream past, so nothing
   * later (checks, DKIM/ARC, the MIME parser) ever parses such a header.
   */
  get headerAbuse(): string | null {
    const f = this.scanner.flags;
    const l = this.scanner.limits;
    if (f.tooManyHeaderLines) return `Message header has more than ${l.maxHeaderLines} lines`;
    if (f.longHeaderField) return `Message header has a field of more than ${l.maxHeaderFieldLines} lines`;
    return null;
  }

  /** Creates the spool file on the first write (a refused BDAT chunk never makes one). */
  private openFile(): Promise<void> {
    if (!this.opening) {
      const path = (this.path = join(this.spoolDir, `${Date.now().toString(36)}-${randomHex(8)}.eml`));
      this.opening = prepareSpool(this.spoolDir).then(async () => {
        this.file = await open(path, 'w', 0o600);
      });
    }
    return this.opening;
  }

  /** True when the message will be refused anyway (no point writing more of it). */
  get refused(): boolean {
    const f = this.scanner.flags;
    if (this.oversize || this.headerTooLarge || f.tooManyHeaderLines || f.longHeaderField) return true;
    return !this.binary && (f.bareCr || f.bareLf || f.longLine || f.nul);
  }

  /** Appends message bytes; resolves when they are handed to the file system (backpressure). */
  async write(parts: Buffer[]): Promise<void> {
    for (const part of parts) {
      this.size += part.length;
      // RFC 1870 §4: a maximum of 0 means no fixed limit.
      if (this.maxSize > 0 && this.size > this.maxSize) this.oversize = true;
      if (this.headerEnd < 0 && !this.headerTooLarge && !this.headerAbuse) this.captureHeader(part);
    }
    // a refused header is not kept in memory either
    if (this.headerAbuse) this.headerParts = [];
    if (this.refused || this.closed) return;
    const buffers = parts.filter((p) => p.length);
    if (!buffers.length) return;
    const bytes = buffers.reduce((n, b) => n + b.length, 0);
    if (!this.opening && this.writtenBytes + bytes <= IN_MEMORY_LIMIT) {
      // Copied: the caller's buffers may be reused after this resolves.
      this.memory.push(Buffer.concat(buffers, bytes));
      this.writtenBytes += bytes;
      return;
    }
    if (!this.opening && this.memory.length) {
      // Past the limit: what was kept goes to the file first.
      buffers.unshift(...this.memory);
      this.memory = [];
      this.writtenBytes = 0;
    }
    await this.openFile();
    if (!this.file) return;
    // writev writes every buffer (looping internally until done).
    await this.file.writev(buffers);
    for (const b of buffers) this.writtenBytes += b.length;
  }

  private captureHeader(part: Buffer): void {
    const start = this.headerBytes;
    // The search runs over CRLF + message, so a message that starts with CRLF has an empty header section.
    const joined = Buffer.concat([this.tail, part]);
    const idx = joined.indexOf('\r\n\r\n');
    if (idx >= 0) {
      const end = start - this.tail.length + idx + 4;
      this.headerParts.push(part.subarray(0, end - start));
      this.headerBytes = end;
      this.headerEnd = end;
      return;
    }
    this.headerParts.push(part);
    this.headerBytes += part.length;
    this.tail = joined.subarray(Math.max(0, joined.length - 3));
    if (this.headerBytes > MAX_HEADER_SECTION) {
      this.headerTooLarge = true;
      this.headerParts = [];
    }
  }

  /** Closes the spool file; the message is complete. */
  async finish(): Promise<IntakeResult> {
    this.closed = true;
    const header = Buffer.concat(this.headerParts);
    if (!this.opening) {
      const bytes = this.memory.length === 1 ? this.memory[0]! : Buffer.concat(this.memory, this.writtenBytes);
      this.memory = [];
      return { path: null, bytes, size: this.writtenBytes, header };
    }
    await this.opening;
    await this.file?.close();
    this.file = null;
    return { path: this.path, bytes: null, size: this.writtenBytes, header };
  }

  /** Removes the spool file. Safe to call more than once. */
  async abort(): Promise<void> {
    this.closed = true;
    this.memory = [];
    if (!this.opening) return;
    try {
      if (this.opening) await this.opening;
    } catch {
      /* the file was never created */
    }
    const f = this.file;
    this.file = null;
    await f?.close().catch(() => undefined);
    if (this.path) await rm(this.path, { force: true });
  }
}

/** The received message's octets from `offset` on, in chunks of at most 64 KB (spool or memory). */
export async function* messageChunks(m: IntakeResult, offset = 0): AsyncGenerator<Buffer> {
  if (offset >= m.size) return;
  if (m.bytes) {
    yield m.bytes.subarray(offset);
    return;
  }
  if (m.path) yield* createReadStream(m.path, { start: offset, highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>;
}

/** The whole received message in one buffer (Sieve needs it so). */
export async function messageBytes(m: IntakeResult): Promise<Buffer> {
  return m.bytes ?? (m.path ? readFile(m.path) : Buffer.alloc(0));
}

/** Drops what the message left behind (its spool file, if it had one). */
export async function releaseMessage(m: IntakeResult): Promise<void> {
  if (m.path) await rm(m.path, { force: true });
}
