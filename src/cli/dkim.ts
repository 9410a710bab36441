// `yubin dkim generate|rotate|list|retire DOMAIN`: the DKIM keys of a local domain, kept in
// data_dir/dkim/<domain>/ with mode 0600 (src/checks/dkim-keys.ts). Each prints the DNS records
// to publish; `yubin dns-records DOMAIN` shows whether they are published.
import type { Command } from 'commander';
import { action, configOf, parseDomain, say, UsageError, withStore } from './common.js';
import { domainAddedHooks } from './admin.js';
import type { Config } from '../config/schema.js';
import { dkimRecord, ensureDomainKeys, generateDomainKeys, listDomainKeys, retireDomainKey, rotateDomainKeys, type DkimKeyInfo } from '../checks/dkim-keys.js';
import { txtValue } from '../checks/dns-records.js';

async function requireLocal(config: Config, domain: string): Promise<void> {
  const local = await withStore(config, (store) => store.isLocalDomain(domain));
  if (!local) throw new UsageError(`${domain} is not a local domain (add it with "yubin domain add ${domain}")`);
}

function printKeys(keys: DkimKeyInfo[]): void {
  for (const k of keys) {
    say(`${k.selector}._domainkey.${k.domain}.  IN TXT  ${txtValue(dkimRecord(k))}  ; ${k.algorithm}, created ${k.created.toISOString().slice(0, 10)}`);
  }
}

export function register(program: Command): void {
  // Every new local domain gets its keys at once (`yubin domain add`).
  domainAddedHooks.push(async (config, domain) => {
    const keys = ensureDomainKeys(config.data_dir, domain);
    return `DKIM selectors ${keys.map((k) => k.selector).join(', ')} (publish with: yubin dns-records ${domain})`;
  });

  const dkim = program.command('dkim').description('DKIM signing keys of the local domains');
  dkim
    .command('generate <domain>')
    .description('create the first RSA-2048 and Ed25519 keys of a local domain')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const d = parseDomain(name);
        await requireLocal(config, d);
        const keys = generateDomainKeys(config.data_dir, d);
        say(`DKIM keys for ${d} created; publish these records:`);
        printKeys(keys);
      }),
    );
  dkim
    .command('rotate <domain>')
    .description('add new RSA and Ed25519 selectors; the old ones keep signing until the new records are published')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const d = parseDomain(name);
        await requireLocal(config, d);
        const keys = rotateDomainKeys(config.data_dir, d);
        say(`new DKIM selectors for ${d}; publish these records (signing switches to them once DNS has them):`);
        printKeys(keys);
      }),
    );
  dkim
    .command('list <domain>')
    .description('list the selectors of a domain and their DNS records')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const d = parseDomain(name);
        const keys = listDomainKeys(config.data_dir, d);
        if (!keys.length) throw new UsageError(`${d} has no DKIM keys (create them with "yubin dkim generate ${d}")`);
        printKeys(keys);
      }),
    );
  dkim
    .command('retire <domain> <selector>')
    .description('delete an old selector after rotation (withdraw its DNS record later)')
    .action(
      action(async (name: string, selector: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const d = parseDomain(name);
        retireDomainKey(config.data_dir, d, selector);
        say(`DKIM selector ${selector.toLowerCase()} of ${d} retired`);
      }),
    );
}
