// The `yubin` administration commands, run as a user runs them: each prints a clear result, and
// each error is one line on stderr with a non-zero exit and nothing half done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/server.js';

function oneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'expected a non-zero exit');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, pattern);
}

test('yubin domain, user and alias commands', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'yubin.toml');
  writeFileSync(config, `hostname = "mail.a.test"\ndata_dir = "data"\n`);
  const cli = (args: string[], input?: string) => runCli(args, { config, input });

  let r = await cli(['domain', 'add', 'A.test']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /domain a\.test added/);
  oneLineError(await cli(['domain', 'add', 'a.test']), /exist/i);
  oneLineError(await cli(['domain', 'add', 'not a domain']), /malformed domain/);
  r = await cli(['domain', 'list']);
  assert.deepEqual(r.stdout.trim().split('\n'), ['a.test']);

  // A user for an unknown domain, a malformed address, a duplicate: refused, nothing created.
  oneLineError(await cli(['user', 'add', 'bob@nowhere.test', '--password', 'pw']), /domain|nowhere\.test/i);
  oneLineError(await cli(['user', 'add', 'bob@@a.test', '--password', 'pw']), /malformed address/);
  oneLineError(await cli(['user', 'add', 'bob@a.test']), /password is required/);
  r = await cli(['user', 'add', 'Alice@a.test', '--password-stdin', '--quota', '10M'], 'secret one\n');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /user alice@a\.test added/);
  oneLineError(await cli(['user', 'add', 'alice@a.test', '--password', 'x']), /exist/i);
  r = await cli(['user', 'add', 'bob@a.test', '--password', 'pw2']);
  assert.equal(r.code, 0, r.stderr);

  r = await cli(['user', 'list']);
  assert.match(r.stdout, /alice@a\.test/);
  assert.match(r.stdout, /bob@a\.test/);
  r = await cli(['user', 'show', 'alice@a.test']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /quota: +10485760 bytes/);
  for (const mb of ['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', 'Archive']) assert.match(r.stdout, new RegExp(`^  ${mb}\\b`, 'm'));
  r = await cli(['user', 'quota', 'alice@a.test', '2G']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /2147483648 bytes/);
  r = await cli(['user', 'quota', 'alice@a.test', '0']);
  assert.match(r.stdout, /unlimited/);
  oneLineError(await cli(['user', 'quota', 'alice@a.test', 'lots']), /malformed size/);
  oneLineError(await cli(['user', 'show', 'nobody@a.test']), /no such user/);
  r = await cli(['user', 'passwd', 'bob@a.test', '--password-stdin'], 'new secret\n');
  assert.equal(r.code, 0, r.stderr);

  // The per-user spam threshold (Junk) kept beside the store.
  r = await cli(['user', 'spam-threshold', 'alice@a.test', '3.5']);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['user', 'spam-threshold', 'alice@a.test']);
  assert.match(r.stdout, /alice@a\.test: 3\.5/);
  r = await cli(['user', 'spam-threshold', 'alice@a.test', 'default']);
  assert.match(r.stdout, /server default \(5\)/);
  oneLineError(await cli(['user', 'spam-threshold', 'alice@a.test', 'high']), /malformed score/);
  oneLineError(await cli(['user', 'spam-threshold', 'nobody@a.test', '3']), /no such user/);

  // Aliases: to local and remote targets, a catch-all, and a loop refused.
  r = await cli(['alias', 'add', 'sales@a.test', 'alice@a.test', 'bob@a.test']);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['alias', 'add', 'x@a.test', 'y@a.test']);
  assert.equal(r.code, 0, r.stderr);
  oneLineError(await cli(['alias', 'add', 'y@a.test', 'x@a.test']), /loop/i);
  r = await cli(['alias', 'add', '@a.test', 'alice@a.test']);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['alias', 'list']);
  assert.match(r.stdout, /sales@a\.test -> alice@a\.test, bob@a\.test/);
  assert.match(r.stdout, /@a\.test -> alice@a\.test/);
  r = await cli(['alias', 'remove', 'x@a.test']);
  assert.equal(r.code, 0, r.stderr);
  oneLineError(await cli(['alias', 'remove', 'x@a.test']), /not|no such/i);

  // A domain with users is not removed; nothing half done.
  oneLineError(await cli(['domain', 'remove', 'a.test']), /user|alias|empty/i);
  r = await cli(['user', 'remove', 'bob@a.test']);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['user', 'list', 'a.test']);
  assert.doesNotMatch(r.stdout, /bob@a\.test/);
});

test('config errors are one line naming the key, with a non-zero exit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.toml');

  writeFileSync(bad, `hostname = "mail.a.test"\nbogus_key = 1\n`);
  oneLineError(await runCli(['domain', 'list'], { config: bad }), /unknown key bogus_key/);

  writeFileSync(bad, `[listen]\nsmtp = ["127.0.0.1"]\n`);
  oneLineError(await runCli(['serve'], { config: bad }), /listen\.smtp\[0\]/);

  writeFileSync(bad, `[smtp]\nmax_message_size = "huge"\n`);
  oneLineError(await runCli(['serve'], { config: bad }), /smtp\.max_message_size/);

  writeFileSync(bad, `hostname = [\n`);
  oneLineError(await runCli(['serve'], { config: bad }), /not valid TOML/);

  oneLineError(await runCli(['serve'], { config: join(dir, 'missing.toml') }), /missing\.toml.*no such file/);

  // YUBIN_CONFIG is used when --config is absent.
  writeFileSync(bad, `nope = true\n`);
  oneLineError(await runCli(['domain', 'list'], { env: { YUBIN_CONFIG: bad } }), /unknown key nope/);
});
