// The state an SMTP session exposes to its command modules (one module per command, see commands/).
import type { ServerContext } from '../../context.js';
import type { Transport } from '../../net/transport.js';
import type { Account } from '../../store/types.js';
import type { CheckConnection, CheckTransaction } from '../../pipeline/types.js';
import type { DsnNotify } from '../wire/command.js';
import type { Intake } from './intake.js';

/**
 * init: before EHLO/HELO (and again after STARTTLS); ready: greeted, no transaction;
 * mail: after MAIL; rcpt: at least one recipient accepted; bdat: BDAT chunks arriving (RFC 3030).
 */
export type SmtpState = 'init' | 'ready' | 'mail' | 'rcpt' | 'bdat';

export type BodyType = '7BIT' | '8BITMIME' | 'BINARYMIME';

export interface Recipient {
  /** The address as the client gave it (lower-cased domain), for ORCPT and logs. */
  address: string;
  /** Local accounts it expands to (aliases followed), by id. */
  accounts: Array<{ id: number; address: string }>;
  /** Remote addresses it expands to (relay for authenticated users, or remote alias targets). */
  remote: string[];
  notify?: DsnNotify[];
  orcpt?: { type: string; address: string };
  /** A bounce to one of our SRS addresses, reversed: sent on, never ARC-sealed. */
  srsBounce?: boolean;
}

export interface Transaction {
  /** Our id for this message: in logs, the Received header and the 250 reply. */
  id: string;
  /** Envelope sender, "" for the null sender. */
  from: string;
  size: number | null;
  body: BodyType;
  smtputf8: boolean;
  requireTls: boolean;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  recipients: Recipient[];
  /** The message being received with BDAT, between chunks. */
  intake: Intake | null;
}

/** What a command module may use. The session (session.ts) implements it. */
export interface SessionApi {
  readonly ctx: ServerContext;
  readonly transport: Transport;
  state: SmtpState;
  /** The EHLO/HELO argument as given (validated, no control characters), or null. */
  helo: string | null;
  /** True after EHLO (ESMTP), false after HELO. */
  esmtp: boolean;
  authenticated: Account | null;
  tx: Transaction | null;
  /** Reverse-DNS name of the client, forward-confirmed, or null. */
  readonly ptr: string | null;
  /** True on submission listeners (submission, submissions). */
  readonly isSubmission: boolean;

  reply(code: number, enhanced: string | null, text: string | readonly string[]): void;
  /** Reads the next line (SASL responses); null when the connection is gone. */
  readLine(maxLength: number): Promise<string | null>;
  /** True when the client sent more after the current command (RFC 2920 pipelining checks). */
  hasPipelinedInput(): boolean;
  /** Receives a DATA body up to the end-of-data marker into the intake; false when the connection is gone. */
  receiveData(intake: Intake): Promise<boolean>;
  /** Receives exactly `size` octets of a BDAT chunk into the intake; false when the connection is gone. */
  receiveChunk(intake: Intake, size: number): Promise<boolean>;
  /** STARTTLS: drops buffered input, runs the handshake, resets the session (RFC 3207 §4.2). */
  startTls(): Promise<void>;
  /** Ends the transaction (RSET, after delivery), discarding a partial BDAT message. */
  resetTransaction(): Promise<void>;
  /** A new transaction id. */
  newId(): string;
  /** Closes the connection after what was written. */
  close(): void;
  connectionInfo(): CheckConnection;
  transactionInfo(): CheckTransaction;
  log: ServerContext['logger'];
}

/** A command module (DESIGN.md: descriptor with name, allowed states, pure parse, run). */
export interface SmtpCommand<A = unknown> {
  readonly name: string;
  /** States in which the command is allowed; elsewhere 503 5.5.1. */
  readonly states: readonly SmtpState[];
  /** Reply text when the command comes in a state where it is not allowed. */
  readonly wrongState?: (state: SmtpState) => string;
  /** Longest command line, octets with CRLF; default 512 (RFC 5321 §4.5.3.1.4). */
  readonly maxLength?: number;
  /**
   * RFC 2920 §3.1: EHLO, HELO, DATA, STARTTLS... end a pipelined group; input after them,
   * before their reply, is a protocol violation: 554 5.5.0 and close.
   */
  readonly lastInGroup?: boolean;
  /** Pure parse of the arguments; throws SmtpError (501...) on bad syntax. */
  parse(args: string, s: SessionApi): A;
  run(s: SessionApi, args: A): Promise<void>;
}
