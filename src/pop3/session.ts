// A POP3 session (RFC 1939) over an injected Transport: bytes in through ingest(), replies out
// through transport.write(). Commands run one at a time, in order (RFC 2449 §6.6 PIPELINING);
// while one runs, further input waits in the line reader (and the transport is paused when
// much is waiting). The states are AUTHORIZATION, TRANSACTION and UPDATE (RFC 1939 §3).
import type { ServerContext } from '../context.js';
import type { Logger } from '../log/logger.js';
import type { Session, Transport } from '../net/transport.js';
import { COMMANDS, Pop3Error, type Pop3Conn, type Pop3State } from './commands.js';
import type { Maildrop } from './maildrop.js';
import { LineReader, errLine, okLine, parseCommand, type FramedLine } from './wire.js';

/** Unprocessed input above this pauses the transport (bounded memory under pipelining). */
const HIGH_WATER = 64 * 1024;

export function createPop3Session(ctx: ServerContext, transport: Transport): Session {
  return new Pop3Session(ctx, transport);
}

class Pop3Session implements Session, Pop3Conn {
  state: Pop3State = 'authorization';
  utf8 = false;
  user: string | null = null;
  maildrop: Maildrop | null = null;
  address: string | null = null;
  unlock: (() => void) | null = null;
  responding = false;
  readonly logger: Logger;

  private readonly reader = new LineReader();
  private closedFlag = false;
  private closing = false;
  private shuttingDown = false;
  private waiter: (() => void) | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private badCommands = 0;
  private paused = false;
  private closeWaiters: Array<() => void> = [];

  constructor(
    readonly ctx: ServerContext,
    readonly transport: Transport,
  ) {
    this.logger = ctx.logger.child({ proto: 'pop3', conn: transport.id, ip: transport.remoteAddress });
  }

  get isClosed(): boolean {
    return this.closedFlag || this.closing;
  }

  start(): void {
    // RFC 1939 §4: the greeting is a positive response.
    this.transport.write(okLine(`Yubin POP3 server ready`));
    this.loop().catch((err: unknown) => {
      this.logger.error({ err }, 'pop3 session failed');
      this.close();
    });
  }

  ingest(chunk: Buffer): void {
    if (this.closedFlag || this.closing) return;
    this.reader.push(chunk);
    if (this.reader.pendingBytes > HIGH_WATER && !this.paused) {
      this.paused = true;
      this.transport.pause();
    }
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  closed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.clearIdle();
    // RFC 1939 §6: a session that ends without QUIT does not enter UPDATE: nothing is deleted.
    // While UPDATE runs (QUIT's expunge), the QUIT handler releases the lock when it is done.
    if (this.state !== 'update') {
      this.maildrop?.close();
      this.maildrop = null;
      this.unlock?.();
      this.unlock = null;
    }
    this.reader.clear();
    const w = this.waiter;
    this.waiter = null;
    w?.();
    for (const r of this.closeWaiters.splice(0)) r();
  }

  async shutdown(): Promise<void> {
    if (this.closedFlag) return;
    this.shuttingDown = true;
    const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    // Waiting for input: say goodbye now. Otherwise the loop does after the running command.
    if (this.waiter) {
      this.goodbye();
    }
    await done;
  }

  close(): void {
    if (this.closing || this.closedFlag) return;
    this.closing = true;
    this.clearIdle();
    this.transport.close();
  }

  async send(data: string | Uint8Array): Promise<void> {
    if (this.closedFlag) return;
    if (!this.transport.write(data)) await this.transport.drain();
  }

  discardInput(): void {
    this.reader.clear();
  }

  async countFailure(): Promise<void> {
    await this.countBad();
  }

  async readLine(): Promise<FramedLine | null> {
    for (;;) {
      if (this.closedFlag || this.closing) return null;
      const item = this.reader.next();
      if (item) {
        this.clearIdle();
        return item;
      }
      if (this.paused) {
        this.paused = false;
        this.transport.resume();
      }
      this.armIdle();
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  private goodbye(): void {
    if (this.closing || this.closedFlag) return;
    this.logger.info('pop3 shutdown');
    this.transport.write(errLine('Server shutting down, try again later', 'SYS/TEMP'));
    this.close();
  }

  private async loop(): Promise<void> {
    // RFC 2449 §6.6: a client may pipeline commands; they are answered one by one, in order
    for (;;) {
      const item = await this.readLine();
      if (item === null) return;
      await this.dispatch(item);
      if (this.shuttingDown) {
        this.goodbye();
        return;
      }
    }
  }

  private async dispatch(item: FramedLine): Promise<void> {
    if (item.kind === 'too-long') {
      // RFC 2449 §4: command lines are limited; an oversized line is refused, not kept.
      this.transport.write(errLine('Line too long'));
      await this.countBad();
      return;
    }
    const cmd = parseCommand(item.line);
    const desc = cmd ? COMMANDS.get(cmd.name) : undefined;
    if (!cmd || !desc) {
      this.transport.write(errLine('Unknown command'));
      await this.countBad();
      return;
    }
    if (!desc.states.includes(this.state)) {
      this.transport.write(errLine(`${cmd.name} is not valid in the ${this.state.toUpperCase()} state`));
      await this.countBad();
      return;
    }
    try {
      await desc.run(this, cmd);
    } catch (err) {
      if (this.responding) {
        // A multi-line response was cut short: the client cannot tell, so the connection ends.
        this.logger.error({ err, command: cmd.name }, 'pop3 response failed midway');
        this.responding = false;
        this.close();
        return;
      }
      if (err instanceof Pop3Error) {
        await this.send(errLine(err.message, err.code));
        if (err.bad) await this.countBad();
        return;
      }
      this.logger.error({ err, command: cmd.name }, 'pop3 command failed');
      await this.send(errLine('Internal error, try again later', 'SYS/TEMP'));
    }
  }

  private async countBad(): Promise<void> {
    this.badCommands++;
    if (this.badCommands >= this.ctx.config.pop3.max_bad_commands) {
      this.logger.info({ bad: this.badCommands }, 'pop3 too many bad commands');
      await this.send(errLine('Too many bad commands, closing connection'));
      this.close();
    }
  }

  private armIdle(): void {
    this.clearIdle();
    // RFC 1939 §3: the autologout timer: when it expires the session does not enter UPDATE, and
    // the server closes the connection without removing any message or sending any response.
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      this.logger.info('pop3 idle timeout');
      this.close();
    }, this.ctx.config.pop3.idle_timeout);
    this.idleTimer.unref?.();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}
