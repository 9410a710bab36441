// What every POP3 command shares: the descriptor type, the session view a command sees, the
// typed error, and helpers over the maildrop (RFC 1939). One file per command beside this one;
// index.ts is the table the session dispatches through.
import type { Readable } from 'node:stream';
import type { ServerContext } from '../../context.js';
import type { Logger } from '../../log/logger.js';
import type { Transport } from '../../net/transport.js';
import { StoreError } from '../../store/types.js';
import { readAheadRoom, type Maildrop, type DropEntry } from '../maildrop.js';
import { DotStuffer, multiLine, okLine, parseMessageNumber, type Command, type FramedLine, type ResponseCode } from '../wire.js';

export type Pop3State = 'authorization' | 'transaction' | 'update';

/** A failure carrying its -ERR reply. `bad` counts it toward the bad-command limit. */
export class Pop3Error extends Error {
  constructor(
    message: string,
    readonly code?: ResponseCode,
    readonly bad = false,
  ) {
    super(message);
    this.name = 'Pop3Error';
  }
}

/** What a command sees of its session. */
export interface Pop3Conn {
  readonly ctx: ServerContext;
  readonly transport: Transport;
  readonly log: Logger;
  state: Pop3State;
  /** RFC 6856 §2: the client sent UTF8. */
  utf8: boolean;
  /** The name given with USER, waiting for PASS. */
  user: string | null;
  maildrop: Maildrop | null;
  /** The account logged in (address, for logs). */
  address: string | null;
  /** Releases the maildrop lock; set at login. */
  unlock: (() => void) | null;
  /** True while a multi-line response is being sent: a failure then can only close the connection. */
  responding: boolean;
  /** Writes to the client; resolves at once, or after the client has read enough. */
  send(data: string | Uint8Array): Promise<void>;
  /** The next line from the client (a SASL response); null once the connection is gone. */
  readLine(): Promise<FramedLine | null>;
  /** STLS after the go-ahead: drops pipelined input, runs the handshake (RFC 2595 §4). */
  upgradeTls(): Promise<unknown>;
  /** Counts a bad command or failed login toward the limit (may end the session); true if it ended. */
  countError(): boolean;
  /** Closes the connection once what was written has been sent. */
  close(): void;
  /** True once the connection is gone. */
  readonly isEnded: boolean;
}

/** A command module: name, the states it is valid in, a pure parse of its arguments, and run(). */
export interface Pop3Command<A = unknown> {
  readonly name: string;
  readonly states: readonly Pop3State[];
  /** Pure: checks the arguments' syntax (a bad one throws Pop3Error with bad = true). */
  parse(cmd: Command): A;
  run(c: Pop3Conn, args: A): Promise<void>;
}

/** Type-checks one command module; the table holds them as Pop3Command<unknown>. */
export function command<A>(c: Pop3Command<A>): Pop3Command {
  return c as Pop3Command;
}

export const AUTHORIZATION: readonly Pop3State[] = ['authorization'];
export const TRANSACTION: readonly Pop3State[] = ['transaction'];
export const BOTH: readonly Pop3State[] = ['authorization', 'transaction'];

export const MECHANISMS = ['PLAIN', 'LOGIN'] as const;

/** USER/PASS and AUTH are allowed now: under TLS, or when the operator allows plaintext. */
export function authAllowed(c: Pop3Conn): boolean {
  // RFC 2595 §2.2: a server must be able to refuse clear-text logins unless TLS is active
  return c.transport.tls !== null || c.ctx.config.auth.allow_plaintext;
}

export function requireAuthAllowed(c: Pop3Conn): void {
  if (!authAllowed(c)) throw new Pop3Error('Plaintext authentication is not allowed without TLS: use STLS first', 'SYS/PERM');
}

/** parse() for commands without arguments. */
export function noArgs(cmd: Command): void {
  if (cmd.args.length > 0) throw new Pop3Error(`${cmd.name} takes no arguments`, undefined, true);
}

/** parse() of a message number (RFC 1939 §5: msg). */
export function messageNumber(arg: string | undefined): number {
  const n = parseMessageNumber(arg);
  if (n === null) throw new Pop3Error('Invalid message number', undefined, true);
  return n;
}

export function dropOf(c: Pop3Conn): Maildrop {
  if (!c.maildrop) throw new Error('no maildrop in TRANSACTION state');
  return c.maildrop;
}

/** The message a number names. */
export function messageAt(c: Pop3Conn, n: number): DropEntry {
  const drop = dropOf(c);
  const e = drop.entry(n);
  if (!e) throw new Pop3Error(`No such message, only ${drop.entries.length} messages in maildrop`);
  // RFC 1939 §5: a message marked as deleted may not be referred to
  if (e.deleted) throw new Pop3Error('Message already deleted');
  return e;
}

/** A message that can still be read (not expunged by another session meanwhile). */
export function retrievable(c: Pop3Conn, n: number): DropEntry {
  const e = messageAt(c, n);
  if (e.gone) throw new Pop3Error('Message was deleted by another session');
  return e;
}

export function maildropSummary(drop: Maildrop): string {
  const { count, size } = drop.stat();
  return `maildrop has ${count} message${count === 1 ? '' : 's'} (${size} octets)`;
}

export function* listing(drop: Maildrop, line: (e: DropEntry) => string): Generator<string> {
  // RFC 1939 §5: messages marked as deleted are not listed.
  for (const e of drop.entries) if (!e.deleted) yield line(e);
}

/** Sends generated lines of a multi-line response in batches, waiting when the client is slow. */
export async function sendList(c: Pop3Conn, status: string, lines: Iterable<string>): Promise<void> {
  let batch: string[] = [];
  let first = status;
  c.responding = true;
  for (const l of lines) {
    batch.push(l);
    if (batch.length >= 512) {
      await c.send(first + batch.map((x) => x + '\r\n').join(''));
      first = '';
      batch = [];
    }
  }
  await c.send(multiLine(first, batch));
  c.responding = false;
}

/** Messages up to this size are read in one piece and answered in one write; larger ones stream. */
const SMALL_MESSAGE = 128 * 1024;

/** Reads a blob range; a blob that is gone (expunged elsewhere meanwhile) becomes a -ERR. */
async function readBlob(c: Pop3Conn, e: DropEntry, range?: { start: number; end: number }): Promise<Buffer> {
  try {
    return await c.ctx.store.blobs.read(e.blobId, range);
  } catch (err) {
    if (err instanceof StoreError && err.code === 'not-found') {
      e.gone = true;
      throw new Pop3Error('Message was deleted by another session');
    }
    throw err;
  }
}

/** RETR's status line (RFC 1939 §7: the size is the octets of the message before byte-stuffing). */
export function retrStatus(e: DropEntry): string {
  return okLine(`${e.size} octets`);
}

/** RETR's whole response for a small message: the status line, the message dot-stuffed, the final ".". */
function retrResponse(e: DropEntry, bytes: Buffer): Buffer {
  const stuffer = new DotStuffer();
  return Buffer.concat([Buffer.from(retrStatus(e)), stuffer.push(bytes).out, stuffer.finish()]);
}

/**
 * Read-ahead for a client that RETRs in order: each read takes at most this many messages and
 * bytes (fewer when the process-wide budget, maildrop.ts READ_AHEAD_BUDGET, is nearly spent).
 * Large steps matter: each one is a wake-up of the reader thread, which on a busy machine costs
 * the main thread a context switch.
 */
const READ_AHEAD_MESSAGES = 64;
const READ_AHEAD_BYTES = 1024 * 1024;

/** The next messages a sequential reader will ask for after `after` (small, not deleted or gone). */
function nextWindow(drop: Maildrop, after: number): DropEntry[] {
  const want: DropEntry[] = [];
  const budget = Math.min(READ_AHEAD_BYTES, readAheadRoom());
  let bytes = 0;
  for (let n = after + 1; want.length < READ_AHEAD_MESSAGES; n++) {
    const next = drop.entry(n);
    if (!next) break;
    if (next.deleted || next.gone || next.size > SMALL_MESSAGE) continue;
    bytes += next.size;
    if (bytes > budget) break;
    want.push(next);
  }
  return want;
}

/** Reads a window in the background (one step through the blob reader); its bytes wait in the maildrop. */
function readAheadInBackground(c: Pop3Conn, drop: Maildrop, window: DropEntry[]): void {
  if (!window.length) return;
  drop.aheadUpTo = window[window.length - 1]!.number;
  const release = drop.reserveAhead(window.reduce((n, x) => n + x.size, 0));
  const reading = c.ctx.store.blobs
    .readMany(window.map((x) => ({ blobId: x.blobId, start: 0, end: x.size })))
    .then(
      (got) => {
        // framed now, while the client is busy with an earlier message: a RETR then only writes
        try {
          for (let i = 0; i < window.length; i++) if (got[i]) drop.keepAhead(window[i]!.number, retrResponse(window[i]!, got[i]!));
        } catch {
          // what could not be kept is read when it is asked for
        }
      },
      // a failed read-ahead only means these messages are read when asked for
      () => undefined,
    )
    .finally(() => {
      release();
      if (drop.aheadReading === reading) drop.aheadReading = null;
    });
  drop.aheadReading = reading;
}

/**
 * RETR's whole response for a small message. A client that downloads in order (RETR n after RETR
 * n-1: every POP3 client does) gets the following messages read ahead in steps of up to
 * READ_AHEAD_MESSAGES (one round trip to the blob reader each, not four file operations per
 * message), kept in the maildrop until asked for; the next step starts in the background once
 * half of the current one is taken, so a client reading in order never waits for the disk.
 */
async function retrResponseOf(c: Pop3Conn, e: DropEntry): Promise<Buffer> {
  const drop = dropOf(c);
  const sequential = drop.lastRetrieved === e.number - 1;
  drop.lastRetrieved = e.number;
  let bytes = drop.takeAhead(e.number);
  if (!bytes && drop.aheadReading && e.number <= drop.aheadUpTo) {
    // being read ahead right now
    await drop.aheadReading;
    bytes = drop.takeAhead(e.number);
  }
  if (!bytes) {
    const got = await c.ctx.store.blobs.readMany([{ blobId: e.blobId, start: 0, end: e.size }]);
    if (!got[0]) {
      e.gone = true;
      throw new Pop3Error('Message was deleted by another session');
    }
    bytes = retrResponse(e, got[0]);
  }
  // the next step, once half of what was read ahead has been taken
  if (sequential && !drop.aheadReading && drop.aheadUpTo - e.number < READ_AHEAD_MESSAGES / 2) readAheadInBackground(c, drop, nextWindow(drop, Math.max(e.number, drop.aheadUpTo)));
  return bytes;
}

/**
 * Sends a message (or, for TOP, its header and first body lines) dot-stuffed, then the final ".".
 * The status line goes out only once the message could be read, so a failure before that is a
 * plain -ERR; a failure in the middle of a large message can only close the connection.
 */
export async function sendMessage(c: Pop3Conn, status: string, e: DropEntry, top?: { bodyStart: number; lines: number }): Promise<void> {
  const stuffer = new DotStuffer();
  // RFC 1939 §7: TOP sends the header, the blank line after it, then the first n lines of the body
  const bodyStart = top ? Math.min(top.bodyStart, e.size) : e.size;
  if (e.size <= SMALL_MESSAGE && !top) {
    // RETR: the whole response, framed when it was read (ahead)
    await c.send(await retrResponseOf(c, e));
    return;
  }
  if (e.size <= SMALL_MESSAGE) {
    const bytes = await readBlob(c, e);
    const parts: Buffer[] = [Buffer.from(status), stuffer.push(bytes.subarray(0, bodyStart)).out];
    if (top) {
      stuffer.lineBudget = top.lines;
      if (top.lines > 0) parts.push(stuffer.push(bytes.subarray(bodyStart)).out);
    }
    parts.push(stuffer.finish());
    await c.send(Buffer.concat(parts));
    return;
  }
  await readBlob(c, e, { start: 0, end: 1 });
  c.responding = true;
  await c.send(status);
  const pump = async (stream: Readable): Promise<void> => {
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (c.isEnded) return;
        const { out, done } = stuffer.push(chunk);
        // Backpressure: send() waits when the client reads slowly.
        if (out.length > 0) await c.send(out);
        if (done) return;
      }
    } finally {
      stream.destroy();
    }
  };
  if (bodyStart > 0) await pump(c.ctx.store.blobs.open(e.blobId, { start: 0, end: bodyStart }));
  if (top) {
    stuffer.lineBudget = top.lines;
    if (top.lines > 0 && bodyStart < e.size) await pump(c.ctx.store.blobs.open(e.blobId, { start: bodyStart }));
  }
  await c.send(stuffer.finish());
  c.responding = false;
}
