// Who gets the mail for a local address: the one answer every path that resolves a local
// recipient uses (SMTP RCPT on every listener, SRS bounces, the queue's local delivery), built
// on the Store interface so every backend shares it (docs/smtp.md "Postmaster and abuse").
//
// The Store's resolveRecipient expands accounts, aliases (recursively), the role mailboxes
// below and the catch-all. This module adds what an empty answer means (unknown, or a role
// mailbox nobody can take yet), which domain `<postmaster>` without a domain belongs to, and
// the line the CLI prints about where the role mailboxes go.
import type { Account, Store } from './types.js';
import { normalizeDomain } from './validate.js';

/**
 * Local parts every local domain answers, whether or not anyone made an account or alias for them:
 * RFC 5321 §4.5.1: "postmaster" (a case-insensitive local name) at every domain we serve MUST be
 * accepted; RFC 2142 §4: "abuse" is the mailbox for reports of inappropriate public behaviour.
 * Unless an account or alias of that exact address exists, they go to the domain's oldest account
 * (the first one made): the person who set the domain up. A catch-all does not take them.
 */
export const ROLE_LOCAL_PARTS: readonly string[] = ['postmaster', 'abuse'];

/** True for postmaster@ and abuse@ of any domain (local part compared without case, RFC 5321 §4.1.1.3). */
export function isRoleAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  return at > 0 && ROLE_LOCAL_PARTS.includes(address.slice(0, at).toLowerCase());
}

export type LocalRecipient =
  | { kind: 'found'; accounts: Account[]; remote: string[] }
  /** No account, alias or catch-all takes it: 550 5.1.1. */
  | { kind: 'unknown' }
  /**
   * A role mailbox (postmaster@, abuse@) that nobody can take yet: the domain has no account
   * (or its alias leads nowhere). Temporary, 451 4.3.5: RFC 5321 §4.5.1 says the address MUST
   * work, so it is not "no such user"; the gap is the server's configuration (RFC 3463 §3.4
   * X.3.5), and the sender's retries (RFC 5321 §4.2.1, 4yz) reach it once an account exists.
   */
  | { kind: 'unstaffed' };

/** Resolves an address of a local domain (the caller has checked the domain is local). */
export async function resolveLocalRecipient(store: Store, address: string): Promise<LocalRecipient> {
  const r = await store.resolveRecipient(address);
  if (r && (r.accounts.length || r.remote.length)) return { kind: 'found', accounts: r.accounts, remote: r.remote };
  return isRoleAddress(address) ? { kind: 'unstaffed' } : { kind: 'unknown' };
}

/**
 * The address `RCPT TO:<Postmaster>` (no domain, RFC 5321 §4.1.1.3 and §4.5.1) stands for: the
 * postmaster of the server's own domain. That is the configured hostname if it is a local domain,
 * else the nearest local domain above it ("mx.a.test" → "a.test"), else the oldest local domain.
 * null when the server has no local domain at all.
 */
export async function serverPostmaster(store: Store, hostname: string): Promise<string | null> {
  let host: string | null;
  try {
    host = normalizeDomain(hostname);
  } catch {
    host = null;
  }
  for (let d = host; d && d.includes('.'); d = d.slice(d.indexOf('.') + 1)) {
    if (await store.isLocalDomain(d)) return `postmaster@${d}`;
  }
  const domains = await store.listDomains();
  if (!domains.length) return null;
  const oldest = [...domains].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.name < b.name ? -1 : 1))[0]!;
  return `postmaster@${oldest.name}`;
}

/**
 * One line saying where postmaster@ and abuse@ of a local domain go, for `domain add` and
 * `user add`: "postmaster@a.test and abuse@a.test go to alice@a.test".
 */
export async function describeRoleMailboxes(store: Store, domain: string): Promise<string> {
  const d = normalizeDomain(domain);
  const where = new Map<string, string[]>();
  for (const local of ROLE_LOCAL_PARTS) {
    const address = `${local}@${d}`;
    const r = await resolveLocalRecipient(store, address);
    const to = r.kind === 'found' ? [...r.accounts.map((a) => a.address), ...r.remote].join(', ') : '';
    where.set(to, [...(where.get(to) ?? []), address]);
  }
  const hasAccounts = (await store.listAccounts(d)).length > 0;
  const parts = [...where].map(([to, addresses]) => {
    const who = addresses.join(' and ');
    const many = addresses.length > 1;
    if (to) return `${who} ${many ? 'go' : 'goes'} to ${to}`;
    // 451 4.3.5 until someone can take them (see LocalRecipient 'unstaffed').
    const until = `mail to ${many ? 'them' : 'it'} is deferred with 451 4.3.5`;
    if (!hasAccounts) return `${who} will go to the first account of ${d} (until there is one, ${until})`;
    return `${who} ${many ? 'lead' : 'leads'} nowhere (check the alias; ${until})`;
  });
  return parts.join('; ');
}
