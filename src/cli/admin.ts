// `yubin domain|user|alias ...`: administration of the store. Each command prints one clear
// result, or one line on stderr and a non-zero exit with nothing half done. They work while
// the server runs: the server reads accounts, aliases and domains from the store on every use.
import type { Command } from 'commander';
import { action, configOf, formatBytes, parseAddress, parseDomain, say, UsageError, withStore } from './common.js';
import { parseSize } from '../config/schema.js';
import { hashPassword } from '../auth/passwords.js';
import type { Config } from '../config/schema.js';
import { describeRoleMailboxes } from '../store/recipients.js';

/** Hook run after a domain is added (DKIM keys); set by the checks module's registration. */
export const domainAddedHooks: Array<(config: Config, domain: string) => Promise<string | void>> = [];

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
  if (pw.length < 1) throw new UsageError('the password is empty');
  if (/[\x00\r\n]/.test(pw)) throw new UsageError('the password must not contain NUL, CR or LF');
  return pw;
}

function parseQuota(input: string): number {
  const n = /^\d+$/.test(input) ? Number(input) : parseSize(input);
  if (n === null || !Number.isSafeInteger(n)) throw new UsageError(`malformed size: ${JSON.stringify(input)} (bytes, or like 500K, 10M, 2G; 0 = unlimited)`);
  return n;
}

function aliasAddress(input: string): string {
  const a = input.trim().toLowerCase();
  // A catch-all alias is "@domain": every address of the domain without its own account or alias.
  if (a.startsWith('@')) return '@' + parseDomain(a.slice(1));
  return parseAddress(a, 'alias address');
}

export function register(program: Command): void {
  const domain = program.command('domain').description('manage the domains this server receives mail for');
  domain
    .command('add <domain>')
    .description('add a local domain')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const d = parseDomain(name);
        const roles = await withStore(config, async (store) => {
          await store.addDomain(d);
          return describeRoleMailboxes(store, d);
        });
        const notes: string[] = [];
        for (const hook of domainAddedHooks) {
          const note = await hook(config, d);
          if (note) notes.push(note);
        }
        say(`domain ${d} added${notes.length ? '; ' + notes.join('; ') : ''}`);
        // RFC 5321 §4.5.1, RFC 2142 §4: where postmaster@ and abuse@ of the domain go (store/recipients.ts).
        say(roles);
      }),
    );
  domain
    .command('list')
    .description('list local domains')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const domains = await withStore(configOf(cmd), (store) => store.listDomains());
        for (const d of domains) say(d.name);
      }),
    );
  domain
    .command('remove <domain>')
    .description('remove a local domain (it must have no users or aliases left)')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const d = parseDomain(name);
        await withStore(configOf(cmd), (store) => store.removeDomain(d));
        say(`domain ${d} removed`);
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
        const a = parseAddress(address);
        const quota = parseQuota(opts.quota);
        const pw = await passwordFrom(opts);
        const hash = await hashPassword(pw);
        const roles = await withStore(configOf(cmd), async (store) => {
          const acct = await store.addAccount(a, hash, quota);
          return describeRoleMailboxes(store, acct.domain);
        });
        say(`user ${a} added${quota ? ` (quota ${formatBytes(quota)})` : ''}`);
        say(roles);
      }),
    );
  user
    .command('passwd <address>')
    .description("change an account's password")
    .option('--password <pw>', 'the new password')
    .option('--password-stdin', 'read the new password from the first line of standard input')
    .action(
      action(async (address: string, opts: { password?: string; passwordStdin?: boolean }, cmd: Command) => {
        const a = parseAddress(address);
        const pw = await passwordFrom(opts);
        const hash = await hashPassword(pw);
        await withStore(configOf(cmd), (store) => store.setPassword(a, hash));
        say(`password of ${a} changed`);
      }),
    );
  user
    .command('list [domain]')
    .description('list accounts, of one domain or all')
    .action(
      action(async (d: string | undefined, _o: unknown, cmd: Command) => {
        const accounts = await withStore(configOf(cmd), (store) => store.listAccounts(d ? parseDomain(d) : undefined));
        for (const a of accounts) say(`${a.address}\t${formatBytes(a.usage)} used\tquota ${a.quota ? formatBytes(a.quota) : 'unlimited'}`);
      }),
    );
  user
    .command('remove <address>')
    .description('remove an account with all its mailboxes and mail')
    .action(
      action(async (address: string, _o: unknown, cmd: Command) => {
        const a = parseAddress(address);
        await withStore(configOf(cmd), (store) => store.removeAccount(a));
        say(`user ${a} removed`);
      }),
    );
  user
    .command('show <address>')
    .description('show usage, quota and mailboxes of an account')
    .action(
      action(async (address: string, _o: unknown, cmd: Command) => {
        const a = parseAddress(address);
        await withStore(configOf(cmd), async (store) => {
          const acct = await store.getAccount(a);
          if (!acct) throw new UsageError(`no such user: ${a}`);
          say(`user:    ${acct.address}`);
          say(`usage:   ${acct.usage} bytes (${formatBytes(acct.usage)})`);
          say(`quota:   ${acct.quota ? `${acct.quota} bytes (${formatBytes(acct.quota)})` : 'unlimited'}`);
          say(`created: ${acct.createdAt.toISOString()}`);
          say('mailboxes:');
          for (const mb of await store.listMailboxes(acct.id)) {
            const st = await store.mailboxStatus(mb.id);
            say(`  ${mb.name}${mb.specialUse ? ` (${mb.specialUse})` : ''}: ${st.messages} messages, ${st.unseen} unseen, ${formatBytes(st.size)}`);
          }
        });
      }),
    );
  user
    .command('quota <address> <size>')
    .description('set the quota: bytes, or like 500K, 10M, 2G; 0 = unlimited')
    .action(
      action(async (address: string, size: string, _o: unknown, cmd: Command) => {
        const a = parseAddress(address);
        const q = parseQuota(size);
        await withStore(configOf(cmd), (store) => store.setQuota(a, q));
        say(`quota of ${a} set to ${q ? `${q} bytes (${formatBytes(q)})` : 'unlimited'}`);
      }),
    );

  user
    .command('spam-threshold <address> [score]')
    .description('show, set, or with "default" clear the spam score at or above which mail goes to the user\'s Junk')
    .action(
      action(async (address: string, score: string | undefined, _o: unknown, cmd: Command) => {
        const config = configOf(cmd);
        const a = parseAddress(address);
        const exists = await withStore(config, (store) => store.getAccount(a));
        if (!exists) throw new UsageError(`no such user: ${a}`);
        const { openSpamPrefs } = await import('../checks/index.js');
        const { closeChecksDbs } = await import('../checks/db.js');
        const prefs = openSpamPrefs(config.data_dir);
        try {
          if (score === undefined) {
            const own = prefs.getThreshold(a) ?? config.checks.user_spam_thresholds[a] ?? null;
            say(`spam threshold of ${a}: ${own ?? `${config.checks.spam_threshold} (server default)`}`);
          } else if (score === 'default') {
            prefs.setThreshold(a, null);
            say(`spam threshold of ${a} reset to the server default (${config.checks.spam_threshold})`);
          } else {
            const n = Number(score);
            if (!/^-?\d+(\.\d+)?$/.test(score) || !Number.isFinite(n)) throw new UsageError(`malformed score: ${JSON.stringify(score)} (a number like 5 or 3.5, or "default")`);
            prefs.setThreshold(a, n);
            say(`spam threshold of ${a} set to ${n}`);
          }
        } finally {
          closeChecksDbs();
        }
      }),
    );

  const alias = program.command('alias').description('manage aliases (forwarding addresses, catch-all @domain)');
  alias
    .command('add <alias> <targets...>')
    .description('add an alias delivering to one or more local or remote addresses; "@domain" is a catch-all')
    .action(
      action(async (address: string, targets: string[], _o: unknown, cmd: Command) => {
        const a = aliasAddress(address);
        const t = targets.map((x) => parseAddress(x, 'target address'));
        await withStore(configOf(cmd), (store) => store.addAlias(a, t));
        say(`alias ${a} -> ${t.join(', ')} added`);
      }),
    );
  alias
    .command('list [domain]')
    .description('list aliases')
    .action(
      action(async (d: string | undefined, _o: unknown, cmd: Command) => {
        const aliases = await withStore(configOf(cmd), (store) => store.listAliases(d ? parseDomain(d) : undefined));
        for (const a of aliases) say(`${a.address} -> ${a.targets.join(', ')}`);
      }),
    );
  alias
    .command('remove <alias>')
    .description('remove an alias')
    .action(
      action(async (address: string, _o: unknown, cmd: Command) => {
        const a = aliasAddress(address);
        await withStore(configOf(cmd), (store) => store.removeAlias(a));
        say(`alias ${a} removed`);
      }),
    );
}
