// QUOTA (RFC 9208): one quota root "" per account with the STORAGE resource (KiB).
// Quotas are set by the administrator with the CLI; SETQUOTA is refused.
import { defineCommand, type ImapConn } from '../server/conn.js';
import type { ArgReader } from '../wire/tokenizer.js';
import { parseMailboxOnly } from './mailbox.js';
import { ImapError } from '../server/errors.js';
import { imapString } from '../wire/compose.js';

const AUTHED = ['auth', 'selected'] as const;

async function quotaLine(conn: ImapConn): Promise<string | null> {
  const acct = await conn.ctx.store.getAccountById(conn.account!.id);
  if (!acct || !acct.quota) return null;
  // RFC 9208 §5.1: STORAGE is in units of 1024 octets
  return `* QUOTA "" (STORAGE ${Math.ceil(acct.usage / 1024)} ${Math.floor(acct.quota / 1024)})`;
}

/** RFC 9208 §4.2: GETQUOTA quota-root (an astring). */
export function parseQuotaRoot(args: ArgReader): string {
  const root = args.astring();
  args.end();
  return root;
}

export const getquota = defineCommand({
  name: 'GETQUOTA',
  states: AUTHED,
  parse: parseQuotaRoot,
  async run(conn, root) {
    const line = root === '' ? await quotaLine(conn) : null;
    if (!line) throw new ImapError('NO', 'NONEXISTENT', 'No such quota root');
    conn.send(line);
  },
});

export const getquotaroot = defineCommand({
  name: 'GETQUOTAROOT',
  states: AUTHED,
  parse: parseMailboxOnly,
  async run(conn, name) {
    const mb = await conn.ctx.store.getMailbox(conn.account!.id, name);
    if (!mb) throw new ImapError('NO', 'NONEXISTENT', 'No such mailbox');
    const line = await quotaLine(conn);
    // RFC 9208 §4.3: QUOTAROOT lists the roots (none when the account is unlimited), then QUOTA for each
    conn.send(`* QUOTAROOT ${conn.mailboxOut(mb.name)}${line ? ' ' + imapString('') : ''}`);
    if (line) conn.send(line);
  },
});

export const setquota = defineCommand({
  name: 'SETQUOTA',
  states: AUTHED,
  // RFC 9208 §4.1: SETQUOTA quota-root list; refused whatever it says
  parse: () => null,
  async run() {
    // RFC 9208 §4.1: a server may refuse SETQUOTA; quotas are the administrator's (yubin user quota)
    throw new ImapError('NO', 'NOPERM', 'Quotas are set by the administrator');
  },
});
