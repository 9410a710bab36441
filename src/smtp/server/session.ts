// One SMTP session per connection (RFC 5321), socket-free (DESIGN.md "Rules of the house"):
// bytes come in through ingest(), replies go out through the Transport. Commands run strictly
// in the order they arrived, one at a time (RFC 2920 §3.1: the replies keep the same order),
// each in its own module (commands/) looked up in one table; their SmtpErrors are caught here,
// at the command boundary, and become replies.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ServerContext } from '../../context.js';
import type { Session, Transport } from '../../net/transport.js';
import type { Account } from '../../store/types.js';
import type { CheckConnection, CheckTransaction } from '../../checks/types.js';
import { InputBuffer } from '../wire/framer.js';
import { formatReply, SmtpError } from '../wire/reply.js';
import { hasControl, splitCommand } from '../wire/command.js';
import { COMMANDS } from './commands/index.js';
import type { Intake } from './intake.js';
import type { SessionApi, SmtpState, Transaction } from './state.js';

/** Longest line the framer buffers before it skips it: AUTH (RFC 4954 §4: 12288 octets). */
const MAX_FRAMED_LINE = 12288;
/** Pause the transport when this much input waits unprocessed; resume below LOW_WATER. */
const HIGH_WATER = 128 * 1024;
const LOW_WATER = 64 * 1024;

export function createSmtpSession(ctx: ServerContext, transport: Transport): Session {
  return new SmtpSession(ctx, transport);
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

class SmtpSession implements Session, SessionApi {
  state: SmtpState = 'init';
  helo: string | null = null;
  esmtp = false;
  authenticated: Account | null = null;
  tx: Transaction | null = null;
  ptr: string | null = null;
  readonly isSubmission: boolean;
  readonly log: ServerContext['logger'];

  private readonly input = new InputBuffer();
  private wakeup: (() => void) | null = null;
  private greeted = false;
  private earlyTalker = false;
  /** The peer is gone, or we closed. */
  private ended = false;
  private errors = 0;
  private paused = false;
  private waitingForClient = false;
  private idleForCommand = false;
  private shuttingDown = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private activeIntake: Intake | null = null;
  /** Bytes of DATA/BDAT received in the current rate window, and whether we paused the peer in it. */
  private rateBytes = 0;
  private rateTimer: NodeJS.Timeout | null = null;
  private ratePausedInWindow = false;
  /** The transport said its output buffer is full (write returned false). */
  private outputBlocked = false;

  constructor(
    readonly ctx: ServerContext,
    readonly transport: Transport,
  ) {
    this.isSubmission = transport.listener === 'submission' || transport.listener === 'submissions';
    this.log = ctx.logger.child({ conn: transport.id, listener: transport.listener, ip: transport.remoteAddress });
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
  }

  // ---- Session (the listener's side) ----

  start(): void {
    this.log.info({ port: this.transport.remotePort }, 'smtp connection');
    this.run().catch((err: unknown) => {
      this.log.error({ err }, 'smtp session failed');
      this.writeRaw(formatReply(421, '4.3.0', `${this.ctx.config.hostname} Internal error, closing connection`));
      this.close();
    });
  }

  ingest(chunk: Buffer): void {
    if (this.ended) return;
    // RFC 5321 §4.3.1, §3.1: the client waits for the greeting; input before it is an early talker.
    if (!this.greeted) this.earlyTalker = true;
    this.input.push(chunk);
    if (this.activeIntake) this.rateBytes += chunk.length;
    this.touch();
    if (!this.paused && this.input.length > HIGH_WATER) {
      this.paused = true;
      this.ratePausedInWindow = true;
      this.transport.pause();
    }
    this.wake();
  }

  closed(): void {
    this.ended = true;
    this.clearTimers();
    this.wake();
    const intake = this.activeIntake ?? this.tx?.intake;
    if (intake) void intake.abort();
    this.resolveClosed();
  }

  shutdown(): Promise<void> {
    this.shuttingDown = true;
    if (this.ended) return this.closedPromise;
    // Waiting for the client (between commands, or inside AUTH): say goodbye now. A message being
    // received or delivered is finished first; the main loop says goodbye after it.
    if (this.idleForCommand || !this.greeted || (this.waitingForClient && !this.activeIntake)) {
      this.reply(421, '4.3.2', `${this.ctx.config.hostname} Service shutting down, closing connection`);
      this.close();
    }
    return this.closedPromise;
  }

  // ---- the main loop ----

  private async run(): Promise<void> {
    if (!(await this.greet())) return;
    while (!this.ended) {
      if (this.shuttingDown) {
        this.reply(421, '4.3.2', `${this.ctx.config.hostname} Service shutting down, closing connection`);
        this.close();
        return;
      }
      if (this.outputBlocked) {
        // A client that pipelines without reading its replies: stop reading until they drain.
        this.outputBlocked = false;
        this.transport.pause();
        // Waiting for the client to read counts as waiting for the client (command_timeout applies).
        this.waitingForClient = true;
        await Promise.race([this.transport.drain(), this.closedPromise]);
        this.waitingForClient = false;
        if (!this.paused) this.transport.resume();
        if (this.ended) return;
      }
      this.idleForCommand = true;
      const ev = await this.nextLineEvent(MAX_FRAMED_LINE);
      this.idleForCommand = false;
      if (!ev) return;
      if (ev.type === 'flood') {
        this.reply(421, '4.7.0', `${this.ctx.config.hostname} Line too long, closing connection`);
        this.close();
        return;
      }
      if (ev.type === 'too-long') {
        // RFC 5321 §4.5.3.1.4: a command line is at most 512 octets; the session goes on.
        this.reply(500, '5.5.2', 'Line too long');
        continue;
      }
      await this.dispatch(ev.line, ev.crlf);
    }
  }

  private async greet(): Promise<boolean> {
    const conn = this.connectionInfo();
    if (this.transport.listener === 'smtp') {
      this.ptr = await this.reverseDns();
      conn.ptr = this.ptr;
      const v = await this.ctx.checks.connect(conn);
      if (this.ended) return false;
      if (v.action === 'reject' || v.action === 'tempfail') {
        const temp = v.action === 'tempfail';
        const r = v.reply;
        this.writeRaw(formatReply(temp ? 421 : 554, temp ? '4.7.0' : '5.7.1', r?.text ?? (temp ? 'Try again later' : 'Connection refused')));
        this.log.info({ action: v.action }, 'connection refused by checks');
        this.close();
        return false;
      }
    } else {
      // Give a client that talks first the same chance to show itself as on the smtp listener.
      await new Promise<void>((r) => setImmediate(r));
      if (this.ended) return false;
    }
    if (this.earlyTalker) {
      // RFC 5321 §4.3.1: commands before the greeting are not executed.
      this.writeRaw(formatReply(554, '5.5.0', `${this.ctx.config.hostname} Protocol error: you talked before the greeting`));
      this.log.info('early talker refused');
      this.close();
      return false;
    }
    this.greeted = true;
    // RFC 5321 §4.2: the greeting starts with our name.
    // RFC 2034 §3: no enhanced code on the greeting.
    this.writeRaw(formatReply(220, null, `${this.ctx.config.hostname} ESMTP Yubin`));
    this.touch();
    return true;
  }

  private async reverseDns(): Promise<string | null> {
    const ip = this.transport.remoteAddress;
    if (isLoopback(ip)) return 'localhost';
    try {
      const names = await this.ctx.resolver.reverse(ip);
      for (const name of names.slice(0, 3)) {
        const addrs = ip.includes(':') ? await this.ctx.resolver.resolve6(name) : await this.ctx.resolver.resolve4(name);
        // Forward-confirmed reverse DNS only; otherwise the name says nothing.
        if (addrs.includes(ip.replace(/^::ffff:/, ''))) return name;
      }
    } catch {
      /* no name */
    }
    return null;
  }

  private async dispatch(raw: Buffer, crlf: boolean): Promise<void> {
    if (!crlf) {
      // RFC 5321 §2.3.8: lines end with CRLF; a bare LF is not a line end we act on.
      this.reply(500, '5.5.2', 'Line must end with CRLF');
      return;
    }
    const text = raw.toString('utf8');
    if (text.includes('\ufffd') && !raw.equals(Buffer.from(text, 'utf8'))) {
      this.reply(500, '5.5.2', 'Invalid UTF-8 in command');
      return;
    }
    const { verb, args } = splitCommand(text);
    const cmd = COMMANDS.get(verb);
    if (!cmd) {
      this.reply(500, '5.5.1', 'Command unrecognized');
      return;
    }
    if (raw.length + 2 > (cmd.maxLength ?? 512)) {
      this.reply(500, '5.5.2', 'Line too long');
      return;
    }
    if (hasControl(text)) {
      this.reply(501, '5.5.2', 'Control characters are not allowed');
      return;
    }
    if (cmd.lastInGroup && this.hasPipelinedInput()) {
      // RFC 2920 §3.1: the client must wait for this reply before sending more.
      this.reply(554, '5.5.0', `Protocol error: commands pipelined after ${verb}`);
      this.log.info({ verb }, 'improper pipelining');
      this.close();
      return;
    }
    if (!cmd.states.includes(this.state)) {
      this.reply(503, '5.5.1', cmd.wrongState?.(this.state) ?? 'Bad sequence of commands');
      return;
    }
    try {
      const parsed = cmd.parse(args, this);
      await cmd.run(this, parsed);
    } catch (err) {
      if (err instanceof SmtpError) {
        this.reply(err.code, err.enhanced, err.text);
        if (err.close) this.close();
      } else {
        this.log.error({ err, verb }, 'command failed');
        this.reply(451, '4.3.0', 'Internal error, try again later');
      }
    }
  }

  // ---- SessionApi ----

  reply(code: number, enhanced: string | null, text: string | readonly string[]): void {
    if (this.ended) return;
    this.writeRaw(formatReply(code, enhanced, text));
    this.touch();
    if (code >= 500) {
      this.errors++;
      // Too many errors: a confused or hostile client; close (Postfix's smtpd_hard_error_limit).
      if (this.errors >= this.ctx.config.smtp.max_errors) {
        this.writeRaw(formatReply(421, '4.7.0', `${this.ctx.config.hostname} Too many errors, closing connection`));
        this.log.info({ errors: this.errors }, 'too many errors');
        this.close();
      }
    }
  }

  private writeRaw(s: string): void {
    if (!this.ended && !this.transport.write(s)) this.outputBlocked = true;
  }

  async readLine(maxLength: number): Promise<string | null> {
    const ev = await this.nextLineEvent(maxLength);
    if (!ev) return null;
    if (ev.type === 'flood') {
      this.reply(421, '4.7.0', 'Line too long, closing connection');
      this.close();
      return null;
    }
    if (ev.type === 'too-long') throw new SmtpError(500, '5.5.2', 'Line too long');
    if (!ev.crlf) throw new SmtpError(500, '5.5.2', 'Line must end with CRLF');
    return ev.line.toString('utf8');
  }

  hasPipelinedInput(): boolean {
    return this.input.length > 0;
  }

  async receiveData(intake: Intake): Promise<boolean> {
    this.startIntake(intake);
    try {
      for (;;) {
        const chunk = await this.nextBytes(Infinity);
        if (!chunk) return false;
        const r = intake.scanner.scan(chunk);
        if (intake.scanner.flags.flood) {
          this.reply(421, '4.7.0', 'Line too long, closing connection');
          this.close();
          return false;
        }
        await intake.write(r.body);
        if (r.done) {
          this.input.unshift(chunk.subarray(r.consumed));
          return true;
        }
      }
    } finally {
      this.stopIntake();
    }
  }

  async receiveChunk(intake: Intake, size: number): Promise<boolean> {
    this.startIntake(intake);
    try {
      let left = size;
      while (left > 0) {
        const chunk = await this.nextBytes(Math.min(left, 256 * 1024));
        if (!chunk) return false;
        left -= chunk.length;
        // RFC 3030 §2: the chunk size frames the data, so a long line costs no memory here
        // (it is refused at LAST unless BINARYMIME, by the scanner's long-line flag).
        const r = intake.scanner.scan(chunk);
        await intake.write(r.body);
      }
      return true;
    } finally {
      this.stopIntake();
    }
  }

  async startTls(): Promise<void> {
    // RFC 3207 §4.2, CVE-2011-0411: nothing the client sent before the handshake is acted on.
    this.input.clear();
    await this.transport.startTls();
    this.input.clear();
    // RFC 3207 §4.2: the session starts over; the client must send EHLO again.
    await this.resetTransaction();
    this.state = 'init';
    this.helo = null;
    this.esmtp = false;
    this.authenticated = null;
    this.log.info({ tls: this.transport.tls }, 'tls started');
  }

  async resetTransaction(): Promise<void> {
    const intake = this.tx?.intake;
    this.tx = null;
    if (this.state !== 'init') this.state = 'ready';
    if (intake) await intake.abort();
  }

  newId(): string {
    // Base32-ish, sortable by time: safe in a Received header and a reply.
    return (Date.now().toString(36) + randomBytes(6).toString('hex')).toUpperCase();
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimers();
    this.wake();
    this.transport.close();
    const intake = this.activeIntake ?? this.tx?.intake;
    if (intake) void intake.abort();
    this.resolveClosed();
  }

  connectionInfo(): CheckConnection {
    return { listener: this.transport.listener, ip: this.transport.remoteAddress, ptr: this.ptr, tls: this.transport.tls !== null };
  }

  transactionInfo(): CheckTransaction {
    return {
      ...this.connectionInfo(),
      helo: this.helo ?? '',
      authenticated: this.authenticated?.address ?? null,
      mailFrom: this.tx?.from ?? '',
      recipients: this.tx?.recipients.map((r) => r.address) ?? [],
    };
  }

  // ---- input plumbing ----

  private wake(): void {
    const w = this.wakeup;
    this.wakeup = null;
    w?.();
  }

  private waitForInput(): Promise<void> {
    this.waitingForClient = true;
    if (this.paused && this.input.length < LOW_WATER) {
      this.paused = false;
      this.transport.resume();
    }
    return new Promise<void>((r) => (this.wakeup = r)).finally(() => {
      this.waitingForClient = false;
    });
  }

  private async nextLineEvent(maxLength: number): Promise<ReturnType<InputBuffer['takeLine']>> {
    for (;;) {
      if (this.ended) return null;
      const ev = this.input.takeLine(maxLength);
      if (ev) return ev;
      await this.waitForInput();
    }
  }

  private async nextBytes(max: number): Promise<Buffer | null> {
    for (;;) {
      if (this.ended) return null;
      const b = this.input.takeBytes(max);
      if (b) {
        if (this.paused && this.input.length < LOW_WATER) {
          this.paused = false;
          this.transport.resume();
        }
        return b;
      }
      await this.waitForInput();
    }
  }

  // ---- timers ----

  /** RFC 5321 §4.5.3.2: the server waits a limited time for each command (smtp.command_timeout). */
  private touch(): void {
    if (this.ended) return;
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => this.onTimeout(), this.ctx.config.smtp.command_timeout);
      this.timer.unref?.();
    }
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.ended) return;
    if (!this.waitingForClient) {
      // The server itself is busy (delivery): not the client's fault.
      this.touch();
      return;
    }
    this.reply(421, '4.4.2', `${this.ctx.config.hostname} Timeout, closing connection`);
    this.log.info('command timeout');
    this.close();
  }

  private startIntake(intake: Intake): void {
    this.activeIntake = intake;
    this.rateBytes = 0;
    this.ratePausedInWindow = false;
    const minRate = this.ctx.config.smtp.data_min_rate;
    const windowMs = this.ctx.config.smtp.data_rate_window;
    if (!minRate || this.rateTimer) return;
    this.rateTimer = setInterval(() => {
      // A minimum data rate in DATA/BDAT: a client trickling bytes cannot hold a connection forever.
      const slow = this.rateBytes < (minRate * windowMs) / 1000 && !this.ratePausedInWindow && this.waitingForClient;
      this.rateBytes = 0;
      this.ratePausedInWindow = this.paused;
      if (slow && !this.ended) {
        this.reply(421, '4.4.2', `${this.ctx.config.hostname} Data rate too low, closing connection`);
        this.log.info('data rate too low');
        this.close();
      }
    }, windowMs);
    this.rateTimer.unref?.();
  }

  private stopIntake(): void {
    this.activeIntake = null;
    if (this.rateTimer) clearInterval(this.rateTimer);
    this.rateTimer = null;
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.rateTimer) clearInterval(this.rateTimer);
    this.rateTimer = null;
  }
}
