// Which names get certificates: `hostname`, plus mta-sts.<domain> and autoconfig.<domain> for
// every local domain, each only while DNS (A/AAAA through Yubin's resolver) points it at this
// server; the rest are skipped with the reason (logged, and shown by `yubin tls status`).
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Resolver } from '../dns/resolver.js';
import { DnsError } from '../dns/resolver.js';

/** Top-level names that never resolve publicly (RFC 2606, RFC 6761, RFC 6762, RFC 8375). */
const PRIVATE_TLDS = new Set(['test', 'localhost', 'invalid', 'example', 'local', 'internal', 'lan', 'home', 'localdomain']);

/** True for a name a public CA could validate: dotted, not an IP, not a reserved/private TLD. */
export function isPublicName(name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (isIP(n) || !n.includes('.')) return false;
  if (n.endsWith('.home.arpa')) return false;
  return !PRIVATE_TLDS.has(n.slice(n.lastIndexOf('.') + 1));
}

/** [acme] enabled, or by default: on for a public hostname when no [tls] certificate is configured. */
export function acmeEnabled(config: Config): boolean {
  return config.acme.enabled ?? (isPublicName(config.hostname) && !config.tls);
}

/** hostname, then mta-sts.<d> and autoconfig.<d> per local domain; lower case, no duplicates. */
export function wantedNames(hostname: string, domains: string[]): string[] {
  const out = [hostname.toLowerCase()];
  for (const d of domains) out.push(`mta-sts.${d.toLowerCase()}`, `autoconfig.${d.toLowerCase()}`);
  return [...new Set(out)];
}

const UNSPECIFIED = new Set(['0.0.0.0', '::', '::0']);

/**
 * "This server": [acme] public_addresses when set (behind NAT the bound addresses are private);
 * else the addresses the listeners are bound to, where a wildcard bind (0.0.0.0, ::) stands for
 * every address of the machine's interfaces.
 */
export function serverAddresses(config: Config, bound: string[]): string[] {
  if (config.acme.public_addresses.length) return [...new Set(config.acme.public_addresses.map(normalizeIp))];
  const out = new Set<string>();
  for (const spec of bound) {
    const m = /^\[?(.*?)\]?:\d+$/.exec(spec);
    if (!m) continue;
    const host = m[1]!;
    if (UNSPECIFIED.has(host)) {
      for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.add(normalizeIp(i.address.replace(/%.*$/, '')));
    } else out.add(normalizeIp(host));
  }
  return [...out];
}

function normalizeIp(ip: string): string {
  return ip.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

export type NameCheck = { ok: true } | { ok: false; reason: string };

/** Does DNS point the name at this server? Every A/AAAA answer must be one of `addresses`. */
export async function checkName(resolver: Resolver, name: string, addresses: string[]): Promise<NameCheck> {
  const mine = new Set(addresses);
  const answers: string[] = [];
  const failures: string[] = [];
  for (const lookup of [resolver.resolve4, resolver.resolve6]) {
    try {
      answers.push(...(await lookup.call(resolver, name)).map(normalizeIp));
    } catch (err) {
      if (err instanceof DnsError && (err.kind === 'nxdomain' || err.kind === 'nodata')) continue;
      failures.push((err as Error).message);
    }
  }
  if (failures.length && !answers.length) return { ok: false, reason: `DNS lookup failed (${failures.join('; ')})` };
  if (!answers.length) return { ok: false, reason: 'no A/AAAA record' };
  // The CA may connect to any address the name has, so every one must be ours.
  const foreign = answers.filter((a) => !mine.has(a));
  if (foreign.length) return { ok: false, reason: `points at ${foreign.join(', ')}, not at this server (${addresses.join(', ') || 'no address'})` };
  return { ok: true };
}
