// `yubin domain|user|alias ...`: administration of the store. Each command prints one clear
// result, or one line on stderr and a non-zero exit with nothing half done. They work while
// the server runs: the server reads accounts, aliases and domains from the store on every use.
import type { Command } from 'commander';
import { action, configOf, formatBytes, parseAddress, say, UsageError, withStore } from './common.js';
import { addDomain, listDomains, removeDomain } from '../admin/domains.js';
import { createUser, listUsers, removeUser, setUserPassword, setUserQuota, showUser } from '../admin/users.js';
import { addAlias, listAliases, removeAlias } from '../admin/aliases.js';
import { ValidationError } from '../admin/errors.js';

async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if (Buffer.concat(chunks).length > 4096) throw new UsageError('password on stdin is longer than 4096 bytes');
  }
  // The first line is the password; a trailing newline (from echo or a file) is not part of it.
  const text = Buffer.concat(chunks).toString('utf8');
  return text.split(/\r?\n/)[0] ?? '';
}

async function passwordFrom(opts: { password?: string; passwordStdin?: boolean }): Promise<string> {
  if (opts.password !== undefined && opts.passwordStdin) throw new UsageError('give either --password or --password-stdin, not both');
  const pw = opts.passwordStdin ? await readPasswordFromStdin() : opts.password;
  if (pw === undefined) throw new UsageError('a password is required: --password PW or --password-stdin');
  // Its content (not empty, no NUL/CR/LF) is checked with the other fields (src/admin/fields.ts).
  return pw;
}

/** The password of `user add`/`passwd`: read only when a flag gives one, so a bad address is reported first, as always. */
async function passwordOrNone(opts: { password?: string; passwordStdin?: boolean }): Promise<string | undefined> {
  return opts.password === undefined && !opts.passwordStdin ? undefined : passwordFrom(opts);
}

/** Runs an operation whose input has a password; a missing one is reported with the flags that give it. */
async function withPassword<T>(pw: string | undefined, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (pw === undefined && err instanceof ValidationError && err.field === 'password') throw new UsageError('a password is required: --password PW or --password-stdin');
    throw err;
  }
}

export function register(program: Command): void {
  const domain = program.command('domain').description('manage the domains this server receives mail for');
  domain
    .command('add <domain>')
    .description('add a local domain')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const r = await withStore(config, (store) => addDomain(config, store, { domain: name }));
        say(`domain ${r.domain} added; DKIM selectors ${r.dkimSelectors.join(', ')} (publish with: yubin dns-records ${r.domain})`);
        // RFC 5321 §4.5.1, RFC 2142 §4: where postmaster@ and abuse@ of the domain go (store/recipients.ts).
        say(r.roleMailboxes);
      }),
    );
  domain
    .command('list')
    .description('list local domains')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const domains = await withStore(configOf(cmd), (store) => listDomains(store));
        for (const d of domains) say(d.name);
      }),
    );
  domain
    .command('remove <domain>')
    .description('remove a local domain (it must have no users or aliases left)')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const r = await withStore(configOf(cmd), (store) => removeDomain(store, { domain: name }));
        say(`domain ${r.domain} removed`);
      }),
    );

  const user = program.command('user').description('manage mail accounts');
  user
    .command('add <address>')
    .description('add an account (its domain must exist)')
    .option('--password <pw>', 'the password (visible to other local users in the process list; prefer --password-stdin)')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .option('--quota <size>', 'quota in bytes or like 500M, 2G (0 = unlimited)', '0')
    .action(
      action(async (address: string, opts: { password?: string; passwordStdin?: boolean; quota: string }, cmd: Command) => {
        const pw = await passwordOrNone(opts);
        const r = await withPassword(pw, () => withStore(configOf(cmd), (store) => createUser(store, { address, password: pw!, quota: opts.quota })));
        say(`user ${r.address} added${r.quota ? ` (quota ${formatBytes(r.quota)})` : ''}`);
        say(r.roleMailboxes);
      }),
    );
  user
    .command('passwd <address>')
    .description("change an account's password")
    .option('--password <pw>', 'the new password')
    .option('--password-stdin', 'read the new password from the first line of standard input')
    .action(
      action(async (address: string, opts: { password?: string; passwordStdin?: boolean }, cmd: Command) => {
        const pw = await passwordOrNone(opts);
        const r = await withPassword(pw, () => withStore(configOf(cmd), (store) => setUserPassword(store, { address, password: pw! })));
        say(`password of ${r.address} changed`);
      }),
    );
  user
    .command('list [domain]')
    .description('list accounts, of one domain or all')
    .action(
      action(async (d: string | undefined, _o: unknown, cmd: Command) => {
        const accounts = await withStore(configOf(cmd), (store) => listUsers(store, { domain: d }));
        for (const a of accounts) say(`${a.address}\t${formatBytes(a.usage)} used\tquota ${a.quota ? formatBytes(a.quota) : 'unlimited'}`);
      }),
    );
  user
    .command('remove <address>')
    .description('remove an account with all its mailboxes and mail')
    .action(
      action(async (address: string, _o: unknown, cmd: Command) => {
        const r = await withStore(configOf(cmd), (store) => removeUser(store, { address }));
        say(`user ${r.address} removed`);
      }),
    );
  user
    .command('show <address>')
    .description('show usage, quota and mailboxes of an account')
    .action(
      action(async (address: string, _o: unknown, cmd: Command) => {
        const u = await withStore(configOf(cmd), (store) => showUser(store, { address }));
        say(`user:    ${u.address}`);
        say(`usage:   ${u.usage} bytes (${formatBytes(u.usage)})`);
        say(`quota:   ${u.quota ? `${u.quota} bytes (${formatBytes(u.quota)})` : 'unlimited'}`);
        say(`created: ${u.createdAt}`);
        say('mailboxes:');
        for (const mb of u.mailboxes) say(`  ${mb.name}${mb.specialUse ? ` (${mb.specialUse})` : ''}: ${mb.messages} messages, ${mb.unseen} unseen, ${formatBytes(mb.size)}`);
      }),
    );
  user
    .command('quota <address> <size>')
    .description('set the quota: bytes, or like 500K, 10M, 2G; 0 = unlimited')
    .action(
      action(async (address: string, size: string, _o: unknown, cmd: Command) => {
        const r = await withStore(configOf(cmd), (store) => setUserQuota(store, { address, quota: size }));
        say(`quota of ${r.address} set to ${r.quota ? `${r.quota} bytes (${formatBytes(r.quota)})` : 'unlimited'}`);
      }),
    );

  user
    .command('spam-threshold <address> [score]')
    .description('show, set, or with "default" clear the spam score at or above which mail goes to the user\'s Junk')
    .action(
      action(async (address: string, score: string | undefined, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const a = parseAddress(address);
        const { spamPrefsFor } = await import('../checks/storage.js');
        const { closeChecksDbs } = await import('../checks/db.js');
        // checks.sqlite, or with PostgreSQL the shared database every node reads.
        await withStore(config, async (store) => {
          if (!(await store.getAccount(a))) throw new UsageError(`no such user: ${a}`);
          const prefs = spamPrefsFor(config.data_dir, store);
          try {
            if (score === undefined) {
              const own = (await prefs.getThreshold(a)) ?? config.checks.user_spam_thresholds[a] ?? null;
              say(`spam threshold of ${a}: ${own ?? `${config.checks.spam_threshold} (server default)`}`);
            } else if (score === 'default') {
              await prefs.setThreshold(a, null);
              say(`spam threshold of ${a} reset to the server default (${config.checks.spam_threshold})`);
            } else {
              const n = Number(score);
              if (!/^-?\d+(\.\d+)?$/.test(score) || !Number.isFinite(n)) throw new UsageError(`malformed score: ${JSON.stringify(score)} (a number like 5 or 3.5, or "default")`);
              await prefs.setThreshold(a, n);
              say(`spam threshold of ${a} set to ${n}`);
            }
          } finally {
            closeChecksDbs();
          }
        });
      }),
    );

  const alias = program.command('alias').description('manage aliases (forwarding addresses, catch-all @domain)');
  alias
    .command('add <alias> <targets...>')
    .description('add an alias delivering to one or more local or remote addresses; "@domain" is a catch-all')
    .action(
      action(async (address: string, targets: string[], _o: unknown, cmd: Command) => {
        const r = await withStore(configOf(cmd), (store) => addAlias(store, { address, targets }));
        say(`alias ${r.address} -> ${r.targets.join(', ')} added`);
      }),
    );
  alias
    .command('list [domain]')
    .description('list aliases')
    .action(
      action(async (d: string | undefined, _o: unknown, cmd: Command) => {
        const aliases = await withStore(configOf(cmd), (store) => listAliases(store, { domain: d }));
        for (const a of aliases) say(`${a.address} -> ${a.targets.join(', ')}`);
      }),
    );
  alias
    .command('remove <alias>')
    .description('remove an alias')
    .action(
      action(async (address: string, _o: unknown, cmd: Command) => {
        const r = await withStore(configOf(cmd), (store) => removeAlias(store, { address }));
        say(`alias ${r.address} removed`);
      }),
    );
}
