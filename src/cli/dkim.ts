// `yubin dkim generate|rotate|list|retire DOMAIN`: the DKIM keys of a local domain, kept in
// data_dir/dkim/<domain>/ with mode 0600 (src/checks/dkim-keys.ts), or with the PostgreSQL store
// in the shared database (src/checks/dkim-key-store.ts). Each prints the DNS records
// to publish; `yubin dns-records DOMAIN` shows whether they are published. The operations are
// src/admin/dkim.ts, shared with the admin API.
import type { Command } from 'commander';
import { action, configOf, say, UsageError, withStore } from './common.js';
import { txtValue } from '../checks/dns-records.js';
import { generateDkimKeys, listDkimKeys, retireDkimKey, rotateDkimKeys, type DkimKeyView } from '../admin/dkim.js';

function printKeys(keys: DkimKeyView[]): void {
  for (const k of keys) say(`${k.name}  IN TXT  ${txtValue(k.record)}  ; ${k.algorithm}, created ${k.created.slice(0, 10)}`);
}

export function register(program: Command): void {
  const dkim = program.command('dkim').description('DKIM signing keys of the local domains');
  dkim
    .command('generate <domain>')
    .description('create the first RSA-2048 and Ed25519 keys of a local domain')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const keys = await withStore(config, (store) => generateDkimKeys(config, store, { domain: name }));
        say(`DKIM keys for ${keys[0]!.domain} created; publish these records:`);
        printKeys(keys);
      }),
    );
  dkim
    .command('rotate <domain>')
    .description('add new RSA and Ed25519 selectors; the old ones keep signing until the new records are published')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const keys = await withStore(config, (store) => rotateDkimKeys(config, store, { domain: name }));
        say(`new DKIM selectors for ${keys[0]!.domain}; publish these records (signing switches to them once DNS has them):`);
        printKeys(keys);
      }),
    );
  dkim
    .command('list <domain>')
    .description('list the selectors of a domain and their DNS records')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const keys = await withStore(config, (store) => listDkimKeys(config, store, { domain: name }));
        if (!keys.length) {
          const d = name.trim().toLowerCase().replace(/\.$/, '');
          throw new UsageError(`${d} has no DKIM keys (create them with "yubin dkim generate ${d}")`);
        }
        printKeys(keys);
      }),
    );
  dkim
    .command('retire <domain> <selector>')
    .description('delete an old selector after rotation (withdraw its DNS record later)')
    .action(
      action(async (name: string, selector: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const r = await withStore(config, (store) => retireDkimKey(config, store, { domain: name, selector }));
        say(`DKIM selector ${r.selector} of ${r.domain} retired`);
      }),
    );
}
