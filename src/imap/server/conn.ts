// What a command module sees of its session, and the command descriptor shape (DESIGN.md
// "Rules of the house"): { name, states, flags, parse(args, ctx) → typed arguments, run }.
// parse() is pure: it reads only the tokens and what ParseContext passes in explicitly, so the
// IMAP grammar (RFC 9051 §9) is testable from tables without a session.
import type { ServerContext } from '../../context.js';
import type { Account } from '../../store/types.js';
import type { Transport } from '../../net/transport.js';
import type { Release } from '../../net/line-session.js';
import type { Logger } from '../../log/logger.js';
import type { ArgReader } from '../wire/tokenizer.js';
import type { SelectedView } from './view.js';
import type { NotifyState } from '../commands/notify.js';

export type ImapState = 'notauth' | 'auth' | 'selected' | 'logout';

export interface CommandResult {
  /** Default OK. */
  status?: 'OK' | 'NO';
  /** Response code without brackets. */
  code?: string | null;
  /** Human-readable text; default "<NAME> completed". */
  text?: string;
}

/** The command wrote its own tagged reply (STARTTLS: the OK must precede the handshake). */
export const ANSWERED = Symbol('answered');

/** The session state a parser may depend on, passed in explicitly (nothing else). */
export interface ParseContext {
  /** UTF8=ACCEPT or IMAP4rev2 enabled: mailbox names and patterns are UTF-8 (RFC 6855 §3, RFC 9051 §5.1). */
  utf8: boolean;
  /** The command came with the UID prefix (RFC 9051 §6.4.9). */
  uid: boolean;
}

export interface CommandCall {
  tag: string;
  /** Upper case, without the UID prefix. */
  name: string;
  uid: boolean;
}

export interface CommandFlags {
  /** May be prefixed with UID (RFC 9051 §6.4.9). */
  uid?: boolean;
  /**
   * The non-UID form refers to messages by sequence number, so no EXPUNGE may be sent while
   * it is answered (RFC 9051 §7.5.1; Dovecot's COMMAND_FLAG_USES_SEQS).
   */
  usesSeqs?: boolean;
  /**
   * Changes the selected mailbox: refused with NO [READ-ONLY] when it was opened with EXAMINE
   * (RFC 9051 §6.3.3), by the dispatcher, before run().
   */
  writes?: boolean;
}

export interface CommandDescriptor<P = unknown> {
  /** Upper case. */
  readonly name: string;
  readonly states: readonly ImapState[];
  readonly flags?: CommandFlags;
  /** Reads the arguments; throws ImapParseError (BAD) or ImapError. Must not touch the session. */
  parse(args: ArgReader, ctx: ParseContext): P;
  run(conn: ImapConn, parsed: P, call: CommandCall): Promise<CommandResult | void | typeof ANSWERED>;
  /** Session state a failed parse changes (SEARCH RETURN (SAVE), RFC 5182 §2.1); the reply is BAD anyway. */
  onParseError?(conn: ImapConn, err: unknown): void;
}

/** Defines a command; the parsed type flows from parse() to run(). */
export function defineCommand<P>(d: CommandDescriptor<P>): CommandDescriptor<P> {
  return d;
}

/** No arguments (RFC 9051 §9: command-any etc. have none). */
export function noArgs(args: ArgReader): null {
  args.end();
  return null;
}

export interface ImapConn {
  readonly ctx: ServerContext;
  readonly transport: Transport;
  readonly log: Logger;
  state: ImapState;
  account: Account | null;
  selected: SelectedView | null;
  /** IMAP4rev2 enabled (RFC 9051 §6.3.1). */
  rev2: boolean;
  /** UTF8=ACCEPT or IMAP4rev2 enabled: names and strings in UTF-8 (RFC 6855, RFC 9051 §5.1). */
  utf8: boolean;
  /**
   * RFC 7162 §3.1: a CONDSTORE enabling command was seen (ENABLE CONDSTORE, SELECT (CONDSTORE),
   * FETCH MODSEQ/CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS HIGHESTMODSEQ):
   * every untagged FETCH with flags carries UID and MODSEQ from now on.
   */
  condstore: boolean;
  /** RFC 7162 §3.2.3: ENABLE QRESYNC: VANISHED replaces EXPUNGE, SELECT (QRESYNC ...) allowed. */
  qresync: boolean;
  /** SEARCHRES saved result: UIDs (RFC 5182). */
  savedSearch: number[];
  /** IDLE: the session is idling; change events are pushed at once. */
  idling: boolean;
  /**
   * RFC 9586: ENABLE UIDONLY: sequence numbers are refused (BAD [UIDREQUIRED]), VANISHED replaces
   * EXPUNGE and UIDFETCH replaces FETCH.
   */
  uidonly: boolean;
  /** RFC 5465 NOTIFY: the event groups in force, or null (NOTIFY NONE, the default). */
  notify: NotifyState | null;
  /** Untagged responses may be pushed now: no command is running, or the session idles (RFC 5465 §3). */
  canPush(): boolean;
  /** Writes one response line (CRLF added). */
  send(line: string): void;
  /** Writes raw bytes, waiting for the peer when the output buffer is full. */
  writeAndDrain(data: string | Uint8Array): Promise<void>;
  capabilities(): string[];
  /** Reports pending changes of the selected mailbox; EXPUNGE only if allowed. */
  flush(allowExpunge: boolean): Promise<void>;
  /** Sends a tagged reply (a command that answers itself returns ANSWERED). */
  finishTagged(tag: string, status: 'OK' | 'NO' | 'BAD', code: string | null, text: string): void;
  /**
   * Reads one continuation line (AUTHENTICATE responses, IDLE's DONE), without CRLF; null when
   * the session ended meanwhile. A literal is refused (throws BAD for the current command).
   */
  readLine(): Promise<Buffer | null>;
  /** Login done: subscribe to the account's change feed, state auth, no pre-login deadline. */
  loggedIn(account: Account): void;
  /** A mailbox name as it goes in a response. */
  mailboxOut(name: string): string;
  /** Selects (or, with null, unselects) a mailbox. */
  setSelected(view: SelectedView | null): void;
  /** Sends "* BYE", closes the connection. */
  bye(text: string): void;
  /** LOGOUT: the session ends after this command's tagged reply. */
  logout(): void;
  /** Upgrades to TLS (after the OK was sent). */
  startTls(): Promise<void>;
  /** COMPRESS=DEFLATE is active (RFC 4978). */
  readonly compressed: boolean;
  /** RFC 4978 §3: from now on both directions are DEFLATE-compressed (after COMPRESS's tagged OK). */
  startCompression(): void;
  /** Registers something this command opened (a staged blob); released when the command ends. */
  hold(release: Release): Release;
}
