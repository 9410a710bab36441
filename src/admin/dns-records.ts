// The DNS records a local domain needs, each checked against the configured DNS: ok, MISSING,
// WRONG (or UNKNOWN when DNS did not answer). Used by `yubin dns-records` and
// /api/v1/domains/{domain}/dns-records (src/checks/dns-records.ts does the work).
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { Store } from '../store/types.js';
import { createResolver, type Resolver } from '../dns/resolver.js';
import { dkimKeyStore } from '../checks/dkim-key-store.js';
import { dnsRecords, type DnsRecordCheck } from '../checks/dns-records.js';
import { validate } from './errors.js';
import { domainField } from './fields.js';
import { requireLocalDomain } from './dkim.js';

export const DnsRecordsInput = z.strictObject({ domain: domainField });

export interface DnsRecordsResult {
  domain: string;
  hostname: string;
  /** False when the domain has no DKIM keys yet (no DKIM records are listed then). */
  dkimKeys: boolean;
  records: DnsRecordCheck[];
}

/** ok, MISSING, WRONG, UNKNOWN: the status as `yubin dns-records` prints it. */
export function statusWord(s: DnsRecordCheck['status']): string {
  return s === 'ok' ? 'ok' : s.toUpperCase();
}

export async function checkDnsRecords(config: Config, store: Store, input: z.input<typeof DnsRecordsInput>, resolver?: Resolver): Promise<DnsRecordsResult> {
  const { domain } = validate(DnsRecordsInput, input);
  await requireLocalDomain(store, domain);
  const keys = await dkimKeyStore(config.data_dir, store).list(domain);
  const dns = resolver ?? createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeout, tries: 1 });
  const records = await dnsRecords({ config, domain, keys, resolver: dns });
  return { domain, hostname: config.hostname, dkimKeys: keys.length > 0, records };
}
