// `yubin sieve list|get|put|activate|deactivate|remove ADDRESS [NAME] [FILE]`: a user's Sieve
// scripts in the store, the same ones ManageSieve manages (docs/managesieve.md). A script is
// checked before it is stored, as PUTSCRIPT does; quotas are the [sieve] keys.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { compileSieve } from '../sieve/index.js';
import type { Account, Store } from '../store/types.js';
import { action, configOf, parseAddress, say, UsageError, withStore } from './common.js';

async function accountOf(store: Store, address: string): Promise<Account> {
  const addr = parseAddress(address);
  const acc = await store.getAccount(addr);
  if (!acc) throw new UsageError(`no account ${addr}`);
  return acc;
}

function readScript(file: string | undefined): string {
  try {
    return readFileSync(file ?? 0, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file ?? 'standard input'}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function registerSieveScriptCommands(sieve: Command): void {
  sieve
    .command('list')
    .description("list a user's scripts, the active one marked (active)")
    .argument('<address>')
    .action(
      action(async (address: string, _o: unknown, cmd: Command) => {
        await withStore(configOf(cmd), async (store) => {
          const acc = await accountOf(store, address);
          for (const s of await store.sieve.listScripts(acc.id)) say(`${s.name}${s.active ? ' (active)' : ''}`);
        });
      }),
    );

  sieve
    .command('get')
    .description("print one of a user's scripts")
    .argument('<address>')
    .argument('<name>')
    .action(
      action(async (address: string, name: string, _o: unknown, cmd: Command) => {
        await withStore(configOf(cmd), async (store) => {
          const s = await store.sieve.getScript((await accountOf(store, address)).id, name);
          if (!s) throw new UsageError(`${address} has no script named "${name}"`);
          process.stdout.write(s.text);
        });
      }),
    );

  sieve
    .command('put')
    .description('check and store a script (from FILE, or standard input); an existing one of that name is replaced')
    .argument('<address>')
    .argument('<name>')
    .argument('[file]')
    .option('--activate', 'also make it the active script')
    .action(
      action(async (address: string, name: string, file: string | undefined, opts: { activate?: boolean }, cmd: Command) => {
        const config = configOf(cmd);
        const text = readScript(file);
        const c = compileSieve(text, { name, limits: { maxScriptBytes: config.sieve.max_script_size, maxRedirects: config.sieve.max_redirects } });
        if (!c.ok) throw new UsageError(`script not stored:\n${c.errors.map((e) => `${e.line}:${e.column}: ${e.message}`).join('\n')}`);
        await withStore(config, async (store) => {
          const acc = await accountOf(store, address);
          await store.sieve.putScript(acc.id, name, text, { maxScripts: config.sieve.max_scripts, maxBytes: config.sieve.max_script_size });
          if (opts.activate) await store.sieve.setActive(acc.id, name);
          say(`stored "${name}" for ${acc.address}${opts.activate ? ' (active)' : ''}`);
        });
      }),
    );

  sieve
    .command('activate')
    .description('make a script the active one (the only one that runs at delivery)')
    .argument('<address>')
    .argument('<name>')
    .action(
      action(async (address: string, name: string, _o: unknown, cmd: Command) => {
        await withStore(configOf(cmd), async (store) => {
          const acc = await accountOf(store, address);
          await store.sieve.setActive(acc.id, name);
          say(`"${name}" is active for ${acc.address}`);
        });
      }),
    );

  sieve
    .command('deactivate')
    .description("no script runs for the user (the scripts are kept)")
    .argument('<address>')
    .action(
      action(async (address: string, _o: unknown, cmd: Command) => {
        await withStore(configOf(cmd), async (store) => {
          const acc = await accountOf(store, address);
          await store.sieve.setActive(acc.id, null);
          say(`no active script for ${acc.address}`);
        });
      }),
    );

  sieve
    .command('remove')
    .description('delete a script (not the active one: deactivate it first)')
    .argument('<address>')
    .argument('<name>')
    .action(
      action(async (address: string, name: string, _o: unknown, cmd: Command) => {
        await withStore(configOf(cmd), async (store) => {
          const acc = await accountOf(store, address);
          await store.sieve.deleteScript(acc.id, name);
          say(`removed "${name}" of ${acc.address}`);
        });
      }),
    );
}
