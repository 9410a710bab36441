// The outbound SMTP client: one connection to one server (RFC 5321), with EHLO, STARTTLS
// (RFC 3207), PIPELINING (RFC 2920), SIZE (RFC 1870), AUTH PLAIN/LOGIN (RFC 4954) for a
// smarthost, and per-recipient replies. MX routing, retries and DSNs are the queue's job.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { ReplyParser, parseEhlo, replyText, DataEncoder, type SmtpReply } from './wire.js';

export type TlsMode = 'opportunistic' | 'starttls' | 'implicit' | 'none';

/** Message content gathered per socket write, at most (octets). */
const WRITE_BATCH = 64 * 1024;

export interface ClientOptions {
  /** IP address (or name) to connect to. */
  host: string;
  port: number;
  /** Name for TLS SNI and logs (the MX host name). */
  servername?: string;
  localAddress?: string;
  /** Our name in EHLO. */
  heloName: string;
  tls: TlsMode;
  connectTimeoutMs?: number;
  /** Aborting closes the connection (shutdown). */
  signal?: AbortSignal;
  /** Per reply; RFC 5321 §4.5.3.2 suggests minutes (10 for the end of DATA). */
  replyTimeoutMs?: number;
}

/** The peer did something that ends this connection (refused, timed out, closed, bad reply). */
export class SmtpConnectionError extends Error {
  constructor(
    message: string,
    /** The reply that ended it, when there was one (a 421 or a failed greeting/EHLO). */
    readonly reply: SmtpReply | null = null,
    /** True when the problem happened after the connection was up (mid-transaction). */
    readonly midSession = false,
    /** True when the TLS handshake failed (an opportunistic sender may try again without TLS). */
    readonly tlsFailed = false,
  ) {
    super(message);
    this.name = 'SmtpConnectionError';
  }
}

export interface ClientTransaction {
  from: string;
  mailParams: string[];
  recipients: Array<{ address: string; params: string[] }>;
  /** Header lines (CRLF-terminated) written before the message, e.g. DKIM-Signature. */
  prefix?: string;
  /** The stored message (any line ends; it is normalised to CRLF and dot-stuffed on the wire). */
  message: () => Readable;
  /**
   * Send the message unchanged in one BDAT ... LAST chunk (RFC 3030) instead of DATA: for
   * BINARYMIME. The value is the message's size in octets (without the prefix).
   */
  bdatSize?: number;
}

export interface TransactionResult {
  mail: SmtpReply;
  /** One reply per recipient, in order; absent (null) when MAIL FROM failed. */
  rcpts: Array<SmtpReply | null>;
  /** The reply after the data (or to DATA itself when it was refused); null when no recipient was accepted. */
  data: SmtpReply | null;
}

export class SmtpClient {
  extensions = new Map<string, string>();
  secure = false;
  /** Transactions sent on this connection. */
  transactions = 0;
  /** When the connection was made (ms since the epoch): a kept connection is not reused forever. */
  readonly openedAt = Date.now();
  /** The current transaction got as far as DATA (so a failure now may have reached the server). */
  dataStarted = false;
  private socket: Socket | TLSSocket;
  private buf = '';
  private parser = new ReplyParser();
  private replies: SmtpReply[] = [];
  private waiters: Array<{ resolve: (r: SmtpReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
  private failed: Error | null = null;
  private readonly onData = (d: Buffer): void => this.ingest(d);
  greeting: SmtpReply | null = null;
  private detach: () => void = () => undefined;

  private constructor(
    socket: Socket | TLSSocket,
    private readonly opts: ClientOptions,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  get usable(): boolean {
    return this.failed === null && !this.socket.destroyed;
  }

  get peer(): string {
    return `${this.opts.servername ?? this.opts.host}[${this.opts.host}]:${this.opts.port}`;
  }

  /** Connects, reads the greeting, says EHLO (HELO if EHLO is refused), and upgrades with STARTTLS as the mode asks. */
  static async connect(opts: ClientOptions): Promise<SmtpClient> {
    const timeout = opts.connectTimeoutMs ?? 30_000;
    const socket = netConnect({ host: opts.host, port: opts.port, localAddress: opts.localAddress });
    socket.setNoDelay(true);
    const client = new SmtpClient(socket, opts);
    if (opts.signal) {
      if (opts.signal.aborted) socket.destroy(new Error('aborted'));
      const onAbort = (): void => client.close();
      opts.signal.addEventListener('abort', onAbort, { once: true });
      client.detach = () => opts.signal!.removeEventListener('abort', onAbort);
    }
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new SmtpConnectionError(`connect to ${client.peer}: timed out`));
        }, timeout);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(new SmtpConnectionError(`connect to ${client.peer}: ${err.message}`));
        });
      });
      if (opts.tls === 'implicit') await client.upgrade();
      const greeting = await client.read(timeout);
      client.greeting = greeting;
      // RFC 5321 §3.1: a 554 (or any non-220) greeting means no mail service here
      if (greeting.code !== 220) throw new SmtpConnectionError(`${client.peer} greeted with ${replyText(greeting)}`, greeting);
      await client.hello();
      if (!client.secure && opts.tls !== 'none' && (client.extensions.has('STARTTLS') || opts.tls === 'starttls')) {
        await client.startTls();
      }
      return client;
    } catch (err) {
      client.close();
      throw err instanceof SmtpConnectionError ? err : new SmtpConnectionError(`${client.peer}: ${(err as Error).message}`);
    }
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', this.onData);
    socket.on('error', (err) => this.fail(new SmtpConnectionError(`${this.peer}: ${err.message}`, null, true)));
    socket.on('close', () => this.fail(new SmtpConnectionError(`${this.peer}: connection closed`, null, true)));
  }

  private ingest(d: Buffer): void {
    this.buf += d.toString('utf8');
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, '');
      this.buf = this.buf.slice(i + 1);
      let reply: SmtpReply | null;
      try {
        reply = this.parser.push(line);
      } catch (err) {
        this.fail(new SmtpConnectionError(`${this.peer}: ${(err as Error).message}`, null, true));
        this.socket.destroy();
        return;
      }
      if (!reply) continue;
      const w = this.waiters.shift();
      if (w) {
        clearTimeout(w.timer);
        w.resolve(reply);
      } else this.replies.push(reply);
    }
    if (this.buf.length > 64 * 1024) {
      this.fail(new SmtpConnectionError(`${this.peer}: reply line too long`, null, true));
      this.socket.destroy();
    }
  }

  private fail(err: Error): void {
    if (!this.failed) this.failed = err;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(this.failed);
    }
  }

  /** The next reply. */
  private read(timeoutMs = this.opts.replyTimeoutMs ?? 5 * 60_000): Promise<SmtpReply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const idx = this.waiters.findIndex((w) => w.timer === timer);
        if (idx >= 0) this.waiters.splice(idx, 1);
        const err = new SmtpConnectionError(`${this.peer}: no reply in ${Math.round(timeoutMs / 1000)} s`, null, true);
        this.fail(err);
        this.socket.destroy();
        reject(err);
      }, timeoutMs);
      this.waiters.push({ resolve, reject, timer });
    });
  }

  private write(s: string): void {
    if (this.failed) throw this.failed;
    this.socket.write(s);
  }

  /** Sends one command line and reads its reply. */
  async command(line: string, timeoutMs?: number): Promise<SmtpReply> {
    this.write(line + '\r\n');
    return this.read(timeoutMs);
  }

  private async hello(): Promise<void> {
    // RFC 5321 §4.1.1.1: EHLO first, HELO when the server does not know EHLO
    let r = await this.command(`EHLO ${this.opts.heloName}`);
    if (r.code === 250) {
      this.extensions = parseEhlo(r);
      return;
    }
    if (r.code === 421) throw new SmtpConnectionError(`${this.peer} EHLO: ${replyText(r)}`, r);
    r = await this.command(`HELO ${this.opts.heloName}`);
    if (r.code !== 250) throw new SmtpConnectionError(`${this.peer} HELO: ${replyText(r)}`, r);
    this.extensions = new Map();
  }

  private async startTls(): Promise<void> {
    const r = await this.command('STARTTLS');
    if (r.code !== 220) {
      if (this.opts.tls === 'starttls') throw new SmtpConnectionError(`${this.peer} STARTTLS: ${replyText(r)}`, r);
      return; // opportunistic: carry on in plain text
    }
    await this.upgrade();
    // RFC 3207 §4.2: forget what was learned before TLS and say EHLO again
    this.extensions = new Map();
    await this.hello();
  }

  /** Wraps the plain socket in TLS. */
  private async upgrade(): Promise<void> {
    const plain = this.socket as Socket;
    plain.removeListener('data', this.onData);
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    plain.on('error', () => undefined);
    // RFC 7435 §3: opportunistic (unauthenticated) encryption: certificates are not verified
    // todo(RFC 7435 §3): no MTA-STS (RFC 8461) or DANE yet, so no peer is authenticated.
    const secure = tlsConnect({ socket: plain, servername: sni(this.opts.servername), rejectUnauthorized: false });
    this.socket = secure;
    this.attach(secure);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        secure.destroy();
        reject(new SmtpConnectionError(`${this.peer}: TLS handshake timed out`, null, false, true));
      }, this.opts.connectTimeoutMs ?? 30_000);
      secure.once('secureConnect', () => {
        clearTimeout(timer);
        resolve();
      });
      secure.once('error', (err) => {
        clearTimeout(timer);
        reject(new SmtpConnectionError(`${this.peer}: TLS handshake failed: ${err.message}`, null, false, true));
      });
    });
    this.secure = true;
  }

  /** RFC 4954 AUTH PLAIN (or LOGIN when PLAIN is not offered); throws with the reply on failure. */
  async auth(username: string, password: string): Promise<void> {
    const mechs = (this.extensions.get('AUTH') ?? '').toUpperCase().split(/\s+/);
    let r: SmtpReply;
    if (mechs.includes('PLAIN') || !mechs.includes('LOGIN')) {
      r = await this.command(`AUTH PLAIN ${Buffer.from(`\0${username}\0${password}`, 'utf8').toString('base64')}`);
    } else {
      r = await this.command('AUTH LOGIN');
      if (r.code === 334) r = await this.command(Buffer.from(username, 'utf8').toString('base64'));
      if (r.code === 334) r = await this.command(Buffer.from(password, 'utf8').toString('base64'));
    }
    // RFC 4954 §6: 235 is success; some relays (smtp-sink) say 250: any 2xx is taken as success
    if (r.code < 200 || r.code >= 300) throw new SmtpConnectionError(`${this.peer} AUTH: ${replyText(r)}`, r);
  }

  /**
   * One mail transaction. With PIPELINING, MAIL, every RCPT and DATA go in one write (RFC 2920
   * §3.1: DATA may be the last command of a group); without it, one command at a time, and DATA
   * only once a recipient was accepted. The content (with the prefix, dot-stuffed, and its
   * terminator) goes in as few writes as its size allows.
   */
  async send(tx: ClientTransaction): Promise<TransactionResult> {
    this.transactions++;
    this.dataStarted = false;
    const bdat = tx.bdatSize !== undefined;
    const mailLine = `MAIL FROM:<${tx.from}>${tx.mailParams.map((p) => ' ' + p).join('')}`;
    const rcptLines = tx.recipients.map((r) => `RCPT TO:<${r.address}>${r.params.map((p) => ' ' + p).join('')}`);
    let mail: SmtpReply;
    const rcpts: Array<SmtpReply | null> = [];
    let dataReply: SmtpReply | null = null;
    if (this.extensions.has('PIPELINING')) {
      // BDAT carries its own data and is not sent before the recipients are known
      this.write([mailLine, ...rcptLines, ...(bdat ? [] : ['DATA'])].map((l) => l + '\r\n').join(''));
      // RFC 2920 §3.1: the client MUST check ALL statuses of the group
      mail = await this.read();
      for (let i = 0; i < rcptLines.length; i++) rcpts.push(await this.read());
      if (mail.code >= 300) rcpts.fill(null);
      if (!bdat) dataReply = await this.read();
    } else {
      mail = await this.command(mailLine);
      if (mail.code < 300) for (const l of rcptLines) rcpts.push(await this.command(l));
      else rcpts.push(...rcptLines.map(() => null));
    }
    if (mail.code >= 300 || !rcpts.some((r) => r && r.code < 300)) {
      if (dataReply?.code === 354) {
        // RFC 2920 §3.1: DATA accepted although no recipient was: "the client SMTP should send a
        // single dot" (an empty message nobody receives), never the content
        this.write('.\r\n');
        await this.read(Math.max(this.opts.replyTimeoutMs ?? 0, 10 * 60_000));
      }
      if (mail.code !== 421 && dataReply?.code !== 421) await this.rset();
      return { mail, rcpts, data: null };
    }
    if (!bdat) {
      dataReply ??= await this.command('DATA');
      // RFC 5321 §3.3: message data MUST NOT be sent unless a 354 reply is received
      if (dataReply.code !== 354) return { mail, rcpts, data: dataReply };
    }
    this.dataStarted = true;
    const head: Buffer[] = [];
    let body: Readable;
    if (bdat) {
      // RFC 3030 §2: BDAT carries exactly the octets counted, with no dot-stuffing or line-end changes
      const prefix = Buffer.from(tx.prefix ?? '', 'utf8');
      head.push(Buffer.from(`BDAT ${prefix.length + tx.bdatSize!} LAST\r\n`), prefix);
      body = tx.message();
    } else {
      if (tx.prefix) head.push(Buffer.from(tx.prefix, 'utf8'));
      const encoder = new DataEncoder();
      const source = tx.message();
      source.on('error', (err) => encoder.destroy(err));
      source.pipe(encoder);
      body = encoder;
    }
    // Chunks are gathered up to WRITE_BATCH octets per socket write: every write to a loopback or
    // LAN peer is a system call that runs the peer's receive path, so a small message goes whole.
    let pending: Buffer[] = head.filter((b) => b.length);
    let held = pending.reduce((n, b) => n + b.length, 0);
    const flush = async (): Promise<void> => {
      if (!pending.length) return;
      const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, held);
      pending = [];
      held = 0;
      if (this.failed) throw this.failed;
      if (!this.socket.write(out)) await Promise.race([once(this.socket, 'drain'), once(this.socket, 'close')]);
    };
    for await (const chunk of body) {
      if (this.failed) {
        body.destroy();
        throw this.failed;
      }
      pending.push(chunk as Buffer);
      held += (chunk as Buffer).length;
      if (held >= WRITE_BATCH) await flush();
    }
    await flush();
    // RFC 5321 §4.5.3.2.6: the server may take up to 10 minutes after the final dot
    const data = await this.read(Math.max(this.opts.replyTimeoutMs ?? 0, 10 * 60_000));
    return { mail, rcpts, data };
  }

  async rset(): Promise<void> {
    try {
      const r = await this.command('RSET', 30_000);
      if (r.code !== 250) this.close();
    } catch {
      this.close();
    }
  }

  /** QUIT and close (errors ignored: the transaction results are already known). */
  async quit(): Promise<void> {
    // closing anyway: no longer one of the connections a shutdown must break (its listener on the
    // abort signal goes now, not after the reply: connections being replaced pile up otherwise)
    this.detach();
    this.detach = () => undefined;
    if (this.usable) {
      try {
        this.write('QUIT\r\n');
        await this.read(5_000);
      } catch {
        // the peer may close without replying
      }
    }
    this.close();
  }

  close(): void {
    this.detach();
    this.detach = () => undefined;
    this.fail(new SmtpConnectionError(`${this.peer}: closed by us`));
    this.socket.destroy();
  }
}

function sni(name: string | undefined): string | undefined {
  // RFC 6066 §3: an IP address is not a server name
  if (!name || /^[\d.]+$/.test(name) || name.includes(':')) return undefined;
  return name;
}
