// Typed command failures carrying their IMAP reply (DESIGN.md "Rules of the house"), caught
// only at the command boundary in the session.
import { StoreError } from '../../store/types.js';

export type ImapStatus = 'OK' | 'NO' | 'BAD';

export class ImapError extends Error {
  constructor(
    readonly status: 'NO' | 'BAD',
    /** Response code without brackets (RFC 9051 §7.1), e.g. "TRYCREATE", or null. */
    readonly code: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'ImapError';
  }
}

/**
 * Maps a StoreError to the IMAP reply a client understands (RFC 9051 §7.1 response codes). The
 * store's own message (blob ids, table row numbers) is for the log, never for the client
 * (issue 13: "never expose storage internals in a reply").
 */
export function fromStoreError(e: StoreError): ImapError {
  switch (e.code) {
    case 'exists':
      return new ImapError('NO', 'ALREADYEXISTS', 'Already exists');
    case 'not-found':
      return new ImapError('NO', 'NONEXISTENT', 'No such mailbox or message');
    case 'over-quota':
      // RFC 9208 §4.4: a command that would take the user over quota fails with OVERQUOTA
      return new ImapError('NO', 'OVERQUOTA', 'Quota exceeded');
    case 'invalid':
      return new ImapError('NO', 'CANNOT', 'Invalid name or argument');
    case 'forbidden':
      return new ImapError('NO', 'CANNOT', 'Not allowed');
    default:
      return new ImapError('NO', 'SERVERBUG', 'Internal error; the command was not completed');
  }
}

export function toImapError(e: unknown): ImapError | null {
  if (e instanceof ImapError) return e;
  if (e instanceof StoreError) return fromStoreError(e);
  return null;
}
