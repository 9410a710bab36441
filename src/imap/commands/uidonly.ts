// UIDONLY (RFC 9586): after ENABLE UIDONLY the session speaks in UIDs only. Commands that name
// messages by sequence number (the non-UID FETCH, STORE, COPY, MOVE, SEARCH, SORT, THREAD,
// REPLACE, and a sequence-set search key in the UID forms) are refused with BAD [UIDREQUIRED];
// the server reports expunges with VANISHED instead of EXPUNGE (server/notify.ts reportRemoved)
// and message data as "* uid UIDFETCH (...)" instead of "* seq FETCH (...)" (fetchHead below).
import type { ImapConn } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import type { SearchKey } from '../search.js';

/** RFC 9586 §3: the commands whose non-UID form takes message sequence numbers. */
const SEQUENCE_COMMANDS: ReadonlySet<string> = new Set(['FETCH', 'STORE', 'COPY', 'MOVE', 'SEARCH', 'SORT', 'THREAD', 'REPLACE']);

function usesSequenceNumbers(key: SearchKey): boolean {
  switch (key.op) {
    case 'seq':
      return true;
    case 'not':
      return usesSequenceNumbers(key.key);
    case 'or':
      return usesSequenceNumbers(key.a) || usesSequenceNumbers(key.b);
    case 'and':
      return key.keys.some(usesSequenceNumbers);
    default:
      return false;
  }
}

/**
 * RFC 9586 §3: once UIDONLY is enabled, a command that uses message sequence numbers is BAD
 * [UIDREQUIRED]. Called by the dispatcher after parsing (a search program is known by then).
 */
export function checkUidOnly(conn: ImapConn, name: string, uid: boolean, parsed: unknown): void {
  if (!conn.uidonly) return;
  if (!uid && SEQUENCE_COMMANDS.has(name)) throw new ImapError('BAD', 'UIDREQUIRED', `${name} needs the UID form after ENABLE UIDONLY`);
  const key = parsed && typeof parsed === 'object' && 'key' in parsed ? (parsed as { key: SearchKey }).key : null;
  if (key && typeof key === 'object' && 'op' in key && usesSequenceNumbers(key)) throw new ImapError('BAD', 'UIDREQUIRED', 'Message sequence numbers cannot be searched after ENABLE UIDONLY');
}

/** The start of a message data response: "* seq FETCH (", or after ENABLE UIDONLY "* uid UIDFETCH (" (RFC 9586 §3.3). */
export function fetchHead(conn: { uidonly: boolean }, seq: number, uid: number): string {
  return conn.uidonly ? `* ${uid} UIDFETCH (` : `* ${seq} FETCH (`;
}
