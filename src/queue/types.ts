// What the SMTP server hands to the outbound queue (DESIGN.md "Queue").
import type { StagedBlob } from '../store/types.js';

/** RFC 3461 DSN parameters of one recipient. */
export interface DsnRecipientParams {
  /** NOTIFY: NEVER, or a subset of SUCCESS, FAILURE, DELAY; undefined = default (FAILURE, DELAY). */
  notify?: Array<'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'>;
  /** ORCPT, decoded: address type and original recipient, e.g. { type: 'rfc822', address: 'bob@b.test' }. */
  orcpt?: { type: string; address: string };
}

export interface OutboundRecipient extends DsnRecipientParams {
  address: string;
}

export interface OutboundMessage {
  /** Envelope sender; "" for the null sender <>. */
  from: string;
  recipients: OutboundRecipient[];
  /** RFC 3461 RET and ENVID. */
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  /** MAIL FROM parameters that must travel on: SMTPUTF8, BODY=8BITMIME/BINARYMIME, REQUIRETLS. */
  smtputf8?: boolean;
  body?: '7BIT' | '8BITMIME' | 'BINARYMIME';
  requireTls?: boolean;
  /** The message as it will be sent (Received header already prepended). */
  blob: StagedBlob;
  /** Account that submitted it (for rate limits and logs), if any. */
  submittedBy?: string;
  /** Client IP, for logs. */
  clientIp?: string;
}

export interface Outbound {
  /** Durable when the promise resolves (group commit); returns the queue id. */
  enqueue(message: OutboundMessage): Promise<string>;
}

/**
 * DKIM signing of outgoing mail (implemented in src/checks/dkim-sign.ts). The queue calls it when
 * it sends a message to a remote server: the returned header lines (CRLF-terminated, e.g. one or
 * more "DKIM-Signature: ..." fields) are written before the stored message on the wire.
 * Returns "" when the sender's domain is not local (nothing to sign with).
 */
export interface MessageSigner {
  sign(opts: { from: string; headerFromDomain: string | null; message: () => NodeJS.ReadableStream }): Promise<string>;
}
