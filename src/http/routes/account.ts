// The email address a client configuration document is asked for: validated (it comes from an
// attacker-controlled query string or body) and answered only for local domains.
import type { HttpDeps } from '../deps.js';
import { isXmlSafe } from '../xml.js';

export type AccountLookup = { ok: true; address: string; domain: string } | { ok: false; status: 400 | 404; message: string };

const DOMAIN = /^[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*$/;

/** A domain from a Host header like "autoconfig.example.com:8080" with the given first label. */
export function domainFromHost(host: string | undefined, label: string): string | null {
  const name = (host ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  return name.startsWith(`${label}.`) ? name.slice(label.length + 1) : null;
}

/** Checks an "emailaddress" value (or, without one, a domain taken from the Host header). */
export async function lookupAccount(deps: HttpDeps, address: string | null | undefined, hostDomain: string | null): Promise<AccountLookup> {
  let domain: string;
  let addr = '';
  if (address) {
    // RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
    if (address.length > 254 || !isXmlSafe(address)) return { ok: false, status: 400, message: 'emailaddress is not an email address' };
    const at = address.lastIndexOf('@');
    domain = address.slice(at + 1).toLowerCase();
    // RFC 5321 §4.5.3.1.1: a local part is at most 64 octets.
    if (at < 1 || at > 64 || !DOMAIN.test(domain)) return { ok: false, status: 400, message: 'emailaddress is not an email address' };
    addr = `${address.slice(0, at)}@${domain}`;
  } else if (hostDomain && DOMAIN.test(hostDomain)) {
    domain = hostDomain;
  } else {
    return { ok: false, status: 400, message: 'emailaddress is required' };
  }
  if (!(await deps.store.isLocalDomain(domain))) return { ok: false, status: 404, message: `${domain} is not served here` };
  return { ok: true, address: addr, domain };
}
