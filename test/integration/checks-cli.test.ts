// `yubin dkim ...` and `yubin dns-records DOMAIN`, run as a user runs them, against a real DNS
// server on loopback that has some records right, some wrong and some missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/server.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { listDomainKeys, dkimRecord } from '../../src/checks/dkim-keys.js';

function oneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'expected a non-zero exit');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, pattern);
}

test('yubin dkim and yubin dns-records', async (t) => {
  const dns = await startDnsServer();
  const dir = mkdtempSync(join(tmpdir(), 'yubin-checks-cli-'));
  t.after(async () => {
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const config = join(dir, 'yubin.toml');
  writeFileSync(
    config,
    `hostname = "mail.a.test"\ndata_dir = "data"\n[dns]\nservers = ["${dns.address}"]\ntimeout = "1s"\n[listen]\nsubmissions = ["127.0.0.1:465"]\nsubmission = ["127.0.0.1:587"]\nimaps = ["127.0.0.1:993"]\nimap = []\npop3s = []\npop3 = []\n`,
  );
  const cli = (args: string[]) => runCli(args, { config });
  const dataDir = join(dir, 'data');

  // adding a domain creates its keys
  const added = await cli(['domain', 'add', 'a.test']);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /domain a\.test added; DKIM selectors y\d{8}r, y\d{8}e/);
  const kdir = join(dataDir, 'dkim', 'a.test');
  for (const f of readdirSync(kdir)) assert.equal(statSync(join(kdir, f)).mode & 0o777, 0o600, f);

  // DNS: MX right, SPF right, DKIM rsa right and ed25519 wrong, the rest missing
  const [rsa, ed] = listDomainKeys(dataDir, 'a.test').sort((x, y) => (x.algorithm < y.algorithm ? 1 : -1));
  dns.setRecords('a.test', 'MX', ['10 mail.a.test']);
  dns.setRecords('a.test', 'TXT', ['v=spf1 mx -all']);
  dns.setRecords(`${rsa!.selector}._domainkey.a.test`, 'TXT', [dkimRecord(rsa!)]);
  dns.setRecords(`${ed!.selector}._domainkey.a.test`, 'TXT', ['v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=']);

  // each run of the CLI takes seconds: independent commands run side by side
  const [again, notLocal, records] = await Promise.all([
    cli(['dkim', 'generate', 'a.test']),
    cli(['dkim', 'generate', 'c.test']),
    cli(['dns-records', 'a.test', '--check']),
  ]);
  oneLineError(again, /already has DKIM keys/);
  oneLineError(notLocal, /c\.test is not a local domain/);
  // --check: exit status 3 when something is missing or wrong; the zone text is on stdout
  assert.equal(records.code, 3, records.stderr);
  assert.match(records.stdout, /^a\.test\. +3600 +IN +MX +10 mail\.a\.test\. +; ok$/m);
  assert.match(records.stdout, /^a\.test\. +3600 +IN +TXT +"v=spf1 mx -all" +; ok$/m);
  assert.match(records.stdout, new RegExp(`^${rsa!.selector}\\._domainkey\\.a\\.test\\. .*; ok$`, 'm'));
  assert.match(records.stdout, new RegExp(`^${ed!.selector}\\._domainkey\\.a\\.test\\. .*; WRONG: a different public key$`, 'm'));
  assert.match(records.stdout, /^_dmarc\.a\.test\. .*; MISSING$/m);
  assert.match(records.stdout, /^_submissions\._tcp\.a\.test\. +3600 +IN +SRV +0 1 465 mail\.a\.test\. +; MISSING$/m);
  assert.match(records.stdout, /^_imap\._tcp\.a\.test\. +3600 +IN +SRV +0 0 0 \. +; MISSING$/m);

  // rotation adds two selectors; `dkim list` shows all four with their records
  const r = await cli(['dkim', 'rotate', 'a.test']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /new DKIM selectors for a\.test/);
  const list = await cli(['dkim', 'list', 'a.test']);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stdout.trim().split('\n').length, 4);
  assert.match(list.stdout, /^y\d{8}r\._domainkey\.a\.test\. +IN TXT +"v=DKIM1; k=rsa; p=[^"]{200,}" "[^"]+" +; rsa-sha256/m);
  assert.match(list.stdout, /^y\d{8}e\._domainkey\.a\.test\. +IN TXT +"v=DKIM1; k=ed25519; p=[^"]+" +; ed25519-sha256/m);
  assert.match(list.stdout, /^y\d{8}n2r\._domainkey/m);
});
