// A POP3 session (RFC 1939) on the one session core (src/net/line-session.ts): bytes in through
// ingest(), replies out through the Transport. Commands run one at a time, in order (RFC 2449
// §6.6 PIPELINING); the core holds further input meanwhile (and pauses the transport when much
// is waiting). The states are AUTHORIZATION, TRANSACTION and UPDATE (RFC 1939 §3). Each command
// is a module in commands/ with a parse step and a run step.
import type { ServerContext } from '../context.js';
import { LineSession, type EndReason } from '../net/line-session.js';
import type { Session, Transport } from '../net/transport.js';
import { COMMANDS, Pop3Error, type Pop3Conn, type Pop3State } from './commands/index.js';
import type { Maildrop } from './maildrop.js';
import { LineReader, errLine, okLine, parseCommand, type FramedLine } from './wire.js';

/** Unprocessed input above this pauses the transport (bounded memory under pipelining). */
const HIGH_WATER = 64 * 1024;
const LOW_WATER = 16 * 1024;

export function createPop3Session(ctx: ServerContext, transport: Transport): Session {
  return new Pop3Session(ctx, transport);
}

class Pop3Session extends LineSession<LineReader> implements Pop3Conn {
  state: Pop3State = 'authorization';
  utf8 = false;
  user: string | null = null;
  maildrop: Maildrop | null = null;
  address: string | null = null;
  unlock: (() => void) | null = null;
  responding = false;

  constructor(
    readonly ctx: ServerContext,
    transport: Transport,
  ) {
    super(transport, new LineReader(), ctx.logger.child({ proto: 'pop3', conn: transport.id, ip: transport.remoteAddress }), {
      highWater: HIGH_WATER,
      lowWater: LOW_WATER,
    });
  }

  // ---- the protocol's part of the session core ----

  protected greet(): boolean {
    // RFC 1939 §4: the greeting is a positive response.
    this.write(okLine(`Yubin POP3 server ready`));
    return true;
  }

  /**
   * RFC 1939 §3: the autologout timer: when it expires the session does not enter UPDATE, and
   * the server closes the connection without removing any message or sending any response.
   */
  protected idleTimeoutMs(): number {
    return this.ctx.config.pop3.idle_timeout;
  }

  protected override errorBudget(): number {
    return this.ctx.config.pop3.max_bad_commands;
  }

  protected goodbye(reason: EndReason): string | null {
    switch (reason) {
      case 'idle-timeout':
        return null;
      case 'too-many-errors':
        return errLine('Too many bad commands, closing connection');
      case 'shutdown':
        return errLine('Server shutting down, try again later', 'SYS/TEMP');
      case 'deadline':
      case 'internal-error':
        return errLine('Internal error, closing connection', 'SYS/TEMP');
    }
  }

  protected override onEnd(): void {
    // RFC 1939 §6: a session that ends without QUIT does not enter UPDATE: nothing is deleted.
    // While UPDATE runs (QUIT's expunge), the QUIT handler releases the lock when it is done.
    if (this.state !== 'update') {
      this.maildrop?.close();
      this.maildrop = null;
      this.unlock?.();
      this.unlock = null;
    }
  }

  protected async step(): Promise<boolean> {
    // RFC 2449 §6.6: a client may pipeline commands; they are answered one by one, in order
    const item = await this.readLine();
    if (item === null) return false;
    await this.dispatch(item);
    return true;
  }

  // ---- Pop3Conn ----

  send(data: string | Uint8Array): Promise<void> {
    return this.writeAndDrain(data);
  }

  readLine(): Promise<FramedLine | null> {
    return this.take((r) => r.next());
  }

  // ---- dispatch ----

  private async dispatch(item: FramedLine): Promise<void> {
    if (item.kind === 'too-long') {
      // RFC 2449 §4: command lines are limited; an oversized line is refused, not kept.
      this.write(errLine('Line too long'));
      this.countError();
      return;
    }
    const cmd = parseCommand(item.line);
    const desc = cmd ? COMMANDS.get(cmd.name) : undefined;
    if (!cmd || !desc) {
      this.write(errLine('Unknown command'));
      this.countError();
      return;
    }
    if (!desc.states.includes(this.state)) {
      this.write(errLine(`${cmd.name} is not valid in the ${this.state.toUpperCase()} state`));
      this.countError();
      return;
    }
    try {
      const args = desc.parse(cmd);
      // The store's read barrier: nothing committed but not yet on disk is shown (docs/store.md "Durability").
      const barrier = this.ctx.store.durable?.();
      if (barrier) await barrier;
      await desc.run(this, args);
    } catch (err) {
      if (this.responding) {
        // A multi-line response was cut short: the client cannot tell, so the connection ends.
        this.log.error({ err, command: cmd.name }, 'pop3 response failed midway');
        this.responding = false;
        this.close();
        return;
      }
      if (err instanceof Pop3Error) {
        await this.send(errLine(err.message, err.code));
        if (err.bad) this.countError();
        return;
      }
      this.log.error({ err, command: cmd.name }, 'pop3 command failed');
      await this.send(errLine('Internal error, try again later', 'SYS/TEMP'));
    }
  }
}
