// TCP listeners for every protocol: implicit TLS (submissions, imaps, pop3s), the STARTTLS
// upgrade of a plain connection, connection limits, and draining on SIGTERM. The protocol
// sessions never see a socket: each gets a Transport (src/net/transport.ts).
import net from 'node:net';
import tls from 'node:tls';
import { readClientHello } from './client-hello.js';
import { randomBytes } from 'node:crypto';
import { LISTENER_NAMES, parseListenAddress, type Config, type ListenerName } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Session, SessionFactory, TlsInfo, Transport } from './transport.js';
import type { TlsProvider } from './tls.js';
import { ConnectionLimiter, normalizeIp } from './limits.js';

/** Listeners that start with the TLS handshake. */
// RFC 8314 §3.1, §3.2, §3.3: on pop3s, imaps and submissions the TLS handshake begins immediately
export const IMPLICIT_TLS: ReadonlySet<ListenerName> = new Set<ListenerName>(['submissions', 'imaps', 'pop3s']);

/** What a connection over the limits is told before it is closed (plain listeners only). */
export function defaultRefusal(name: ListenerName, hostname: string): string {
  switch (name) {
    case 'smtp':
    case 'submission':
    case 'submissions':
      // RFC 5321 §3.8, §4.2.3: "421 <domain> Service not available, closing transmission channel"
      return `421 4.7.0 ${hostname} Too many connections, try again later\r\n`;
    case 'imap':
    case 'imaps':
      // RFC 9051 §7.1.5: BYE as the server closes the connection
      return '* BYE Too many connections, try again later\r\n';
    case 'pop3':
    case 'pop3s':
      // RFC 3206 §4: SYS/TEMP, a temporary problem the client may retry later
      return '-ERR [SYS/TEMP] Too many connections, try again later\r\n';
    case 'managesieve':
      // RFC 5804 §1.2: BYE with TRYLATER: the client may retry later
      return 'BYE (TRYLATER) "Too many connections, try again later"\r\n';
  }
}

export interface StartListenersOptions {
  config: Config;
  logger: Logger;
  tls: TlsProvider;
  factories: Partial<Record<ListenerName, SessionFactory>>;
  /** Overrides of the refusal text sent when a limit is reached (defaultRefusal() otherwise). */
  refuse?: Partial<Record<ListenerName, string>>;
  /**
   * After the peer half-closes (sends FIN, may still read), how long the session may stay silent
   * before the connection is closed; each reply restarts the wait. Default 2 s.
   */
  halfCloseMs?: number;
}

export interface Listeners {
  /** The bound "ip:port" ("[::1]:port" for IPv6) of every listener, [] for those not started. */
  addresses: Record<ListenerName, string[]>;
  /** Number of live connections. */
  connections(): number;
  /**
   * SIGTERM: stop accepting, ask every session to finish (Session.shutdown), wait up to graceMs
   * for the connections to close, then destroy the rest.
   */
  close(graceMs: number): Promise<void>;
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function tlsInfoOf(s: tls.TLSSocket): TlsInfo {
  const cipher = s.getCipher();
  const servername = (s as tls.TLSSocket & { servername?: string | false }).servername;
  return { protocol: s.getProtocol() ?? 'unknown', cipher: cipher?.standardName ?? cipher?.name ?? 'unknown', servername: servername || null };
}

/**
 * Offset of the first byte that can start the client's TLS handshake (a handshake record:
 * content type 22, version major 3; RFC 8446 §5.1), or data.length if there is none.
 * Everything before it is plaintext sent after STARTTLS and is dropped (RFC 3207 §4.2,
 * CVE-2011-0411); everything from it on goes to the TLS engine, never to the session.
 */
export function tlsRecordStart(data: Buffer): number {
  for (let i = data.indexOf(0x16); i >= 0; i = data.indexOf(0x16, i + 1)) {
    if (i + 1 === data.length || data[i + 1] === 0x03) return i;
  }
  return data.length;
}

let nextConn = 0;
const connPrefix = randomBytes(3).toString('hex');

/** One accepted connection: the Transport a session writes to, and the socket plumbing behind it. */
class Connection implements Transport {
  readonly id = `${connPrefix}${(nextConn++).toString(36).padStart(5, '0')}`;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  tls: TlsInfo | null = null;
  session: Session | null = null;
  /** Resolves once the socket is fully closed. */
  readonly done: Promise<void>;

  private stream: net.Socket;
  private paused = false;
  private isClosed = false;
  private upgrading = false;
  /** Output written while a STARTTLS upgrade reads the ClientHello, for the TLS socket (write()). */
  private heldForTls: Buffer[] | null = null;
  private bytesIn = 0;
  private bytesOut = 0;
  private discarded = 0;
  private readonly started = Date.now();
  private resolveDone!: () => void;
  private closeTimer: NodeJS.Timeout | null = null;
  private peerEnded = false;
  private halfCloseTimer: NodeJS.Timeout | null = null;
  /** The stream corked by write() until the current turn's work is done (flush()). */
  private corked: net.Socket | null = null;

  constructor(
    readonly listener: ListenerName,
    private readonly raw: net.Socket,
    private readonly deps: { tls: TlsProvider; logger: Logger; handshakeTimeoutMs: number; halfCloseMs: number; onClosed: (c: Connection) => void },
  ) {
    this.stream = raw;
    this.remoteAddress = normalizeIp(raw.remoteAddress);
    this.remotePort = raw.remotePort ?? 0;
    this.localAddress = normalizeIp(raw.localAddress);
    this.localPort = raw.localPort ?? 0;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    raw.setNoDelay(true);
    // Finds peers that vanished without a FIN (long IMAP IDLE, POP3 sessions behind NAT).
    raw.setKeepAlive(true, 60_000);
    raw.on('error', (err) => this.onError(err));
    raw.once('close', () => this.onClose());
  }

  private readonly onData = (chunk: Buffer) => {
    if (this.upgrading || this.isClosed || !this.session) {
      // RFC 3207 §4.2: bytes after STARTTLS and before the handshake are discarded (CVE-2011-0411)
      this.discarded += chunk.length;
      return;
    }
    this.bytesIn += chunk.length;
    try {
      this.session.ingest(chunk);
    } catch (err) {
      this.deps.logger.error({ conn: this.id, err }, 'session failed on input; closing the connection');
      this.destroy();
    }
  };

  /** Plain listeners: the session starts at once. Implicit TLS: after the handshake. */
  async begin(factory: SessionFactory, implicitTls: boolean): Promise<void> {
    if (implicitTls) {
      try {
        await this.handshake();
      } catch (err) {
        this.deps.logger.debug({ conn: this.id, err: (err as Error).message }, 'TLS handshake failed');
        this.destroy();
        return;
      }
    }
    if (this.isClosed) return;
    try {
      this.session = factory(this);
    } catch (err) {
      this.deps.logger.error({ conn: this.id, listener: this.listener, err }, 'session factory failed; closing the connection');
      this.destroy();
      return;
    }
    try {
      this.session.start();
    } catch (err) {
      this.deps.logger.error({ conn: this.id, err }, 'session failed to start; closing the connection');
      this.destroy();
      return;
    }
    this.attachInput();
  }

  /** Starts delivering the current stream's input to the session (unless it paused us). */
  private attachInput(): void {
    if (this.isClosed) return;
    if (this.paused) this.stream.pause();
    this.stream.on('data', this.onData);
    this.stream.once('end', this.onPeerEnd);
    if (!this.paused) this.stream.resume();
  }

  /**
   * The peer sent FIN after its last command (e.g. "DATA ... . QUIT" then EOF). The socket is
   * half-open: replies to what was received still reach the peer (a 250 after the commit must
   * not be lost, or the client sends the message again). Unless the session closes first, the
   * connection is closed after a grace.
   */
  private readonly onPeerEnd = () => {
    if (this.isClosed || this.upgrading) return;
    this.peerEnded = true;
    // The session ends by itself once it has answered everything; the grace is only a backstop.
    this.armHalfClose();
    try {
      this.session?.peerEnd?.();
    } catch (err) {
      this.deps.logger.error({ conn: this.id, err }, 'session failed on end of input; closing the connection');
      this.destroy();
    }
  };

  private armHalfClose(): void {
    if (this.halfCloseTimer) clearTimeout(this.halfCloseTimer);
    this.halfCloseTimer = setTimeout(() => this.close(), this.deps.halfCloseMs);
    this.halfCloseTimer.unref();
  }

  /** Wraps the raw socket in a server TLSSocket and waits for the handshake (bounded by a timeout). */
  private async handshake(): Promise<TlsInfo> {
    const raw = this.raw;
    const started = Date.now();
    // The go-ahead ("220 Ready to start TLS") leaves in plaintext before the handshake.
    this.flush();
    raw.pause();
    raw.removeListener('data', this.onData);
    raw.removeListener('end', this.onPeerEnd);
    this.upgrading = true;
    // What the socket already read but nobody consumed: plaintext the peer sent after the command
    // (discarded), possibly followed by its ClientHello if the session let the event loop turn
    // between its go-ahead and this call. Node feeds what stays buffered to the TLS engine.
    const chunks: Buffer[] = [];
    let chunk: Buffer | null;
    while ((chunk = raw.read() as Buffer | null) !== null) chunks.push(chunk);
    if (chunks.length) {
      const buffered = Buffer.concat(chunks);
      const keep = tlsRecordStart(buffered);
      this.discarded += keep;
      if (keep < buffered.length) raw.unshift(buffered.subarray(keep));
    }
    // the ClientHello first: its SNI name chooses the certificate (readClientHello)
    this.heldForTls = [];
    const hello = await readClientHello(raw, this.deps.handshakeTimeoutMs);
    const held = this.heldForTls;
    this.heldForTls = null;
    if (hello === 'gone' || this.isClosed) throw new Error('connection closed during the TLS handshake');
    const secure = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: this.deps.tls.secureContext(hello?.servername ?? undefined),
      SNICallback: this.deps.tls.sniCallback,
      requestCert: false,
    });
    this.stream = secure;
    for (const b of held) this.write(b);
    secure.on('error', (err) => this.onError(err));
    secure.once('close', () => this.onClose());
    return new Promise<TlsInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error('TLS handshake timed out'));
        // the time limit counts from the go-ahead (the ClientHello's wait included)
      }, Math.max(1, this.deps.handshakeTimeoutMs - (Date.now() - started)));
      const onSecure = () => {
        cleanup();
        this.upgrading = false;
        this.tls = tlsInfoOf(secure);
        resolve(this.tls);
      };
      const onFail = (err?: Error) => {
        cleanup();
        reject(err ?? new Error('connection closed during the TLS handshake'));
      };
      const onCloseEarly = () => onFail();
      const cleanup = () => {
        clearTimeout(timer);
        secure.removeListener('secure', onSecure);
        secure.removeListener('error', onFail);
        secure.removeListener('close', onCloseEarly);
      };
      secure.once('secure', onSecure);
      secure.once('error', onFail);
      secure.once('close', onCloseEarly);
      if (this.isClosed) onFail();
    });
  }

  // --- Transport ---

  write(data: string | Uint8Array): boolean {
    if (this.isClosed || this.stream.destroyed || this.stream.writableEnded) return false;
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (this.heldForTls) {
      // the go-ahead is sent and the ClientHello is being read: nothing more may leave in
      // plaintext; it goes into the TLS socket once there is one (as it did when the socket was
      // made at once)
      this.heldForTls.push(Buffer.from(buf));
      return true;
    }
    this.bytesOut += buf.length;
    if (this.peerEnded) this.armHalfClose();
    // Replies written in one turn of the event loop leave in one segment: the answers to a
    // pipelined group (RFC 2920 §3.1: MAIL, RCPT and DATA sent together; IMAP's untagged data
    // and its tagged reply) cost one send and wake the client once. process.nextTick runs after
    // the promise jobs of this turn, so every reply made without waiting for I/O joins it.
    if (!this.corked) {
      this.corked = this.stream;
      this.corked.cork();
      process.nextTick(this.flush);
    }
    return this.stream.write(buf);
  }

  /** Sends what write() corked (at the end of the turn; before a TLS handshake or a destroy). */
  private readonly flush = (): void => {
    const s = this.corked;
    if (!s) return;
    this.corked = null;
    s.uncork();
  };

  drain(): Promise<void> {
    const s = this.stream;
    if (this.isClosed || !s.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        s.removeListener('drain', done);
        s.removeListener('close', done);
        resolve();
      };
      s.once('drain', done);
      s.once('close', done);
    });
  }

  async startTls(): Promise<TlsInfo> {
    if (this.tls) throw new Error('TLS is already active');
    if (this.isClosed) throw new Error('connection closed');
    try {
      const info = await this.handshake();
      this.attachInput();
      return info;
    } catch (err) {
      this.deps.logger.debug({ conn: this.id, err: (err as Error).message }, 'STARTTLS handshake failed');
      this.destroy();
      throw err;
    }
  }

  pause(): void {
    this.paused = true;
    this.stream.pause();
  }

  resume(): void {
    this.paused = false;
    if (!this.upgrading) this.stream.resume();
  }

  close(): void {
    if (this.isClosed || this.stream.writableEnded) return;
    const s = this.stream;
    s.end();
    // Flushes what was written, then closes; a peer that never reads is cut off after a while.
    s.once('finish', () => s.destroy());
    this.closeTimer = setTimeout(() => this.destroy(), 30_000);
    this.closeTimer.unref();
  }

  // --- internals ---

  destroy(): void {
    this.flush();
    this.stream.destroy();
    if (this.stream !== this.raw) this.raw.destroy();
  }

  private onError(err: NodeJS.ErrnoException): void {
    // Resets and timeouts are ordinary for mail clients; the close line records the connection.
    this.deps.logger.debug({ conn: this.id, err: err.code ?? err.message }, 'connection error');
    this.destroy();
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    if (this.halfCloseTimer) clearTimeout(this.halfCloseTimer);
    this.destroy();
    try {
      this.session?.closed();
    } catch (err) {
      this.deps.logger.error({ conn: this.id, err }, 'session failed in closed()');
    }
    this.deps.logger.info(
      {
        conn: this.id,
        listener: this.listener,
        remote: this.remoteAddress,
        remotePort: this.remotePort,
        durationMs: Date.now() - this.started,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        ...(this.discarded ? { discarded: this.discarded } : {}),
        tls: this.tls ? this.tls.protocol : null,
      },
      'connection closed',
    );
    this.deps.onClosed(this);
    this.resolveDone();
  }
}

export async function startListeners(opts: StartListenersOptions): Promise<Listeners> {
  const { config, tls: tlsProvider } = opts;
  const logger = opts.logger.child({ component: 'net' });
  const limiter = new ConnectionLimiter(config.limits.max_connections, config.limits.max_connections_per_ip);
  const live = new Set<Connection>();
  const servers: Array<{ name: ListenerName; server: net.Server }> = [];
  const addresses = Object.fromEntries(LISTENER_NAMES.map((n) => [n, [] as string[]])) as Record<ListenerName, string[]>;
  const refused = new Set<net.Socket>();
  let closing = false;

  const onConnection = (name: ListenerName, factory: SessionFactory, socket: net.Socket) => {
    const ip = normalizeIp(socket.remoteAddress);
    if (closing) {
      socket.destroy();
      return;
    }
    if (!limiter.tryAcquire(ip)) {
      logger.warn({ listener: name, remote: ip, connections: limiter.connections, fromIp: limiter.connectionsFrom(ip) }, 'connection refused: too many connections');
      socket.on('error', () => socket.destroy());
      refused.add(socket);
      socket.once('close', () => refused.delete(socket));
      if (IMPLICIT_TLS.has(name)) {
        // No handshake is spent on a connection that is refused anyway.
        socket.destroy();
      } else {
        socket.end(opts.refuse?.[name] ?? defaultRefusal(name, config.hostname));
        socket.setTimeout(5_000, () => socket.destroy());
      }
      return;
    }
    const conn = new Connection(name, socket, {
      tls: tlsProvider,
      logger,
      handshakeTimeoutMs: config.limits.tls_handshake_timeout,
      halfCloseMs: opts.halfCloseMs ?? 2_000,
      onClosed: (c) => {
        live.delete(c);
        limiter.release(ip);
      },
    });
    live.add(conn);
    logger.debug({ conn: conn.id, listener: name, remote: conn.remoteAddress, remotePort: conn.remotePort }, 'connection opened');
    void conn.begin(factory, IMPLICIT_TLS.has(name));
  };

  const closeServers = () =>
    Promise.all(servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));

  try {
    for (const name of LISTENER_NAMES) {
      const factory = opts.factories[name];
      if (!factory) continue;
      for (const spec of config.listen[name]) {
        const addr = parseListenAddress(spec);
        if (!addr) throw new Error(`listen.${name}: bad address "${spec}"`);
        const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => onConnection(name, factory, socket));
        await new Promise<void>((resolve, reject) => {
          const onError = (err: NodeJS.ErrnoException) => reject(new Error(`listen.${name}: cannot listen on ${spec} (${err.code ?? err.message})`));
          server.once('error', onError);
          server.listen({ host: addr.host, port: addr.port, exclusive: true }, () => {
            server.removeListener('error', onError);
            resolve();
          });
        });
        server.on('error', (err) => logger.error({ listener: name, err }, 'listener error'));
        servers.push({ name, server });
        const bound = server.address() as net.AddressInfo;
        addresses[name].push(formatAddress(bound.address, bound.port));
      }
    }
  } catch (err) {
    await closeServers();
    throw err;
  }
  logger.info({ addresses }, 'listening');

  return {
    addresses,
    connections: () => live.size,
    async close(graceMs: number) {
      closing = true;
      const serversClosed = closeServers();
      for (const s of refused) s.destroy();
      const conns = [...live];
      for (const c of conns) {
        if (!c.session) {
          c.destroy(); // still in the TLS handshake: nothing in flight
          continue;
        }
        const session = c.session;
        // A session that fails here is cut off with the rest when the grace ends.
        Promise.resolve()
          .then(() => session.shutdown())
          .catch((err: unknown) => logger.error({ conn: c.id, err }, 'session shutdown failed'));
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.all(conns.map((c) => c.done)).then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        const left = [...live];
        logger.warn({ connections: left.length, graceMs }, 'shutdown grace over; closing the remaining connections');
        for (const c of left) c.destroy();
        await Promise.all(left.map((c) => c.done));
      }
      await serversClosed;
      logger.info('listeners closed');
    },
  };
}
