// QUOTA (RFC 9208): one quota root "" per account with the STORAGE resource (KiB).
// Quotas are set by the administrator with the CLI; SETQUOTA is refused.
import type { CommandDescriptor, ImapConn } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { imapString } from '../wire/compose.js';

const AUTHED = ['auth', 'selected'] as const;

async function quotaLine(conn: ImapConn): Promise<string | null> {
  const acct = await conn.ctx.store.getAccountById(conn.account!.id);
  if (!acct || !acct.quota) return null;
  // RFC 9208 §5.1: STORAGE is in units of 1024 octets
  return `* QUOTA "" (STORAGE ${Math.ceil(acct.usage / 1024)} ${Math.floor(acct.quota / 1024)})`;
}

export const getquota: CommandDescriptor = {
  states: AUTHED,
  async run({ args, conn }) {
    const root = args.astring();
    args.end();
    const line = root === '' ? await quotaLine(conn) : null;
    if (!line) throw new ImapError('NO', 'NONEXISTENT', 'No such quota root');
    conn.send(line);
  },
};

export const getquotaroot: CommandDescriptor = {
  states: AUTHED,
  async run({ args, conn }) {
    const name = conn.mailboxArg(args);
    args.end();
    const mb = await conn.ctx.store.getMailbox(conn.account!.id, name);
    if (!mb) throw new ImapError('NO', 'NONEXISTENT', 'No such mailbox');
    const line = await quotaLine(conn);
    // RFC 9208 §4.3: QUOTAROOT lists the roots (none when the account is unlimited), then QUOTA for each
    conn.send(`* QUOTAROOT ${conn.mailboxOut(mb.name)}${line ? ' ' + imapString('') : ''}`);
    if (line) conn.send(line);
  },
};

export const setquota: CommandDescriptor = {
  states: AUTHED,
  async run() {
    // RFC 9208 §4.1: a server may refuse SETQUOTA; quotas are the administrator's (yubin user quota)
    throw new ImapError('NO', 'NOPERM', 'Quotas are set by the administrator');
  },
};
