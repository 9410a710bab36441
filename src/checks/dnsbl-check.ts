// The DNSBL check (connect stage); the lookups are in dnsbl.ts.
import type { Check } from './types.js';
import { inNetworks, type Cidr } from './ip.js';
import { checkDnsbls } from './dnsbl.js';
import { ACCEPT, type CheckDeps } from './deps.js';

/** DNSBL at connect: 554 5.7.1 naming the list. */
export function dnsblCheck(deps: CheckDeps, trusted: Cidr[]): Check {
  const zones = deps.config.checks.dnsbl_zones;
  return {
    name: 'dnsbl',
    async connect(c) {
      if (!zones.length || c.listener !== 'smtp' || inNetworks(trusted, c.ip)) return ACCEPT;
      const { hit, errors } = await checkDnsbls(deps.resolver, zones, c.ip);
      for (const e of errors) deps.logger.warn({ ip: c.ip, err: e }, 'dnsbl lookup failed');
      if (!hit) return ACCEPT;
      deps.logger.info({ ip: c.ip, zone: hit.zone, codes: hit.codes }, 'client listed in DNSBL');
      // RFC 5782 §2.1: the reason (TXT) is for the rejected client, so it is quoted back.
      const why = hit.reason ? `: ${hit.reason.replace(/[\r\n]+/g, ' ').slice(0, 200)}` : '';
      return { action: 'reject', reply: { code: 554, enhanced: '5.7.1', text: `Service unavailable; client [${c.ip}] blocked using ${hit.zone}${why}` } };
    },
  };
}
