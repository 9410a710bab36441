// The one session core every line protocol runs on (SMTP, POP3, IMAP; ManageSieve next).
//
// A protocol session extends LineSession and supplies only what is its own: its framer (how
// bytes become lines, literals or DATA chunks), its greeting, one step of its command loop, and
// the words it says when the core ends a session (timeout, too many errors, shutdown, internal
// error). Everything about the connection's lifecycle lives here, once:
//
//   - input: one buffer (the framer), bounded: reading pauses above highWater, resumes below lowWater;
//   - take(): the only way a protocol waits for input (the command loop, SASL continuations,
//     DATA bytes, IDLE's DONE): it arms the idle timer while waiting and returns null at the end;
//   - timers: the idle timer (only while waiting for the client, never while the server works),
//     a pre-login deadline counted from connect (RFC 9051 §5.4's autologout is an idle timer;
//     the time to log in is a deadline), both reported through the protocol's goodbye;
//   - the error budget: countError() ends a session that keeps sending bad commands;
//   - output backpressure: a client that pipelines without reading its replies is not read from
//     until it has read them (bounded memory both ways);
//   - half-close: when the peer sends FIN, what it sent before is still answered, then the
//     session ends as soon as it has nothing left to answer (no grace period holding locks);
//   - shutdown: a session waiting for its client says goodbye at once; one running a command
//     says it when the command is done;
//   - STARTTLS hand-over: input received before the handshake is dropped (RFC 3207 §4.2);
//   - resources: what a command opens (temporary blobs, locks) is registered with hold() and
//     released by release() when the command ends however it ends, and at the end of the session.
//
// The session never owns the socket: it reads through ingest()/end() and writes through the
// Transport (src/net/transport.ts), so every protocol is testable from a transcript.
import type { Session, TlsInfo, Transport } from './transport.js';
import type { Logger } from '../log/logger.js';

/** What the core needs of a protocol's input framer. */
export interface InputFramer {
  push(chunk: Buffer): void;
  /** Bytes received and not yet taken (for backpressure). */
  readonly buffered: number;
  /** Drops everything buffered (STARTTLS). */
  clear(): void;
}

/** Why the core is ending a session; the protocol words its goodbye for each. */
export type EndReason = 'idle-timeout' | 'deadline' | 'too-many-errors' | 'shutdown' | 'internal-error';

export interface LineSessionLimits {
  /** Pause reading when this many input bytes wait unprocessed. */
  highWater: number;
  /** Resume reading below this. */
  lowWater: number;
}

export interface TakeOptions {
  /** A shutdown may end this wait with a goodbye (default true). False while receiving a message body. */
  interruptible?: boolean;
}

/**
 * A layer put between the session and its transport mid-session (IMAP COMPRESS=DEFLATE, RFC
 * 4978): from then on the session writes to `transport` and every byte received goes through
 * `ingest`, which hands what it decodes to the session.
 */
export interface TransportLayer {
  readonly transport: Transport;
  ingest(chunk: Buffer): void;
}

/** A resource a command opened; release() must be safe to call once at any time. */
export type Release = () => void | Promise<void>;

export abstract class LineSession<F extends InputFramer> implements Session {
  /** The peer is gone or we closed: nothing more is read or written. */
  protected ended = false;
  /** The peer sent FIN: once nothing buffered is left to answer, the session ends. */
  protected peerEnded = false;
  /** True while the core waits for the client (between commands or inside one). */
  protected waitingForClient = false;
  private waitInterruptible = false;
  private shuttingDown = false;
  private paused = false;
  private outputBlocked = false;
  private wakeup: (() => void) | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleMs = 0;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private errors = 0;
  private readonly held = new Set<Release>();
  private readonly endWaiters = new Set<() => void>();
  private current: Transport;
  private layer: TransportLayer | null = null;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    transport: Transport,
    protected readonly framer: F,
    readonly log: Logger,
    private readonly limits: LineSessionLimits,
  ) {
    this.current = transport;
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
  }

  /** Where the session writes: the listener's transport, or a layer over it (installLayer). */
  get transport(): Transport {
    return this.current;
  }

  // ---- what a protocol supplies ----

  /** Writes the greeting; false refuses the connection (the protocol has written why). */
  protected abstract greet(): Promise<boolean> | boolean;
  /** Reads and runs one command (or one framer event). Returns false to end the loop. */
  protected abstract step(): Promise<boolean>;
  /** The line(s) written before the core ends the session for `reason`; null writes nothing. */
  protected abstract goodbye(reason: EndReason): string | null;
  /** How long the client may stay silent now (ms); 0 for no limit. */
  protected abstract idleTimeoutMs(): number;
  /** Bad commands allowed now before the session is closed (Infinity for no limit). */
  protected errorBudget(): number {
    return Infinity;
  }
  /** Releases protocol state when the session ends (unsubscribe, unlock); called once. */
  protected onEnd(): void {}

  // ---- Session (the listener's side) ----

  start(): void {
    this.run().catch((err: unknown) => {
      this.log.error({ err }, 'session failed');
      this.end('internal-error');
    });
  }

  ingest(chunk: Buffer): void {
    if (this.ended) return;
    if (this.layer) this.layer.ingest(chunk);
    else this.accept(chunk);
  }

  /** Input for the framer (after the layer, if any, has decoded it). */
  private accept(chunk: Buffer): void {
    if (this.ended) return;
    this.framer.push(chunk);
    if (!this.paused && this.framer.buffered > this.limits.highWater) {
      this.paused = true;
      this.transport.pause();
    }
    this.onInput(chunk);
    this.wake();
  }

  /** The peer sent FIN (half-close): answer what it sent, then end. */
  peerEnd(): void {
    if (this.ended) return;
    this.peerEnded = true;
    this.wake();
  }

  closed(): void {
    if (this.ended) return;
    this.finish();
  }

  shutdown(): Promise<void> {
    this.shuttingDown = true;
    if (!this.ended && this.waitingForClient && this.waitInterruptible) this.end('shutdown');
    return this.closedPromise;
  }

  /** Resolves when the session has ended. */
  get whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  // ---- for the protocol ----

  /** True while reading is paused because much input waits unprocessed. */
  protected get inputPaused(): boolean {
    return this.paused;
  }

  /** Hook: called for every chunk received (e.g. a data-rate meter, an early-talker flag). */
  protected onInput(_chunk: Buffer): void {}

  /**
   * Waits until `fn` finds something in the framer and returns it; null when the session ends
   * (closed, timed out, shut down, or the peer half-closed with nothing left to take).
   */
  async take<T>(fn: (framer: F) => T | null, opts: TakeOptions = {}): Promise<T | null> {
    for (;;) {
      if (this.ended) return null;
      const v = fn(this.framer);
      if (v !== null) {
        this.maybeResume();
        return v;
      }
      if (this.peerEnded) return null;
      await this.waitForInput(opts.interruptible ?? true);
    }
  }

  /** Writes to the client. When the client is slow to read, the next take() waits for it first. */
  write(data: string | Uint8Array): void {
    if (this.ended) return;
    if (!this.transport.write(data)) this.outputBlocked = true;
  }

  /** Writes, then waits until the client has read enough (large responses: FETCH, RETR). */
  writeAndDrain(data: string | Uint8Array): Promise<void> {
    if (this.ended || this.transport.write(data)) return Promise.resolve();
    return this.drainOrEnd();
  }

  /** Counts a bad command; when the budget is spent the session says why and ends. Returns true if it ended. */
  countError(): boolean {
    this.errors++;
    if (this.errors >= this.errorBudget()) {
      this.log.info({ errors: this.errors }, 'too many errors');
      this.end('too-many-errors');
      return true;
    }
    return false;
  }

  /** Forgets the bad commands counted so far (IMAP counts them only before login). */
  resetErrors(): void {
    this.errors = 0;
  }

  /** Starts the pre-login deadline (from now; call from the constructor or greet). */
  protected startDeadline(ms: number): void {
    if (!ms || this.deadlineTimer) return;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = null;
      if (this.ended) return;
      this.log.info('login deadline reached');
      this.end('deadline');
    }, ms);
    this.deadlineTimer.unref?.();
  }

  /** The client logged in: the pre-login deadline no longer applies. */
  protected clearDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
  }

  /**
   * STARTTLS/STLS after the go-ahead was written: RFC 3207 §4.2, RFC 2595 §3.1, RFC 9051 §6.2.1
   * (CVE-2011-0411): nothing the client sent before the handshake is acted on.
   */
  async upgradeTls(): Promise<TlsInfo> {
    // Input already buffered is dropped here; what arrives before the handshake completes is
    // dropped by the transport (its contract), so the first bytes after are the client's, over TLS.
    this.framer.clear();
    return this.transport.startTls();
  }

  /**
   * Puts a layer over the transport (RFC 4978 COMPRESS): everything written after this goes
   * through the layer's transport, every byte received after this through its ingest(), whose
   * output `deliver` hands to the framer; `fail` ends the session (undecodable input). Bytes
   * already received stay as they are. One layer per session.
   */
  protected installLayer(make: (inner: Transport, deliver: (chunk: Buffer) => void, fail: (err: unknown) => void) => TransportLayer): void {
    if (this.layer) throw new Error('a transport layer is already installed');
    const layer = make(
      this.current,
      (chunk) => this.accept(chunk),
      (err) => {
        if (this.ended) return;
        this.log.info({ err }, 'transport layer failed');
        this.close();
      },
    );
    this.layer = layer;
    this.current = layer.transport;
  }

  /** Registers something the current command opened; released by release(r) or at the end. */
  hold(release: Release): Release {
    if (this.ended) {
      // The session is already over: nobody would release it later.
      void Promise.resolve()
        .then(release)
        .catch((err: unknown) => this.log.warn({ err }, 'releasing a resource failed'));
      return release;
    }
    this.held.add(release);
    return release;
  }

  /** Releases one held resource now (or all of them when called without one). */
  async release(r?: Release): Promise<void> {
    const list = r ? (this.held.delete(r) ? [r] : []) : [...this.held];
    if (!r) this.held.clear();
    for (const rel of list) {
      try {
        await rel();
      } catch (err) {
        this.log.warn({ err }, 'releasing a resource failed');
      }
    }
  }

  /** Forgets a held resource without releasing it (the command handed it on, e.g. committed). */
  unhold(r: Release): void {
    this.held.delete(r);
  }

  /** Number of resources held (tests). */
  get heldCount(): number {
    return this.held.size;
  }

  /** Ends the session for `reason`: writes the protocol's goodbye, flushes and closes. */
  end(reason: EndReason): void {
    if (this.ended) return;
    const bye = this.goodbye(reason);
    if (bye !== null) this.transport.write(bye);
    this.close();
  }

  /** Closes the connection once what was written has been sent. */
  close(): void {
    if (this.ended) return;
    this.finish();
    this.transport.close();
  }

  // ---- internals ----

  private async run(): Promise<void> {
    if (!(await this.greet())) {
      this.close();
      return;
    }
    while (!this.ended) {
      if (this.shuttingDown) {
        this.end('shutdown');
        return;
      }
      if (this.outputBlocked) {
        // A client that pipelines without reading its replies: stop reading until they drain.
        // Waiting for the client to read counts as waiting for the client (the idle timer runs).
        this.outputBlocked = false;
        this.transport.pause();
        this.beginWait(true);
        await this.drainOrEnd();
        this.endWait();
        if (!this.paused) this.transport.resume();
        continue;
      }
      if (!(await this.step())) break;
    }
    this.close();
  }

  /**
   * Resolves when the transport has drained or the session ended. One waiter per call, removed
   * when it settles (a race with the session's closed promise would leave one reaction per
   * blocked write on that promise until the session ends).
   */
  private drainOrEnd(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.ended) return resolve();
      const done = (): void => {
        this.endWaiters.delete(done);
        resolve();
      };
      this.endWaiters.add(done);
      this.transport.drain().then(done, done);
    });
  }

  private wake(): void {
    const w = this.wakeup;
    this.wakeup = null;
    w?.();
  }

  private maybeResume(): void {
    if (this.paused && this.framer.buffered < this.limits.lowWater) {
      this.paused = false;
      this.transport.resume();
    }
  }

  private async waitForInput(interruptible: boolean): Promise<void> {
    if (this.shuttingDown && interruptible) {
      this.end('shutdown');
      return;
    }
    this.maybeResume();
    this.beginWait(interruptible);
    try {
      await new Promise<void>((r) => (this.wakeup = r));
    } finally {
      this.endWait();
    }
  }

  private beginWait(interruptible: boolean): void {
    this.waitingForClient = true;
    this.waitInterruptible = interruptible;
    const ms = this.idleTimeoutMs();
    if (!ms) return;
    // One timer per session, restarted (not re-created) at each wait: waits are as frequent as input chunks.
    if (this.idleTimer && this.idleMs === ms) {
      this.idleTimer.refresh();
      return;
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleMs = ms;
    this.idleTimer = setTimeout(() => this.onIdleTimer(), ms);
    this.idleTimer.unref?.();
  }

  private onIdleTimer(): void {
    // The timer runs on while the server works; only a wait for the client can expire.
    if (this.ended || !this.waitingForClient) return;
    this.idleTimer = null;
    this.log.info('idle timeout');
    this.end('idle-timeout');
  }

  private endWait(): void {
    this.waitingForClient = false;
  }

  private finish(): void {
    this.ended = true;
    this.endWait();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.clearDeadline();
    this.framer.clear();
    this.wake();
    for (const w of [...this.endWaiters]) w();
    void this.release();
    try {
      this.onEnd();
    } catch (err) {
      this.log.error({ err }, 'session cleanup failed');
    }
    this.resolveClosed();
  }
}
