// One SMTP session per connection (RFC 5321), socket-free (DESIGN.md "Rules of the house"):
// bytes come in through ingest(), replies go out through the Transport. Commands run strictly
// in the order they arrived, one at a time (RFC 2920 §3.1: the replies keep the same order),
// each in its own module (commands/) looked up in one table; their SmtpErrors are caught here,
// at the command boundary, and become replies.
import { randomHex } from '../../net/random.js';
import { join } from 'node:path';
import type { ServerContext } from '../../context.js';
import type { Session, Transport } from '../../net/transport.js';
import { LineSession, type EndReason, type TakeOptions } from '../../net/line-session.js';
import type { Account } from '../../store/types.js';
import type { CheckConnection, CheckTransaction } from '../../pipeline/types.js';
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
/** While a message body arrives a shutdown waits for it: the message is received and delivered first. */
const BODY: TakeOptions = { interruptible: false };

export function createSmtpSession(ctx: ServerContext, transport: Transport): Session {
  return new SmtpSession(ctx, transport);
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

class SmtpSession extends LineSession<InputBuffer> implements SessionApi {
  state: SmtpState = 'init';
  helo: string | null = null;
  esmtp = false;
  authenticated: Account | null = null;
  tx: Transaction | null = null;
  ptr: string | null = null;
  readonly isSubmission: boolean;

  private greeted = false;
  private earlyTalker = false;
  private activeIntake: Intake | null = null;
  /** Bytes of DATA/BDAT received in the current rate window, and whether we paused the peer in it. */
  private rateBytes = 0;
  private rateTimer: NodeJS.Timeout | null = null;
  private ratePausedInWindow = false;

  constructor(
    readonly ctx: ServerContext,
    transport: Transport,
  ) {
    super(transport, new InputBuffer(), ctx.logger.child({ conn: transport.id, listener: transport.listener, ip: transport.remoteAddress }), {
      highWater: HIGH_WATER,
      lowWater: LOW_WATER,
    });
    this.isSubmission = transport.listener === 'submission' || transport.listener === 'submissions';
  }

  // ---- the protocol's part of the session core (src/net/line-session.ts) ----

  override start(): void {
    this.log.info({ port: this.transport.remotePort }, 'smtp connection');
    super.start();
  }

  protected override onInput(chunk: Buffer): void {
    // RFC 5321 §4.3.1, §3.1: the client waits for the greeting; input before it is an early talker.
    if (!this.greeted) this.earlyTalker = true;
    if (this.activeIntake) {
      this.rateBytes += chunk.length;
      if (this.inputPaused) this.ratePausedInWindow = true;
    }
  }

  /** RFC 5321 §4.5.3.2: the server waits a limited time for each command (smtp.command_timeout). */
  protected idleTimeoutMs(): number {
    return this.ctx.config.smtp.command_timeout;
  }

  /** Too many errors: a confused or hostile client; close (Postfix's smtpd_hard_error_limit). */
  protected override errorBudget(): number {
    return this.ctx.config.smtp.max_errors;
  }

  protected goodbye(reason: EndReason): string {
    const host = this.ctx.config.hostname;
    switch (reason) {
      case 'idle-timeout':
      case 'deadline':
        return formatReply(421, '4.4.2', `${host} Timeout, closing connection`);
      case 'too-many-errors':
        return formatReply(421, '4.7.0', `${host} Too many errors, closing connection`);
      case 'shutdown':
        return formatReply(421, '4.3.2', `${host} Service shutting down, closing connection`);
      case 'internal-error':
        return formatReply(421, '4.3.0', `${host} Internal error, closing connection`);
    }
  }

  protected override onEnd(): void {
    this.stopIntake();
    const intake = this.activeIntake ?? this.tx?.intake;
    if (intake) void intake.abort();
  }

  protected async step(): Promise<boolean> {
    const ev = await this.take((f) => f.takeLine(MAX_FRAMED_LINE));
    if (!ev) return false;
    if (ev.type === 'flood') {
      this.write(formatReply(421, '4.7.0', `${this.ctx.config.hostname} Line too long, closing connection`));
      return false;
    }
    if (ev.type === 'too-long') {
      // RFC 5321 §4.5.3.1.4: a command line is at most 512 octets; the session goes on.
      this.reply(500, '5.5.2', 'Line too long');
      return true;
    }
    await this.dispatch(ev.line, ev.crlf);
    return true;
  }

  protected async greet(): Promise<boolean> {
    const conn = this.connectionInfo();
    if (this.transport.listener === 'smtp') {
      this.ptr = await this.reverseDns();
      conn.ptr = this.ptr;
      const v = await this.ctx.checks.connect(conn);
      if (this.isEnded) return false;
      if (v.action === 'reject' || v.action === 'tempfail') {
        const temp = v.action === 'tempfail';
        const r = v.reply;
        this.write(formatReply(temp ? 421 : 554, temp ? '4.7.0' : '5.7.1', r?.text ?? (temp ? 'Try again later' : 'Connection refused')));
        this.log.info({ action: v.action }, 'connection refused by checks');
        return false;
      }
    } else {
      // Give a client that talks first the same chance to show itself as on the smtp listener.
      await new Promise<void>((r) => setImmediate(r));
      if (this.isEnded) return false;
    }
    if (this.earlyTalker) {
      // RFC 5321 §4.3.1: commands before the greeting are not executed.
      this.write(formatReply(554, '5.5.0', `${this.ctx.config.hostname} Protocol error: you talked before the greeting`));
      this.log.info('early talker refused');
      return false;
    }
    this.greeted = true;
    // RFC 5321 §4.2: the greeting starts with our name.
    // RFC 2034 §3: no enhanced code on the greeting.
    this.write(formatReply(220, null, `${this.ctx.config.hostname} ESMTP Yubin`));
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
      // RFC 2920 §3.1: the client must wait for this reply before sending more. One reply, then
      // the close: not counted as an error, which could add a second goodbye (421) before it.
      this.write(formatReply(554, '5.5.0', `Protocol error: commands pipelined after ${verb}`));
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
    this.write(formatReply(code, enhanced, text));
    if (code >= 500) this.countError();
  }

  async readLine(maxLength: number): Promise<string | null> {
    const ev = await this.take((f) => f.takeLine(maxLength));
    if (!ev) return null;
    if (ev.type === 'flood') {
      this.write(formatReply(421, '4.7.0', 'Line too long, closing connection'));
      this.close();
      return null;
    }
    if (ev.type === 'too-long') throw new SmtpError(500, '5.5.2', 'Line too long');
    if (!ev.crlf) throw new SmtpError(500, '5.5.2', 'Line must end with CRLF');
    return ev.line.toString('utf8');
  }

  hasPipelinedInput(): boolean {
    return this.framer.length > 0;
  }

  async receiveData(intake: Intake): Promise<boolean> {
    this.startIntake(intake);
    try {
      for (;;) {
        const chunk = await this.take((f) => f.takeBytes(), BODY);
        if (!chunk) return false;
        const r = intake.scanner.scan(chunk);
        if (intake.scanner.flags.flood) {
          this.write(formatReply(421, '4.7.0', 'Line too long, closing connection'));
          this.close();
          return false;
        }
        await intake.write(r.body);
        if (r.done) {
          this.framer.unshift(chunk.subarray(r.consumed));
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
        const chunk = await this.take((f) => f.takeBytes(Math.min(left, 256 * 1024)), BODY);
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
    await this.upgradeTls();
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
    return (Date.now().toString(36) + randomHex(6)).toUpperCase();
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
      this.ratePausedInWindow = this.inputPaused;
      if (slow && !this.ended) {
        this.write(formatReply(421, '4.4.2', `${this.ctx.config.hostname} Data rate too low, closing connection`));
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


}
