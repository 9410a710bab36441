// Helpers for the Sieve tests: an environment, a message, and "compile, run, format".
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, chmodSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { compileSieve, formatAction, runSieve, type SieveAction, type SieveEnv, type SieveLimits, type SieveResult } from '../../src/sieve/index.js';

export const MSG = [
  'Return-Path: <coyote@desert.example.org>',
  'Date: Tue, 1 Apr 2025 10:00:00 +0200',
  'From: Wile E. Coyote <coyote@desert.example.org>',
  'Sender: owner-ietf-mta-filters@imc.org',
  'To: Ken <ken+sieve@example.org>, me@example.com',
  'Subject: I have a present for you',
  'Message-ID: <present@desert.example.org>',
  'X-Caffeine: C8H10N4O2',
  '',
  'Look, I\'m sorry about the whole anvil thing, and I really',
  'didn\'t mean to try and drop it on you from the top of the',
  'cliff.  I want to try to make it up to you.',
  '',
].join('\r\n');

export function testEnv(over: Partial<SieveEnv> = {}): SieveEnv {
  return {
    user: 'ken@example.org',
    userAddresses: [],
    spam: null,
    virus: null,
    separator: '+',
    mailboxExists: async (name) => ['inbox', 'lists', 'work'].includes(name.toLowerCase()),
    loadInclude: async () => null,
    duplicate: async () => false,
    environment: { domain: 'example.org', host: 'mx.example.org' },
    now: new Date('2025-04-01T12:00:00Z'),
    ...over,
  };
}

export interface RunOpts {
  msg?: string | Buffer;
  from?: string;
  to?: string;
  env?: Partial<SieveEnv>;
  limits?: Partial<SieveLimits>;
}

export async function run(script: string, o: RunOpts = {}): Promise<SieveResult> {
  const c = compileSieve(script, { limits: o.limits });
  if (!c.ok) assert.fail(`compile failed: ${c.errors.map((e) => `${e.line}:${e.column}: ${e.message}`).join('; ')}`);
  const raw = Buffer.isBuffer(o.msg) ? o.msg : Buffer.from(o.msg ?? MSG);
  return runSieve(c.script, { raw, envelope: { from: o.from ?? 'coyote@desert.example.org', to: o.to ?? 'ken+sieve@example.org' } }, testEnv(o.env), { limits: o.limits });
}

/** The formatted actions of a run that must have no errors. */
export async function actions(script: string, o: RunOpts = {}): Promise<string[]> {
  const r = await run(script, o);
  assert.deepEqual(r.errors, [], 'run-time errors');
  return r.actions.map(formatAction);
}

export function compileErrors(script: string, limits?: Partial<SieveLimits>): string[] {
  const c = compileSieve(script, { limits });
  return c.ok ? [] : c.errors.map((e) => `${e.line}:${e.column}: ${e.message}`);
}

// Comparison with Pigeonhole's sieve-test (used by pigeonhole.test.ts and rfc-examples.test.ts).
export const SIEVE_TEST = ['/usr/bin/sieve-test', '/usr/local/bin/sieve-test'].find((p) => existsSync(p));

/** One normalised action: "store MAILBOX [flags]", "redirect ADDR", "reject", "vacation SUBJECT". */
function pigeonholeForm(a: SieveAction): string | null {
  const flags = (f: string[] | null): string => (f && f.length ? ' ' + f.map((x) => x.toLowerCase()).sort().join(' ') : '');
  switch (a.type) {
    case 'keep': return `store INBOX${flags(a.flags)}`;
    case 'fileinto': return `store ${a.mailbox}${flags(a.flags)}`;
    case 'redirect': return `redirect ${a.address}`;
    case 'reject': return `reject ${a.reason.replace(/\r\n$/, '')}`;
    case 'vacation': return `vacation ${a.subject}`;
    case 'discard': return null;
  }
}

/** Pigeonhole's "Performed actions" and "Implicit keep" sections, normalised like pigeonholeForm(). */
export function pigeonholeActions(out: string): string[] {
  const lines = out.split('\n');
  const result: string[] = [];
  let cur: string | null = null;
  const flush = (): void => {
    if (cur !== null) result.push(cur);
    cur = null;
  };
  let inResult = false;
  for (const l of lines) {
    if (/^(Performed actions|Implicit keep):/.test(l)) { flush(); inResult = true; continue; }
    if (!inResult) continue;
    let m: RegExpExecArray | null;
    if ((m = /^ \* store message in folder: (.*)$/.exec(l))) { flush(); cur = `store ${m[1]}`; continue; }
    if ((m = /^ \* redirect message to: <?([^>]*)>?$/.exec(l))) { flush(); cur = `redirect ${m[1]}`; continue; }
    if ((m = /^ \* reject message with reason: (.*)$/.exec(l))) { flush(); cur = `reject ${m[1]}`; continue; }
    if (/^ \* send vacation message:/.test(l)) { flush(); cur = 'vacation'; continue; }
    if ((m = /^\s+=> subject\s*: (.*)$/.exec(l)) && cur === 'vacation') { cur = `vacation ${m[1]}`; continue; }
    if ((m = /^\s+\+ add IMAP flags: (.*)$/.exec(l)) && cur?.startsWith('store ')) { cur += ' ' + m[1]!.toLowerCase().split(/\s+/).sort().join(' '); continue; }
    if (/^ \* discard/.test(l)) { flush(); continue; }
    if (/^sieve-test: /.test(l)) { flush(); inResult = false; }
  }
  flush();
  return result;
}

export interface PigeonholeCase {
  name: string;
  script: string;
  message: string;
  from?: string;
  to?: string;
  /** The mailboxes that exist besides INBOX; when absent, every mailbox exists for Yubin. */
  mailboxes?: string[];
  /**
   * The checks' spam score (Yubin's SieveEnv.spam, on the 0-10 scale the spamtest value is made
   * from). Pigeonhole reads the same score from the message's X-Spam-Score field (max 10), so the
   * message must carry it.
   */
  spamScore?: number;
  /** Personal scripts for include :personal, by name (Pigeonhole: NAME.sieve in its sieve dir). */
  personal?: Record<string, string>;
}

export const PIGEONHOLE_MISSING = 'sieve-test (Debian packages dovecot-sieve and dovecot-core) is not installed';

/** Runs each case through sieve-test and through Yubin, as a subtest of t; the actions must agree. */
export async function compareWithPigeonhole(t: TestContext, cases: PigeonholeCase[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-sieve-'));
  chmodSync(dir, 0o777);
  mkdirSync(join(dir, 'mail'), { mode: 0o777 });
  chmodSync(join(dir, 'mail'), 0o777);
  mkdirSync(join(dir, 'personal'), { mode: 0o777 });
  chmodSync(join(dir, 'personal'), 0o777);
  const root = process.getuid?.() === 0;
  // sieve-test refuses to run mail access as root: as root it drops to nobody.
  const uid = root ? 65534 : process.getuid!();
  const gid = root ? 65534 : process.getgid!();
  writeFileSync(join(dir, 'dovecot.conf'), [
    `mail_uid = ${uid}`, `mail_gid = ${gid}`, 'first_valid_uid = 1', 'first_valid_gid = 1',
    `base_dir = ${join(dir, 'run')}`, 'log_path = /dev/stderr', 'ssl = no', `mail_location = maildir:${join(dir, 'mail')}`,
    // An empty METADATA store, so that Pigeonhole's metadata tests find no annotation (as Yubin's do).
    `mail_attribute_dict = file:${join(dir, 'attributes')}`,
    'plugin {', '  sieve_extensions = +editheader +vacation-seconds +mboxmetadata +servermetadata +spamtest +spamtestplus +virustest',
    // spamtest from the score in X-Spam-Score (as Yubin's checks write it), 0-10.
    '  sieve_spamtest_status_type = score', '  sieve_spamtest_status_header = X-Spam-Score', '  sieve_spamtest_max_value = 10',
    // include :personal finds NAME.sieve here.
    `  sieve = file:${join(dir, 'personal')};active=${join(dir, 'active.sieve')}`, '}', '',
  ].join('\n'));
  try {
    for (const [i, c] of cases.entries()) {
      await t.test(c.name, async () => {
        const script = join(dir, `s${i}.sieve`);
        const message = join(dir, `m${i}.eml`);
        writeFileSync(script, c.script);
        writeFileSync(message, c.message);
        chmodSync(script, 0o644);
        chmodSync(message, 0o644);
        // Maildir++ folders for the case's mailboxes, removed again after it.
        const folders = (c.mailboxes ?? []).map((m) => join(dir, 'mail', `.${m}`));
        for (const f of folders) for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(f, sub), { recursive: true, mode: 0o777 });
        for (const f of folders) for (const sub of ['', 'cur', 'new', 'tmp']) chmodSync(join(f, sub), 0o777);
        const personal = Object.entries(c.personal ?? {}).map(([name, text]) => {
          const file = join(dir, 'personal', `${name}.sieve`);
          writeFileSync(file, text);
          chmodSync(file, 0o644);
          return file;
        });
        const from = c.from ?? 'sender@example.net';
        const to = c.to ?? 'ken@example.org';
        // Each case its own home: Pigeonhole remembers the vacation replies it sent there.
        const home = join(dir, `home${i}`);
        mkdirSync(home, { mode: 0o777 });
        chmodSync(home, 0o777);
        const sieveTest = (extra: string[]): string => {
          try {
            return execFileSync(SIEVE_TEST!, ['-c', join(dir, 'dovecot.conf'), ...extra, '-f', from, '-r', to, '-a', to, script, message], { env: { ...process.env, HOME: home }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
          } catch (err) {
            const e = err as { stdout?: string; stderr?: string };
            assert.fail(`sieve-test failed: ${e.stderr ?? ''}${e.stdout ?? ''}`);
          }
        };
        let out: string;
        let theirs: string[];
        try {
          out = sieveTest([]);
          theirs = pigeonholeActions(out);
          // Pigeonhole lists a vacation action and decides only when executing it whether to send
          // (RFC 5230 §4.5: not to lists, not when the user is not addressed); Yubin decides in the
          // interpreter. Executed (-e, with stderr), a reply it would not send is dropped.
          if (theirs.some((a) => a.startsWith('vacation'))) {
            const executed = spawnSync(SIEVE_TEST!, ['-c', join(dir, 'dovecot.conf'), '-e', '-f', from, '-r', to, '-a', to, script, message], { env: { ...process.env, HOME: home }, encoding: 'utf8' });
            assert.equal(executed.status, 0, `sieve-test -e failed: ${executed.stderr}${executed.stdout}`);
            const log = executed.stdout + executed.stderr;
            out += `\n(executed:)\n${log}`;
            if (/vacation action: discarding vacation response/.test(log) && !/vacation action: sent vacation response/.test(log)) theirs = theirs.filter((a) => !a.startsWith('vacation'));
            // Without :subject, Pigeonhole makes the subject (RFC 5230 §4.4) only when sending:
            // taken from the reply it printed.
            const sentSubject = /^X-Sieve: Pigeonhole[^]*?^Subject: ([^\r\n]*)/m.exec(log)?.[1];
            if (sentSubject !== undefined) theirs = theirs.map((a) => (a === 'vacation' ? `vacation ${sentSubject}` : a));
          }
        } finally {
          for (const f of [...folders, ...personal]) rmSync(f, { recursive: true, force: true });
        }
        const compiled = compileSieve(c.script);
        assert.ok(compiled.ok, 'compiles');
        const r = await runSieve(compiled.script, { raw: Buffer.from(c.message), envelope: { from, to } }, testEnv({
          user: to.replace(/\+[^@]*/, ''),
          mailboxExists: async (name) => (c.mailboxes ? name.toUpperCase() === 'INBOX' || c.mailboxes.includes(name) : true),
          spam: c.spamScore === undefined ? null : { score: c.spamScore, percent: Math.min(100, c.spamScore * 10) },
          loadInclude: async (name, location) => (location === 'personal' ? (c.personal?.[name] ?? null) : null),
        }));
        assert.deepEqual(r.errors, []);
        const mine = r.actions.map(pigeonholeForm).filter((x): x is string => x !== null);
        assert.deepEqual(mine.sort(), theirs.sort(), `Pigeonhole said:\n${out}`);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
