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

/** Maps a StoreError to the IMAP reply a client understands (RFC 9051 §7.1 response codes). */
export function fromStoreError(e: StoreError): ImapError {
  switch (e.code) {
    case 'exists':
      return new ImapError('NO', 'ALREADYEXISTS', e.message);
    case 'not-found':
      return new ImapError('NO', 'NONEXISTENT', e.message);
    case 'over-quota':
      // RFC 9208 §4.4: a command that would take the user over quota fails with OVERQUOTA
      return new ImapError('NO', 'OVERQUOTA', e.message);
    case 'invalid':
      return new ImapError('NO', 'CANNOT', e.message);
    case 'forbidden':
      return new ImapError('NO', 'CANNOT', e.message);
    default:
      return new ImapError('NO', 'SERVERBUG', e.message);
  }
}

export function toImapError(e: unknown): ImapError | null {
  if (e instanceof ImapError) return e;
  if (e instanceof StoreError) return fromStoreError(e);
  return null;
}
