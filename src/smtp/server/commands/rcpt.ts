// RCPT TO (RFC 5321 §4.1.1.3) with DSN NOTIFY/ORCPT (RFC 3461 §4.1-4.2): local recipients are
// checked against accounts and aliases; anything else is relaying, allowed only when authenticated.
import { SmtpError } from '../errors.js';
import { parseNotify, parseOrcpt, parsePathArgs, type DsnNotify, type ParsedPath } from '../../wire/command.js';
import type { Recipient, SessionApi, SmtpCommand } from '../state.js';
import { enforceVerdict } from '../verdict.js';
import { srsFor } from '../forward.js';
import { SrsError } from '../../../forward/srs.js';
import { resolveLocalRecipient, serverPostmaster } from '../../../store/recipients.js';
import { StoreError, type Account } from '../../../store/types.js';

export interface RcptArgs {
  path: ParsedPath;
  notify?: DsnNotify[];
  orcpt?: { type: string; address: string };
}

export function parseRcpt(args: string, s: SessionApi): RcptArgs {
  const { path, params } = parsePathArgs(args, 'rcpt');
  if (params.size && !s.esmtp) throw new SmtpError(555, '5.5.4', 'Parameters not recognized (send EHLO, not HELO)');
  const out: RcptArgs = { path };
  for (const [key, value] of params) {
    if (key === 'NOTIFY') out.notify = parseNotify(value);
    else if (key === 'ORCPT') out.orcpt = parseOrcpt(value);
    else throw new SmtpError(555, '5.5.4', `Parameter ${key} not recognized`);
  }
  // RFC 6531 §3.4: non-ASCII addresses only in an SMTPUTF8 transaction.
  if (path.utf8 && !s.tx?.smtputf8) throw new SmtpError(553, '5.6.7', 'Non-ASCII address needs SMTPUTF8');
  return out;
}

/** Local-part characters that old relays route by (x%remote@local, remote!x@local, "x@remote"@local). */
const ROUTING_CHARS = /[%!@]/;

type Resolved = Pick<Recipient, 'address' | 'accounts' | 'remote' | 'srsBounce'>;

/**
 * A bounce to one of our SRS addresses (mail we forwarded came back): the
 * address it is sent on to, local or remote. A forged or expired SRS address is refused.
 */
async function reverseSrs(s: SessionApi, address: string): Promise<Resolved> {
  let target: string;
  try {
    target = srsFor(s.ctx.config).reverse(address, s.ctx.now());
  } catch (err) {
    if (err instanceof SrsError) throw new SmtpError(550, '5.1.1', 'Invalid or expired SRS address');
    throw err;
  }
  const at = target.lastIndexOf('@');
  const domain = target.slice(at + 1).toLowerCase();
  if (await s.ctx.store.isLocalDomain(domain)) {
    const r = await resolveLocal(s, target);
    return { address, accounts: r.accounts.map((x) => ({ id: x.id, address: x.address })), remote: r.remote, srsBounce: true };
  }
  return { address, accounts: [], remote: [`${target.slice(0, at)}@${domain}`], srsBounce: true };
}

/**
 * An address of a local domain through the one resolution every path shares (store/recipients.ts):
 * accounts, aliases, postmaster@/abuse@ and the catch-all.
 */
async function resolveLocal(s: SessionApi, address: string): Promise<{ accounts: Account[]; remote: string[] }> {
  let r: Awaited<ReturnType<typeof resolveLocalRecipient>>;
  try {
    r = await resolveLocalRecipient(s.ctx.store, address);
  } catch (err) {
    // RFC 5321 §4.1.2: a local part may be a Quoted-string ("john smith"@a.test); our mailboxes are
    // dot-atoms (store/validate.ts), so one the store cannot even name is nobody here (found by fuzzing).
    if (err instanceof StoreError && err.code === 'invalid') throw new SmtpError(550, '5.1.1', 'User unknown');
    throw err;
  }
  if (r.kind === 'unknown') throw new SmtpError(550, '5.1.1', 'User unknown');
  // RFC 5321 §4.5.1: postmaster MUST work, so a role mailbox nobody can take yet is a temporary
  // failure of our configuration (RFC 3463 X.3.5), retried by the sender, never "no such user".
  if (r.kind === 'unstaffed') throw new SmtpError(451, '4.3.5', `<${address}> has no mailbox yet; try again later`);
  return r;
}

async function resolve(s: SessionApi, a: RcptArgs): Promise<Resolved> {
  const store = s.ctx.store;
  if (a.path.address === 'postmaster') {
    // RFC 5321 §4.1.1.3 and §4.5.1: <Postmaster> (any case) without a domain MUST be accepted: the
    // postmaster of the server's own domain (store/recipients.ts serverPostmaster says which).
    const address = await serverPostmaster(store, s.ctx.config.hostname);
    if (!address) throw new SmtpError(451, '4.3.5', 'No local domain is configured yet; try again later');
    const r = await resolveLocal(s, address);
    return { address, accounts: r.accounts.map((x) => ({ id: x.id, address: x.address })), remote: r.remote };
  }
  const mb = a.path.mailbox!;
  const domain = mb.domain.toLowerCase();
  const srs = srsFor(s.ctx.config);
  if (!mb.literal && srs.isOurs(`${mb.localPartValue}@${domain}`)) return reverseSrs(s, `${mb.localPartValue}@${domain}`);
  const local = !mb.literal && (await store.isLocalDomain(domain));
  if (!local) {
    // No open relay: only authenticated users may send to other domains (RFC 5321 §3.6.2, RFC 2505).
    if (!s.authenticated) throw new SmtpError(550, '5.7.1', 'Relaying denied');
    return { address: `${mb.localPart}@${domain}`, accounts: [], remote: [`${mb.localPart}@${domain}`] };
  }
  // A local domain with a routing trick in the local part is still relaying: refuse it.
  // (A source route before a local mailbox is ignored, RFC 5321 §4.1.1.3; the mailbox decides.)
  if (ROUTING_CHARS.test(mb.localPartValue)) {
    throw new SmtpError(550, '5.7.1', 'Relaying denied');
  }
  const address = `${mb.localPartValue}@${domain}`;
  const r = await resolveLocal(s, address);
  // RFC 3463 §3.3: 4.2.2 mailbox full, a temporary failure, given at RCPT already when nothing else would get the message.
  if (!r.remote.length && r.accounts.every((x) => x.quota > 0 && x.usage >= x.quota)) throw new SmtpError(452, '4.2.2', 'Mailbox full');
  return { address, accounts: r.accounts.map((x) => ({ id: x.id, address: x.address })), remote: r.remote };
}

export const rcpt: SmtpCommand<RcptArgs> = {
  name: 'RCPT',
  states: ['mail', 'rcpt'],
  wrongState: (st) => (st === 'init' ? 'Send EHLO or HELO first' : 'Need MAIL command first'),
  // RFC 3461 §4: ORCPT lengthens the RCPT line by up to 500 octets.
  maxLength: 1024,
  parse: parseRcpt,
  async run(s, a) {
    const tx = s.tx!;
    // RFC 5321 §4.5.3.1.8: at least 100 recipients; over our limit 452 4.5.3, the others are kept.
    if (tx.recipients.length >= s.ctx.config.smtp.max_recipients) throw new SmtpError(452, '4.5.3', 'Too many recipients');
    const r = await resolve(s, a);
    // Every listener: on submission the checks apply only the per-user rate limit.
    const v = await s.ctx.checks.rcptTo(s.transactionInfo(), r.address);
    enforceVerdict(v, { reject: 550, tempfail: 450, text: 'Recipient refused' });
    tx.recipients.push({ ...r, ...(a.notify ? { notify: a.notify } : {}), ...(a.orcpt ? { orcpt: a.orcpt } : {}) });
    s.state = 'rcpt';
    s.reply(250, '2.1.5', 'Ok');
  },
};
