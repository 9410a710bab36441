// Where mail for a domain goes (RFC 5321 §5.1): MX records by preference, equal preferences in
// random order; no MX → the domain's own A/AAAA (implicit MX); null MX (RFC 7505) → permanent
// failure 5.1.10; a domain that does not exist → 5.1.2; DNS timeouts and SERVFAIL → 4.4.3.
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { DnsError, type Resolver, type MxRecord } from '../dns/resolver.js';

export interface RouteHost {
  /** Host name (MX exchange or the domain itself), or the literal for an address literal. */
  name: string;
  /** Addresses to try, in order (IPv4 first: the loopback tests and most MTAs work that way). */
  addresses: string[];
  preference: number;
}

export type Route =
  | { kind: 'hosts'; hosts: RouteHost[]; /** Lookups that failed temporarily along the way. */ tempErrors: string[] }
  | { kind: 'fail'; permanent: boolean; status: string; code: number; text: string };

function perm(status: string, text: string, code = 550): Route {
  return { kind: 'fail', permanent: true, status, code, text };
}
function temp(text: string): Route {
  return { kind: 'fail', permanent: false, status: '4.4.3', code: 451, text };
}

/** Sorts MX records by preference, shuffling those with equal preference (RFC 5321 §5.1). */
export function orderMx(records: MxRecord[], random: () => number = Math.random): MxRecord[] {
  const shuffled = records.map((r) => ({ r, k: random() }));
  shuffled.sort((a, b) => a.r.priority - b.r.priority || a.k - b.k);
  return shuffled.map((x) => x.r);
}

async function addressesOf(resolver: Resolver, name: string): Promise<{ addrs: string[]; temp: string | null; nx: boolean }> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
  const addrs: string[] = [];
  let tempErr: string | null = null;
  let nx = false;
  for (const r of [v4, v6]) {
    if (r.status === 'fulfilled') addrs.push(...r.value);
    else if (r.reason instanceof DnsError && r.reason.kind === 'temporary') tempErr = r.reason.message;
    else if (r.reason instanceof DnsError && r.reason.kind === 'nxdomain') nx = true;
    else if (!(r.reason instanceof DnsError)) tempErr = String((r.reason as Error)?.message ?? r.reason);
  }
  return { addrs: [...new Set(addrs)], temp: tempErr, nx };
}

/** Routes one recipient domain. */
export async function routeDomain(resolver: Resolver, domain: string): Promise<Route> {
  // RFC 5321 §4.1.3: an address literal names the host directly
  const lit = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(domain);
  if (lit) {
    return isIP(lit[1]!) ? { kind: 'hosts', hosts: [{ name: domain, addresses: [lit[1]!], preference: 0 }], tempErrors: [] } : perm('5.1.2', `bad address literal ${domain}`, 553);
  }
  // RFC 5890 §2.3.2.1: DNS is asked with A-labels (an internationalised domain in punycode)
  const ascii = /[^\x00-\x7f]/.test(domain) ? domainToASCII(domain) : domain;
  if (!ascii) return perm('5.1.2', `bad domain name ${domain}`, 553);
  domain = ascii;
  let mx: MxRecord[];
  try {
    mx = await resolver.resolveMx(domain);
  } catch (err) {
    if (!(err instanceof DnsError)) return temp(`MX lookup for ${domain} failed: ${(err as Error).message}`);
    if (err.kind === 'nxdomain') return perm('5.1.2', `domain ${domain} does not exist (NXDOMAIN)`);
    if (err.kind === 'temporary') return temp(`MX lookup for ${domain} failed: ${err.code}`);
    mx = []; // nodata: no MX records
  }
  // RFC 7505 §3: a single MX with preference 0 and exchange "." means no mail is accepted
  const isNull = (r: MxRecord) => r.exchange === '' || r.exchange === '.';
  if (mx.length === 1 && isNull(mx[0]!)) return perm('5.1.10', `domain ${domain} accepts no mail (null MX)`, 556);
  mx = mx.filter((r) => !isNull(r));

  if (mx.length === 0) {
    // RFC 5321 §5.1: no MX records: the domain itself is the implicit MX, with preference 0
    const a = await addressesOf(resolver, domain);
    if (a.addrs.length) return { kind: 'hosts', hosts: [{ name: domain, addresses: a.addrs, preference: 0 }], tempErrors: [] };
    if (a.temp) return temp(`address lookup for ${domain} failed: ${a.temp}`);
    if (a.nx) return perm('5.1.2', `domain ${domain} does not exist (NXDOMAIN)`);
    return perm('5.4.4', `domain ${domain} has no MX and no address records`);
  }

  const hosts: RouteHost[] = [];
  const tempErrors: string[] = [];
  const ordered = orderMx(mx);
  const resolved = await Promise.all(ordered.map((r) => addressesOf(resolver, r.exchange)));
  ordered.forEach((r, i) => {
    const a = resolved[i]!;
    if (a.addrs.length) hosts.push({ name: r.exchange.replace(/\.$/, ''), addresses: a.addrs, preference: r.priority });
    else if (a.temp) tempErrors.push(`${r.exchange}: ${a.temp}`);
  });
  if (hosts.length) return { kind: 'hosts', hosts, tempErrors };
  if (tempErrors.length) return temp(`no address for the MX hosts of ${domain}: ${tempErrors.join('; ')}`);
  // RFC 5321 §5.1: MX hosts that have no addresses: the domain cannot be reached
  return perm('5.4.4', `no MX host of ${domain} has an address`);
}

/** Route to a smarthost: its name resolved to addresses (or an IP as it is). */
export async function routeSmarthost(resolver: Resolver, host: string): Promise<Route> {
  if (isIP(host)) return { kind: 'hosts', hosts: [{ name: host, addresses: [host], preference: 0 }], tempErrors: [] };
  const a = await addressesOf(resolver, host);
  if (a.addrs.length) return { kind: 'hosts', hosts: [{ name: host, addresses: a.addrs, preference: 0 }], tempErrors: [] };
  // a misconfigured smarthost is our problem, not the recipient's: defer, never bounce
  return temp(`smarthost ${host} has no address${a.temp ? `: ${a.temp}` : ''}`);
}
