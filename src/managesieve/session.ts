// A ManageSieve session (RFC 5804) on the one session core (src/net/line-session.ts): bytes in
// through ingest(), responses out through the Transport. Commands run one at a time, in order;
// each is a module in commands/ with a parse step and a run step. States: non-authenticated and
// authenticated (RFC 5804 §2). The greeting is the capability list (RFC 5804 §1.7).
import type { ServerContext } from '../context.js';
import { LineSession, type EndReason } from '../net/line-session.js';
import type { Session, Transport } from '../net/transport.js';
import type { Account } from '../store/types.js';
import { COMMANDS, MsError, capabilityLines, type MsConn, type MsState } from './commands/index.js';
import { ManageSieveFramer, bye, no, ok, type FramedItem } from './wire.js';

/** Unprocessed input above this pauses the transport (bounded memory under pipelining). */
const HIGH_WATER = 64 * 1024;
const LOW_WATER = 16 * 1024;

export function createManageSieveSession(ctx: ServerContext, transport: Transport): Session {
  return new ManageSieveSession(ctx, transport);
}

export class ManageSieveSession extends LineSession<ManageSieveFramer> implements MsConn {
  state: MsState = 'nonauth';
  account: Account | null = null;

  constructor(
    readonly ctx: ServerContext,
    transport: Transport,
  ) {
    super(
      transport,
      // Literals carry scripts: a little over the largest script is read, a larger one is skipped and refused.
      new ManageSieveFramer({ maxLine: ctx.config.managesieve.max_command_length, maxLiteral: ctx.config.sieve.max_script_size + 1024 }),
      ctx.logger.child({ proto: 'managesieve', conn: transport.id, ip: transport.remoteAddress }),
      { highWater: Math.max(HIGH_WATER, ctx.config.sieve.max_script_size * 2), lowWater: LOW_WATER },
    );
  }

  protected greet(): boolean {
    this.startDeadline(this.ctx.config.managesieve.login_timeout);
    // RFC 5804 §1.7: the server greets with its capabilities followed by OK
    this.write(capabilityLines(this) + ok('Yubin ManageSieve ready'));
    return true;
  }

  protected idleTimeoutMs(): number {
    return this.ctx.config.managesieve.idle_timeout;
  }

  protected override errorBudget(): number {
    return this.ctx.config.managesieve.max_bad_commands;
  }

  protected goodbye(reason: EndReason): string | null {
    // RFC 5804 §1.3, §2: BYE is the server closing the connection; TRYLATER when a retry may work
    switch (reason) {
      case 'idle-timeout':
        return bye('Disconnected for inactivity');
      case 'deadline':
        return bye('Too slow to log in');
      case 'too-many-errors':
        return bye('Too many bad commands');
      case 'shutdown':
        return bye('Server shutting down', 'TRYLATER');
      case 'internal-error':
        return bye('Internal error', 'TRYLATER');
    }
  }

  protected async step(): Promise<boolean> {
    const item = await this.readItem();
    if (item === null) return false;
    await this.dispatch(item);
    return true;
  }

  // ---- MsConn ----

  send(data: string | Uint8Array): Promise<void> {
    return this.writeAndDrain(data);
  }

  readItem(): Promise<FramedItem | null> {
    return this.take((f) => f.next());
  }

  loggedIn(account: Account): void {
    this.account = account;
    this.state = 'auth';
    this.clearDeadline();
  }

  loggedOut(): void {
    this.account = null;
    this.state = 'nonauth';
  }

  // ---- dispatch ----

  private async dispatch(item: FramedItem): Promise<void> {
    if (item.kind === 'error') {
      // RFC 5804 §1.3: QUOTA/MAXSIZE for a script literal larger than allowed
      await this.send(no(item.message, item.code === 'literal-too-big' ? 'QUOTA/MAXSIZE' : null));
      this.countError();
      return;
    }
    const [verb, ...args] = item.tokens;
    if (!verb) {
      await this.send(no('Empty command'));
      this.countError();
      return;
    }
    const name = verb.kind === 'atom' ? verb.value.toUpperCase() : null;
    const desc = name ? COMMANDS.get(name) : undefined;
    if (!desc) {
      await this.send(no('Unknown command'));
      this.countError();
      return;
    }
    if (!desc.states.includes(this.state)) {
      await this.send(no(this.state === 'nonauth' ? `${desc.name} needs authentication first` : `${desc.name} is not allowed after authentication`));
      this.countError();
      return;
    }
    try {
      const parsed = desc.parse(args);
      // The store's read barrier: nothing committed but not yet on disk is shown (docs/store.md "Durability").
      const barrier = this.ctx.store.durable?.();
      if (barrier) await barrier;
      await desc.run(this, parsed);
    } catch (err) {
      if (err instanceof MsError) {
        await this.send(no(err.message, err.code, err.codeArg));
        if (err.bad) this.countError();
        return;
      }
      this.log.error({ err, command: desc.name }, 'managesieve command failed');
      await this.send(no('Internal error, try again later', 'TRYLATER'));
    }
  }
}
