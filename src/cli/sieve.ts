// `yubin sieve ...`: Sieve scripts. `check` and `test` work on files and need no server or
// config; the script-store commands (list/get/put/...) register on the same group.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { action, say, UsageError } from './common.js';
import { registerSieveScriptCommands } from './sieve-scripts.js';
import { compileSieve, formatAction, runSieve, type SieveEnv, type SieveError } from '../sieve/index.js';
import { parseAddresses, mailboxesOf } from '../message/address.js';
import { parseHeaderFields, headerBytesToString } from '../message/headers.js';
import { parseMessage } from '../message/parser.js';

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function formatErrors(errors: SieveError[]): string {
  return errors.map((e) => `${e.line}:${e.column}: ${e.message}`).join('\n');
}

/** The first address of a header field of the message, or null. */
function firstAddress(raw: Buffer, field: string): string | null {
  const s = parseMessage(raw);
  const fields = parseHeaderFields(headerBytesToString(raw.subarray(0, s.root.bodyStart)).text);
  const f = fields.find((x) => x.key === field);
  if (!f) return null;
  const r = parseAddresses(f.value);
  if (!r.ok) return null;
  const m = mailboxesOf(r.addresses)[0];
  return m ? `${m.local}@${m.domain}` : null;
}

/** `sieve check` and `sieve test`. */
export function registerSieveFileCommands(sieve: Command): void {
  sieve
    .command('check')
    .description('check a Sieve script: "ok", or line:column: message for each error (exit 1)')
    .argument('<file>', 'the script')
    .action(
      action(async (file: string) => {
        const c = compileSieve(readText(file, 'script'), { name: file });
        if (!c.ok) {
          process.stderr.write(formatErrors(c.errors) + '\n');
          process.exit(1);
        }
        say('ok');
      }),
    );

  sieve
    .command('test')
    .description('run a Sieve script on a message and print the actions, one per line (docs/sieve.md)')
    .argument('<file>', 'the script')
    .argument('<message>', 'the message (.eml)')
    .option('--from <addr>', 'envelope sender (default: Return-Path, else From of the message)')
    .option('--to <addr>', 'envelope recipient, the user the script runs for (default: the first To of the message)')
    .option('--mailbox <name...>', 'mailboxes that exist for mailboxexists (INBOX always does)')
    .action(
      action(async (file: string, message: string, opts: { from?: string; to?: string; mailbox?: string[] }) => {
        const c = compileSieve(readText(file, 'script'), { name: file });
        if (!c.ok) {
          process.stderr.write(formatErrors(c.errors) + '\n');
          process.exit(1);
        }
        let raw: Buffer;
        try {
          raw = readFileSync(message);
        } catch (err) {
          throw new UsageError(`cannot read message ${message}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        const from = opts.from ?? firstAddress(raw, 'return-path') ?? firstAddress(raw, 'from') ?? '';
        const to = opts.to ?? firstAddress(raw, 'to') ?? 'user@localhost';
        const mailboxes = new Set(['inbox', ...(opts.mailbox ?? []).map((m) => m.toLowerCase())]);
        const dir = dirname(file);
        const env: SieveEnv = {
          user: to,
          userAddresses: [],
          spam: null,
          virus: null,
          separator: '+',
          mailboxExists: async (name) => mailboxes.has(name.toLowerCase()),
          // Included scripts: NAME.sieve (or NAME) beside the script; global ones in ./global/.
          loadInclude: async (name, location) => {
            const base = location === 'global' ? join(dir, 'global') : dir;
            for (const p of [join(base, `${name}.sieve`), join(base, name)]) if (existsSync(p)) return readFileSync(p, 'utf8');
            return null;
          },
          duplicate: async () => false,
          environment: { host: hostname(), domain: to.slice(to.lastIndexOf('@') + 1) },
          now: new Date(),
        };
        const r = await runSieve(c.script, { raw, envelope: { from, to } }, env);
        for (const e of r.errors) process.stderr.write(`error: ${e}\n`);
        for (const a of r.actions) say(formatAction(a));
        if (r.errors.length) process.exit(1);
      }),
    );
}

/** Registers the `sieve` command group; returns it so further subcommands can be added. */
export function register(program: Command): Command {
  const sieve = program.command('sieve').description('Sieve mail filtering scripts: check, test');
  registerSieveFileCommands(sieve);
  registerSieveScriptCommands(sieve);
  return sieve;
}
