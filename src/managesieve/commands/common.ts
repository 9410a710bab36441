// What every ManageSieve command shares (RFC 5804 §2): the descriptor type, the session view a
// command sees, the typed error carrying its NO response, argument parsing helpers, and the
// quota and script checks PUTSCRIPT, CHECKSCRIPT, HAVESPACE and SETACTIVE share.
import type { ServerContext } from '../../context.js';
import type { Logger } from '../../log/logger.js';
import type { Transport } from '../../net/transport.js';
import type { Account } from '../../store/types.js';
import { compileSieve } from '../../sieve/index.js';
import type { FramedItem, ResponseCode, Token } from '../wire.js';
import { tokenText } from '../wire.js';

export type MsState = 'nonauth' | 'auth';

/** A failure carrying its NO response. `bad` counts it toward the bad-command limit. */
export class MsError extends Error {
  constructor(
    message: string,
    readonly code: ResponseCode | null = null,
    readonly bad = false,
    readonly codeArg?: string,
  ) {
    super(message);
    this.name = 'MsError';
  }
}

/** What a command sees of its session. */
export interface MsConn {
  readonly ctx: ServerContext;
  readonly transport: Transport;
  readonly log: Logger;
  state: MsState;
  account: Account | null;
  /** Writes to the client; resolves at once, or after the client has read enough. */
  send(data: string | Uint8Array): Promise<void>;
  /** The next framed item (a SASL response); null once the connection is gone. */
  readItem(): Promise<FramedItem | null>;
  upgradeTls(): Promise<unknown>;
  /** The client logged in (clears the login deadline). */
  loggedIn(account: Account): void;
  /** Back to the non-authenticated state (UNAUTHENTICATE). */
  loggedOut(): void;
  countError(): boolean;
  close(): void;
  readonly isEnded: boolean;
}

export interface MsCommand<A = unknown> {
  readonly name: string;
  readonly states: readonly MsState[];
  /** Pure: checks the arguments' syntax (a bad one throws MsError with bad = true). */
  parse(args: Token[]): A;
  run(c: MsConn, args: A): Promise<void>;
}

export function command<A>(c: MsCommand<A>): MsCommand {
  return c as MsCommand;
}

export const NONAUTH: readonly MsState[] = ['nonauth'];
export const AUTH: readonly MsState[] = ['auth'];
export const ANY: readonly MsState[] = ['nonauth', 'auth'];

/** Parses exactly the string arguments a command takes (`optional` of them may be missing at the end). */
export function strings(name: string, args: Token[], count: number, optional = 0): Array<{ text: string; raw: Buffer }> {
  if (args.length > count || args.length < count - optional) {
    throw new MsError(`${name} takes ${optional ? `${count - optional} to ${count}` : count} argument${count === 1 && !optional ? '' : 's'}`, null, true);
  }
  return args.map((t, i) => {
    if (t.kind !== 'string') throw new MsError(`${name}: argument ${i + 1} must be a string`, null, true);
    return { text: t.value.toString('utf8'), raw: t.value };
  });
}

export function noArgs(name: string): (args: Token[]) => void {
  return (args) => {
    if (args.length) throw new MsError(`${name} takes no arguments`, null, true);
  };
}

/** Script text must be UTF-8 (RFC 5228 §2.2). */
export function scriptText(raw: Buffer): string {
  const text = raw.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(raw)) throw new MsError('Script is not valid UTF-8');
  return text;
}

export function accountOf(c: MsConn): Account {
  if (!c.account) throw new Error('no account in the authenticated state');
  return c.account;
}

/** The store's quota for PUTSCRIPT. */
export function scriptQuota(c: MsConn): { maxScripts: number; maxBytes: number } {
  return { maxScripts: c.ctx.config.sieve.max_scripts, maxBytes: c.ctx.config.sieve.max_script_size };
}

/**
 * RFC 5804 §2.6: a script is checked before it is stored; errors are reported with their
 * position, one per line, "line L, column C: message".
 */
export function checkScript(c: MsConn, name: string, text: string): void {
  const size = Buffer.byteLength(text, 'utf8');
  // RFC 5804 §1.3: QUOTA/MAXSIZE: the script is larger than the server allows
  if (size > c.ctx.config.sieve.max_script_size) throw new MsError(`Script is ${size} octets, more than the ${c.ctx.config.sieve.max_script_size} allowed`, 'QUOTA/MAXSIZE');
  const r = compileSieve(text, { name, limits: { maxScriptBytes: c.ctx.config.sieve.max_script_size, maxRedirects: c.ctx.config.sieve.max_redirects } });
  if (!r.ok) throw new MsError(r.errors.map((e) => `line ${e.line}, column ${e.column}: ${e.message}`).join('\r\n'));
}

/** Text of an argument token for logs. */
export const argText = (t: Token): string => tokenText(t) ?? String((t as { value: number }).value);
