// What a command module sees of its session (the descriptor shape: DESIGN.md "Rules of the house").
import type { ServerContext } from '../../context.js';
import type { Account } from '../../store/types.js';
import type { Transport } from '../../net/transport.js';
import type { Logger } from '../../log/logger.js';
import type { ArgReader } from '../wire/tokenizer.js';
import type { SelectedView } from './view.js';

export type ImapState = 'notauth' | 'auth' | 'selected' | 'logout';

export interface CommandResult {
  /** Default OK. */
  status?: 'OK' | 'NO';
  /** Response code without brackets. */
  code?: string | null;
  /** Human-readable text; default "<NAME> completed". */
  text?: string;
}

/** The command keeps the tag open (IDLE, AUTHENTICATE): it answers later through finishTagged(). */
export const PENDING = Symbol('pending');

export interface CommandCall {
  tag: string;
  /** Upper case, without the UID prefix. */
  name: string;
  uid: boolean;
  args: ArgReader;
  conn: ImapConn;
}

export interface CommandDescriptor {
  states: readonly ImapState[];
  /** May be prefixed with UID (RFC 9051 §6.4.9). */
  uid?: boolean;
  /**
   * The non-UID form refers to messages by sequence number, so no EXPUNGE may be sent while
   * it is answered (RFC 9051 §7.5.1; Dovecot's COMMAND_FLAG_USES_SEQS).
   */
  usesSeqs?: boolean;
  run(call: CommandCall): Promise<CommandResult | void | typeof PENDING>;
}

/** A line handler for continuation input (IDLE's DONE, AUTHENTICATE responses). */
export type LineHandler = (line: Buffer) => Promise<void>;

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
  /** SEARCHRES saved result: UIDs (RFC 5182). */
  savedSearch: number[];
  /** Writes one response line (CRLF added). */
  send(line: string): void;
  /** Writes raw bytes, waiting for the peer when the output buffer is full. */
  write(data: string | Uint8Array): Promise<void>;
  capabilities(): string[];
  /** Reports pending changes of the selected mailbox; EXPUNGE only if allowed. */
  flush(allowExpunge: boolean): Promise<void>;
  /** Sends the tagged reply of a PENDING command. */
  finishTagged(tag: string, status: 'OK' | 'NO' | 'BAD', code: string | null, text: string): void;
  /** Routes the next input lines to `handler` until it is cleared (null). */
  setLineHandler(handler: LineHandler | null): void;
  /** Login done: subscribe to the account's change feed, state auth. */
  loggedIn(account: Account): void;
  /** Reads a mailbox name argument (modified UTF-7 or UTF-8), normalised and validated. */
  mailboxArg(args: ArgReader): string;
  /** A mailbox name as it goes in a response. */
  mailboxOut(name: string): string;
  /** Selects (or, with null, unselects) a mailbox. */
  setSelected(view: SelectedView | null): void;
  /** Sends "* BYE", closes the connection. */
  bye(text: string): void;
  /** Upgrades to TLS (after the OK was sent). */
  startTls(): Promise<void>;
  /** IDLE: the session is idling; change events are pushed at once. */
  idling: boolean;
}
