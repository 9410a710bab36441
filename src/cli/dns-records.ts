// `yubin dns-records DOMAIN`: every DNS record the domain needs (MX, SPF, DKIM per selector,
// DMARC, MTA-STS, TLS-RPT, autoconfig/autodiscover, RFC 6186 SRV) in zone-file form, each
// checked against the configured DNS ([dns] servers): ok, MISSING or WRONG.
import type { Command } from 'commander';
import { action, configOf, parseDomain, say, UsageError, withStore } from './common.js';
import { createResolver } from '../dns/resolver.js';
import { listDomainKeys } from '../checks/dkim-keys.js';
import { dnsRecords, formatDnsRecords } from '../checks/dns-records.js';

export function register(program: Command): void {
  program
    .command('dns-records <domain>')
    .description('print the DNS records a local domain needs and whether DNS has them')
    .option('--check', 'exit with status 3 when a record is missing or wrong')
    .action(
      action(async (name: string, opts: { check?: boolean }, cmd: Command) => {
        const config = configOf(cmd);
        const domain = parseDomain(name);
        const local = await withStore(config, (store) => store.isLocalDomain(domain));
        if (!local) throw new UsageError(`${domain} is not a local domain (add it with "yubin domain add ${domain}")`);
        const keys = listDomainKeys(config.data_dir, domain);
        const resolver = createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeout, tries: 1 });
        const checks = await dnsRecords({ config, domain, keys, resolver });
        process.stdout.write(formatDnsRecords(domain, config.hostname, checks));
        if (!keys.length) say(`; ${domain} has no DKIM keys: create them with "yubin dkim generate ${domain}"`);
        if (opts.check && checks.some((c) => c.status !== 'ok')) process.exitCode = 3;
      }),
    );
}
