// The parsed structure of a message: computed once, while the message is written into the
// store, and kept with it (JSON) so that FETCH, SEARCH and POP3 never re-parse.
// All offsets are byte offsets into the raw message as stored.

/** An address as IMAP ENVELOPE needs it (RFC 9051 §7.5.2): raw, not decoded. */
export interface EnvelopeAddress {
  /** Display name as in the header (encoded words left as they are), or null. */
  name: string | null;
  /** Source route (obsolete), or null. */
  adl: string | null;
  /** Local part; for a group start: the group name; null for group end. */
  mailbox: string | null;
  /** Domain; null marks group syntax (RFC 9051 §7.5.2). */
  host: string | null;
}

/** ENVELOPE fields, raw header values (unfolded, not decoded), null when absent. */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[] | null;
  sender: EnvelopeAddress[] | null;
  replyTo: EnvelopeAddress[] | null;
  to: EnvelopeAddress[] | null;
  cc: EnvelopeAddress[] | null;
  bcc: EnvelopeAddress[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

export interface MimePart {
  /**
   * IMAP part number ("1", "1.2"; "" for the top level of the message). The root of an enclosed
   * message (MimePart.message.root) of part "2" is "2" when it is a multipart (its parts are
   * "2.1", "2.2") and "2.1" otherwise (RFC 9051 §6.4.5: its body is part 2.1). To resolve a
   * section use findPart/resolveSection in sections.ts rather than comparing these strings.
   */
  partNumber: string;
  /** Offset where this part's header starts. */
  headerStart: number;
  /** Offset where the body starts (after the blank line; equal to headerStart+header size). */
  bodyStart: number;
  /** Offset where the body ends (exclusive; before the CRLF that precedes the next boundary). */
  bodyEnd: number;
  /** Lower case, e.g. "text". Defaults per RFC 2045 §5.2 (text/plain; charset=us-ascii). */
  type: string;
  /** Lower case, e.g. "plain". */
  subtype: string;
  /** Parameters with RFC 2231 continuations and charsets decoded; names lower case. */
  params: Record<string, string>;
  /** Content-ID, raw, or null. */
  id: string | null;
  /** Content-Description, raw, or null. */
  description: string | null;
  /** Content-Transfer-Encoding, upper case as IMAP shows it ("7BIT" default). */
  encoding: string;
  /** Body size in octets. */
  size: number;
  /** Lines in the body (text/* and message/rfc822). */
  lines: number;
  md5: string | null;
  disposition: { type: string; params: Record<string, string> } | null;
  language: string[] | null;
  location: string | null;
  /** Sub-parts of a multipart. */
  children?: MimePart[];
  /** For message/rfc822 (and message/global): the enclosed message. */
  message?: { envelope: Envelope; root: MimePart };
  /** True when limits (depth, part count) cut the structure below this part. */
  truncated?: boolean;
}

export interface MessageStructure {
  /** Format version of this JSON, for upgrades. */
  version: 1;
  /** Octets of the whole raw message. */
  size: number;
  /** Lines in the whole raw message. */
  lines: number;
  envelope: Envelope;
  root: MimePart;
  /** True when the raw message holds 8-bit data (for SMTP 8BITMIME/BINARYMIME decisions). */
  has8bit: boolean;
  /** True when a header holds non-ASCII (UTF-8) data (needs SMTPUTF8 to relay). */
  hasUtf8Headers: boolean;
  /** True when limits (depth, part count, header size) cut the structure somewhere (see MimePart.truncated). */
  truncated?: boolean;
}
