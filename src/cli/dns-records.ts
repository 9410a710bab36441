// `yubin dns-records DOMAIN`: every DNS record the domain needs (MX, SPF, DKIM per selector,
// DMARC, MTA-STS, TLS-RPT, autoconfig/autodiscover, RFC 6186 SRV) in zone-file form, each
// checked against the configured DNS ([dns] servers): ok, MISSING or WRONG (src/admin/dns-records.ts,
// shared with the admin API).
import type { Command } from 'commander';
import { action, configOf, say, withStore } from './common.js';
import { formatDnsRecords } from '../checks/dns-records.js';
import { checkDnsRecords } from '../admin/dns-records.js';

export function register(program: Command): void {
  program
    .command('dns-records <domain>')
    .description('print the DNS records a local domain needs and whether DNS has them')
    .option('--check', 'exit with status 3 when a record is missing or wrong')
    .action(
      action(async (name: string, opts: { check?: boolean }, cmd: Command) => {
        const config = configOf(cmd);
        const { domain, records, dkimKeys } = await withStore(config, (store) => checkDnsRecords(config, store, { domain: name }));
        process.stdout.write(formatDnsRecords(domain, config.hostname, records));
        if (!dkimKeys) say(`; ${domain} has no DKIM keys: create them with "yubin dkim generate ${domain}"`);
        if (opts.check && records.some((c) => c.status !== 'ok')) process.exitCode = 3;
      }),
    );
}
