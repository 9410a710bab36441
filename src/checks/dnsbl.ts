// DNS blocklists (RFC 5782): the client address, reversed, under each configured zone. An A
// record in 127.0.0.0/8 means listed; the TXT record, when there is one, says why.
import type { Resolver } from '../dns/resolver.js';
import { DnsError } from '../dns/resolver.js';
import { reversedIp } from './ip.js';

export interface DnsblHit {
  zone: string;
  /** The A record(s) answered, e.g. ["127.0.0.2"]. */
  codes: string[];
  /** The TXT reason, if the list gives one. */
  reason: string | null;
}

/** One zone: the hit, null when not listed; throws DnsError (temporary) when the list cannot be asked. */
export async function queryDnsbl(resolver: Resolver, zone: string, ip: string): Promise<DnsblHit | null> {
  const rev = reversedIp(ip);
  if (!rev) return null;
  const name = `${rev}.${zone.replace(/\.$/, '')}`;
  let codes: string[];
  try {
    codes = await resolver.resolve4(name);
  } catch (err) {
    if (err instanceof DnsError && (err.kind === 'nxdomain' || err.kind === 'nodata')) return null;
    throw err;
  }
  // RFC 5782 §2.1: listed entries answer in 127.0.0.0/8. Spamhaus-style 127.255.255.x answers
  // are error codes (query refused, open resolver), not listings.
  const listed = codes.filter((c) => /^127\./.test(c) && !/^127\.255\.255\./.test(c));
  if (!listed.length) return null;
  let reason: string | null = null;
  try {
    // RFC 5782 §2.1: the TXT record at the same name gives the reason.
    reason = (await resolver.resolveTxt(name))[0] ?? null;
  } catch {
    reason = null;
  }
  return { zone, codes: listed, reason };
}

/** Every zone in parallel; the first listing in config order, or null. Zones that fail are skipped (reported in errors). */
export async function checkDnsbls(resolver: Resolver, zones: readonly string[], ip: string): Promise<{ hit: DnsblHit | null; errors: string[] }> {
  const results = await Promise.allSettled(zones.map((z) => queryDnsbl(resolver, z, ip)));
  const errors: string[] = [];
  let hit: DnsblHit | null = null;
  results.forEach((r, i) => {
    if (r.status === 'rejected') errors.push(`${zones[i]}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
    else if (r.value && !hit) hit = r.value;
  });
  return { hit, errors };
}
