// POP3 command behaviour (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH, RFC 6856 UTF8).
// One descriptor per command: name, the states it is valid in, and run(). The dispatcher in
// session.ts checks the state, counts bad commands and turns a Pop3Error into its -ERR line.
import type { Readable } from 'node:stream';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log/logger.js';
import type { Transport } from '../net/transport.js';
import { createSasl, decodeSaslResponse } from '../auth/index.js';
import { SaslError, type SaslMechanism } from '../auth/types.js';
import { StoreError } from '../store/types.js';
import { Maildrop, lockMaildrop, type DropEntry } from './maildrop.js';
import {
  DotStuffer,
  challengeLine,
  errLine,
  multiLine,
  okLine,
  parseCount,
  parseMessageNumber,
  uniqueId,
  type Command,
  type FramedLine,
  type ResponseCode,
} from './wire.js';

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
  readonly logger: Logger;
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
  /** Writes to the client; resolves at once, or after drain() when the client reads slowly. */
  send(data: string | Uint8Array): Promise<void>;
  /** The next line from the client (a SASL response); null once the connection is gone. */
  readLine(): Promise<FramedLine | null>;
  /** Drops input received and not yet processed (STLS). */
  discardInput(): void;
  /** Counts a failed authentication toward the bad-command limit (may close the session). */
  countFailure(): Promise<void>;
  /** Closes the connection once what was written has been sent. */
  close(): void;
  /** True once the connection is gone. */
  readonly isClosed: boolean;
}

export interface Pop3Command {
  readonly name: string;
  readonly states: readonly Pop3State[];
  run(c: Pop3Conn, cmd: Command): Promise<void>;
}

const AUTH: readonly Pop3State[] = ['authorization'];
const TRANS: readonly Pop3State[] = ['transaction'];
const BOTH: readonly Pop3State[] = ['authorization', 'transaction'];

const MECHANISMS = ['PLAIN', 'LOGIN'] as const;

/** USER/PASS and AUTH are allowed now: under TLS, or when the operator allows plaintext. */
function authAllowed(c: Pop3Conn): boolean {
  // RFC 2595 §2.2: a server must be able to refuse clear-text logins unless TLS is active
  return c.transport.tls !== null || c.ctx.config.auth.allow_plaintext;
}

function requireAuthAllowed(c: Pop3Conn): void {
  if (!authAllowed(c)) throw new Pop3Error('Plaintext authentication is not allowed without TLS: use STLS first', 'SYS/PERM');
}

function noArgs(cmd: Command): void {
  if (cmd.args.length > 0) throw new Pop3Error(`${cmd.name} takes no arguments`, undefined, true);
}

function dropOf(c: Pop3Conn): Maildrop {
  if (!c.maildrop) throw new Error('no maildrop in TRANSACTION state');
  return c.maildrop;
}

/** The message a number names. */
function messageArg(c: Pop3Conn, arg: string | undefined): DropEntry {
  const n = parseMessageNumber(arg);
  if (n === null) throw new Pop3Error('Invalid message number', undefined, true);
  const drop = dropOf(c);
  const e = drop.entry(n);
  if (!e) throw new Pop3Error(`No such message, only ${drop.entries.length} messages in maildrop`);
  // RFC 1939 §5: a message marked as deleted may not be referred to
  if (e.deleted) throw new Pop3Error('Message already deleted');
  return e;
}

function maildropSummary(drop: Maildrop): string {
  const { count, size } = drop.stat();
  return `maildrop has ${count} message${count === 1 ? '' : 's'} (${size} octets)`;
}

/** Sends generated lines of a multi-line response in batches, waiting when the client is slow. */
async function sendList(c: Pop3Conn, status: string, lines: Iterable<string>): Promise<void> {
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

/**
 * Sends a message (or, for TOP, its header and first body lines) dot-stuffed, then the final ".".
 * The status line goes out only once the message could be read, so a failure before that is a
 * plain -ERR; a failure in the middle of a large message can only close the connection.
 */
async function sendMessage(c: Pop3Conn, status: string, e: DropEntry, top?: { bodyStart: number; lines: number }): Promise<void> {
  const stuffer = new DotStuffer();
  // RFC 1939 §7: TOP sends the header, the blank line after it, then the first n lines of the body
  const bodyStart = top ? Math.min(top.bodyStart, e.size) : e.size;
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
        if (c.isClosed) return;
        const { out, done } = stuffer.push(chunk);
        // Backpressure: send() waits for drain() when the client reads slowly.
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

/** After USER/PASS or a SASL exchange: check the credentials, lock the maildrop, take the snapshot. */
async function login(c: Pop3Conn, username: string, password: string, authzid: string): Promise<void> {
  const result = await c.ctx.auth.authenticate({ username, password, authzid: authzid || undefined, ip: c.transport.remoteAddress, protocol: 'pop3' });
  c.user = null;
  if (!result.ok) {
    c.logger.info({ user: username, reason: result.reason }, 'pop3 login failed');
    if (result.reason === 'throttled') {
      await c.send(errLine('Too many failed logins, try again later', 'SYS/TEMP'));
    } else {
      // RFC 3206 §5: [AUTH] says the credentials were wrong; the same words for an unknown user
      // and a wrong password, so the reply does not tell which addresses exist.
      await c.send(errLine('Authentication failed', 'AUTH'));
    }
    await c.countFailure();
    return;
  }
  const account = result.account;
  const unlock = lockMaildrop(account.id);
  if (!unlock) {
    // RFC 2449 §8.1.2: [IN-USE] when the maildrop is locked by another session.
    c.logger.info({ user: account.address }, 'pop3 maildrop in use');
    throw new Pop3Error('Maildrop is locked by another POP3 session', 'IN-USE');
  }
  let drop: Maildrop;
  try {
    drop = await Maildrop.open(c.ctx.store, account.id);
  } catch (err) {
    unlock();
    c.logger.error({ err, user: account.address }, 'pop3 cannot open maildrop');
    throw new Pop3Error('Cannot open the maildrop, try again later', 'SYS/TEMP');
  }
  if (c.isClosed) {
    drop.close();
    unlock();
    return;
  }
  c.unlock = unlock;
  c.maildrop = drop;
  c.address = account.address;
  c.state = 'transaction';
  c.logger.info({ user: account.address, messages: drop.entries.length }, 'pop3 login');
  await c.send(okLine(`Logged in, ${maildropSummary(drop)}`));
}

/** Decodes a client response line of a SASL exchange. */
function saslResponse(line: FramedLine): Buffer | 'cancel' {
  // RFC 5034 §4: a client response is base64; "*" cancels the exchange
  if (line.kind === 'too-long') throw new Pop3Error('Authentication response too long');
  const r = decodeSaslResponse(line.line.toString('latin1').trim());
  if (!r) throw new Pop3Error('Invalid base64 in authentication response');
  return r.cancel ? 'cancel' : r.data;
}

async function runSasl(c: Pop3Conn, mech: SaslMechanism, initial: Buffer | null): Promise<void> {
  let response: Buffer | null = initial;
  for (;;) {
    let step: ReturnType<SaslMechanism['step']>;
    try {
      step = mech.step(response);
    } catch (err) {
      if (err instanceof SaslError) {
        await c.send(errLine('Malformed authentication exchange', 'AUTH'));
        await c.countFailure();
        return;
      }
      throw err;
    }
    if ('credentials' in step) {
      const { username, password, authzid } = step.credentials;
      await login(c, username, password, authzid);
      return;
    }
    await c.send(challengeLine(step.challenge));
    const line = await c.readLine();
    if (line === null) return;
    const r = saslResponse(line);
    // RFC 5034 §4: a "*" response cancels the exchange; the server answers -ERR.
    if (r === 'cancel') throw new Pop3Error('Authentication canceled');
    response = r;
  }
}

/** The capability list; it depends on the state and on TLS. */
export function capabilities(c: Pop3Conn): string[] {
  // RFC 2449 §5: CAPA lists the capabilities, which may differ before and after login
  const caps = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
  if (c.state === 'authorization') {
    if (authAllowed(c)) {
      caps.push('USER', `SASL ${MECHANISMS.join(' ')}`);
    }
    // RFC 2595 §4: STLS is offered only in AUTHORIZATION state and only before TLS is active.
    if (c.transport.tls === null) caps.push('STLS');
    // RFC 6856 §2: "UTF8 USER" says USER/PASS take UTF-8.
    caps.push('UTF8 USER');
  }
  caps.push('IMPLEMENTATION Yubin');
  return caps;
}

const commands: Pop3Command[] = [
  {
    name: 'CAPA',
    states: BOTH,
    async run(c, cmd) {
      noArgs(cmd);
      await sendList(c, okLine('Capability list follows'), capabilities(c));
    },
  },
  {
    name: 'USER',
    states: AUTH,
    async run(c, cmd) {
      requireAuthAllowed(c);
      const name = cmd.rest.trim();
      if (!name) throw new Pop3Error('USER needs a name', undefined, true);
      c.user = name;
      // The same reply whether the user exists or not.
      await c.send(okLine('Send your password'));
    },
  },
  {
    name: 'PASS',
    states: AUTH,
    async run(c, cmd) {
      requireAuthAllowed(c);
      if (c.user === null) throw new Pop3Error('USER first', undefined, true);
      // RFC 1939 §7: PASS has one argument; spaces in it are part of the password.
      await login(c, c.user, cmd.rest, '');
    },
  },
  {
    name: 'AUTH',
    states: AUTH,
    async run(c, cmd) {
      requireAuthAllowed(c);
      if (cmd.args.length === 0) {
        // Not in RFC 5034: older clients (Outlook) send a bare AUTH to list mechanisms.
        await sendList(c, okLine('Mechanisms follow'), MECHANISMS);
        return;
      }
      if (cmd.args.length > 2) throw new Pop3Error('AUTH takes a mechanism and an optional initial response', undefined, true);
      const mech = createSasl(cmd.args[0]!.toUpperCase());
      if (!mech) throw new Pop3Error('Unsupported authentication mechanism');
      let initial: Buffer | null = null;
      if (cmd.args[1] !== undefined) {
        // RFC 5034 §4: the initial response is base64; "=" means an empty one.
        const r = decodeSaslResponse(cmd.args[1]);
        if (!r) throw new Pop3Error('Invalid base64 in initial response');
        if (r.cancel) throw new Pop3Error('Authentication canceled');
        initial = r.data;
      }
      await runSasl(c, mech, initial);
    },
  },
  {
    name: 'APOP',
    states: AUTH,
    async run() {
      throw new Pop3Error('APOP is not supported (passwords are stored hashed): use USER/PASS or AUTH over TLS');
    },
  },
  {
    name: 'STLS',
    states: AUTH,
    async run(c, cmd) {
      noArgs(cmd);
      if (c.transport.tls !== null) throw new Pop3Error('TLS is already active', undefined, true);
      await c.send(okLine('Begin TLS negotiation'));
      // RFC 2595 §4: the client must not pipeline after STLS; anything it sent before the
      // handshake is discarded (a command injected in plaintext must not run under TLS).
      c.discardInput();
      // RFC 2595 §4: after TLS the session starts over; USER given before is forgotten.
      c.user = null;
      c.utf8 = false;
      try {
        await c.transport.startTls();
      } catch (err) {
        c.logger.info({ err }, 'pop3 TLS handshake failed');
        c.close();
      }
    },
  },
  {
    name: 'UTF8',
    states: AUTH,
    async run(c, cmd) {
      noArgs(cmd);
      // RFC 6856 §2: UTF8 enables UTF-8 mode: UTF-8 in USER/PASS, and messages are sent as they are.
      // todo(RFC 6856 §2): a message with UTF-8 header fields is also sent as stored to a client that did not send UTF8 (no RFC 6857 downgrade).
      c.utf8 = true;
      await c.send(okLine('UTF8 enabled'));
    },
  },
  {
    name: 'QUIT',
    states: BOTH,
    async run(c) {
      if (c.state === 'authorization') {
        await c.send(okLine('Yubin POP3 server signing off'));
        c.close();
        return;
      }
      // RFC 1939 §6: QUIT in TRANSACTION state enters UPDATE: the messages marked as deleted are
      // removed, then the connection closes. Only QUIT gets here: a dropped connection removes nothing.
      c.state = 'update';
      const drop = dropOf(c);
      const uids = drop.deletedUids();
      try {
        if (uids.length > 0) {
          // One atomic store call, durable when it resolves: +OK only after that.
          await c.ctx.store.expunge(drop.mailboxId, uids);
        }
        c.logger.info({ user: c.address, deleted: uids.length }, 'pop3 logout');
        await c.send(okLine(`Yubin POP3 server signing off (${uids.length} message${uids.length === 1 ? '' : 's'} deleted)`));
      } catch (err) {
        c.logger.error({ err, user: c.address }, 'pop3 update failed');
        // RFC 1939 §6: -ERR when some deleted messages could not be removed.
        await c.send(errLine('Some deleted messages were not removed, try again later', 'SYS/TEMP'));
      } finally {
        drop.close();
        c.maildrop = null;
        c.unlock?.();
        c.unlock = null;
        c.close();
      }
    },
  },
  {
    name: 'STAT',
    states: TRANS,
    async run(c, cmd) {
      noArgs(cmd);
      // RFC 1939 §5: "+OK nn mm": messages not marked deleted, and their size in octets.
      const { count, size } = dropOf(c).stat();
      await c.send(okLine(`${count} ${size}`));
    },
  },
  {
    name: 'LIST',
    states: TRANS,
    async run(c, cmd) {
      if (cmd.args.length > 1) throw new Pop3Error('LIST takes at most one argument', undefined, true);
      if (cmd.args.length === 1) {
        const e = messageArg(c, cmd.args[0]);
        await c.send(okLine(`${e.number} ${e.size}`));
        return;
      }
      const drop = dropOf(c);
      await sendList(c, okLine(maildropSummary(drop)), listing(drop, (e) => `${e.number} ${e.size}`));
    },
  },
  {
    name: 'UIDL',
    states: TRANS,
    async run(c, cmd) {
      if (cmd.args.length > 1) throw new Pop3Error('UIDL takes at most one argument', undefined, true);
      const drop = dropOf(c);
      if (cmd.args.length === 1) {
        const e = messageArg(c, cmd.args[0]);
        await c.send(okLine(`${e.number} ${uniqueId(drop.uidValidity, e.uid)}`));
        return;
      }
      await sendList(c, okLine('Unique-ID listing follows'), listing(drop, (e) => `${e.number} ${uniqueId(drop.uidValidity, e.uid)}`));
    },
  },
  {
    name: 'RETR',
    states: TRANS,
    async run(c, cmd) {
      if (cmd.args.length !== 1) throw new Pop3Error('RETR takes a message number', undefined, true);
      const e = retrievable(c, cmd.args[0]);
      // RFC 1939 §7: the size is the octets of the message as sent, before byte-stuffing.
      await sendMessage(c, okLine(`${e.size} octets`), e);
    },
  },
  {
    name: 'TOP',
    states: TRANS,
    async run(c, cmd) {
      if (cmd.args.length !== 2) throw new Pop3Error('TOP takes a message number and a number of lines', undefined, true);
      const e = retrievable(c, cmd.args[0]);
      const lines = parseCount(cmd.args[1]);
      if (lines === null) throw new Pop3Error('Invalid number of lines', undefined, true);
      // The header's end is known from the structure parsed at delivery (never re-parsed here).
      const structure = await c.ctx.store.getStructure(dropOf(c).mailboxId, e.uid);
      if (!structure) {
        e.gone = true;
        throw new Pop3Error('Message was deleted by another session');
      }
      await sendMessage(c, okLine('Top of message follows'), e, { bodyStart: structure.root.bodyStart, lines });
    },
  },
  {
    name: 'DELE',
    states: TRANS,
    async run(c, cmd) {
      if (cmd.args.length !== 1) throw new Pop3Error('DELE takes a message number', undefined, true);
      const e = messageArg(c, cmd.args[0]);
      // RFC 1939 §5: DELE only marks; the message is removed in the UPDATE state.
      e.deleted = true;
      await c.send(okLine(`Message ${e.number} deleted`));
    },
  },
  {
    name: 'NOOP',
    states: TRANS,
    async run(c, cmd) {
      noArgs(cmd);
      await c.send(okLine());
    },
  },
  {
    name: 'RSET',
    states: TRANS,
    async run(c, cmd) {
      noArgs(cmd);
      const drop = dropOf(c);
      drop.reset();
      await c.send(okLine(maildropSummary(drop)));
    },
  },
];

function retrievable(c: Pop3Conn, arg: string | undefined): DropEntry {
  const e = messageArg(c, arg);
  if (e.gone) throw new Pop3Error('Message was deleted by another session');
  return e;
}

function* listing(drop: Maildrop, line: (e: DropEntry) => string): Generator<string> {
  // RFC 1939 §5: messages marked as deleted are not listed.
  for (const e of drop.entries) if (!e.deleted) yield line(e);
}

export const COMMANDS: ReadonlyMap<string, Pop3Command> = new Map(commands.map((c) => [c.name, c]));
