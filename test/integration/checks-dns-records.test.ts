// What `yubin dns-records` computes, against a real DNS server on loopback that has some records
// right, some wrong and some missing (SRV answers, which the test server cannot give, come from a
// wrapper around the resolver).
import { test } from 'node:test';
import { mtaStsRecord } from '../../src/http/mta-sts.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackResolver, startDnsServer } from '../helpers/dns-server.js';
import { DnsError, type Resolver } from '../../src/dns/resolver.js';
import { validateConfig } from '../../src/config/load.js';
import { ensureDomainKeys, dkimRecord } from '../../src/checks/dkim-keys.js';
import { dnsRecords, formatDnsRecords, txtValue } from '../../src/checks/dns-records.js';

test('dns-records: each record ok, MISSING or WRONG as DNS has it', async (t) => {
  const dns = await startDnsServer();
  const dir = mkdtempSync(join(tmpdir(), 'yubin-dnsrec-'));
  t.after(async () => {
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const config = validateConfig({
    hostname: 'mail.a.test',
    data_dir: dir,
    listen: { submissions: ['0.0.0.0:465'], submission: ['0.0.0.0:587'], imaps: ['0.0.0.0:993'], imap: [], pop3s: [], pop3: [] },
  });
  const keys = ensureDomainKeys(dir, 'a.test');
  const rsa = keys.find((k) => k.algorithm === 'rsa-sha256')!;
  const ed = keys.find((k) => k.algorithm === 'ed25519-sha256')!;
  dns.setRecords('a.test', 'MX', ['10 mail.a.test']);
  dns.setRecords('a.test', 'TXT', ['v=spf1 mx -all', 'google-site-verification=xyz']);
  dns.setRecords('mail.a.test', 'TXT', ['v=spf1 a -all', 'v=spf1 -all']);
  dns.setRecords('mail.a.test', 'A', ['192.0.2.25', '192.0.2.26']);
  dns.setRecords('25.2.0.192.in-addr.arpa', 'PTR', ['mail.a.test']);
  dns.setRecords('26.2.0.192.in-addr.arpa', 'PTR', ['host26.provider.example']);
  dns.setRecords(`${rsa.selector}._domainkey.a.test`, 'TXT', [dkimRecord(rsa)]);
  dns.setRecords(`${ed.selector}._domainkey.a.test`, 'TXT', ['v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=']);
  dns.setRecords('_dmarc.a.test', 'TXT', ['v=DMARC1; rua=mailto:x@a.test']);
  dns.setRecords('_smtp._tls.a.test', 'TXT', ['v=TLSRPTv1; rua=mailto:postmaster@a.test']);
  dns.setRecords('autoconfig.a.test', 'CNAME', ['mail.a.test']);
  dns.setRecords('autodiscover.a.test', 'CNAME', ['elsewhere.example']);
  const base = loopbackResolver(dns.address);
  const srv: Record<string, Array<{ priority: number; weight: number; port: number; name: string }>> = {
    '_submissions._tcp.a.test': [{ priority: 0, weight: 1, port: 465, name: 'mail.a.test' }],
    '_submission._tcp.a.test': [{ priority: 0, weight: 1, port: 2587, name: 'mail.a.test' }],
    '_imap._tcp.a.test': [{ priority: 0, weight: 0, port: 0, name: '' }],
  };
  const resolver: Resolver = {
    ...base,
    resolveSrv: async (name) => {
      const r = srv[name];
      if (!r) throw new DnsError('nxdomain', 'ENOTFOUND', `SRV ${name}: no such domain`);
      return r;
    },
  };

  const checks = await dnsRecords({ config, domain: 'a.test', keys, resolver, now: new Date('2026-11-28T12:00:00Z') });
  const by = (name: string, type?: string) => {
    const c = checks.find((x) => x.name === name && (!type || x.type === type));
    assert.ok(c, `no ${type ?? ''} record ${name}`);
    return c;
  };
  assert.deepEqual([by('a.test.', 'MX').value, by('a.test.', 'MX').status], ['10 mail.a.test.', 'ok']);
  assert.deepEqual([by('a.test.', 'TXT').value, by('a.test.', 'TXT').status], ['"v=spf1 mx -all"', 'ok']);
  // RFC 7208 §4.5: two SPF records are an error
  assert.equal(by('mail.a.test.', 'TXT').status, 'wrong');
  assert.equal(by(`${rsa.selector}._domainkey.a.test.`).status, 'ok');
  assert.equal(by(`${rsa.selector}._domainkey.a.test.`).value, txtValue(dkimRecord(rsa)));
  assert.deepEqual([by(`${ed.selector}._domainkey.a.test.`).status, by(`${ed.selector}._domainkey.a.test.`).found], ['wrong', 'a different public key']);
  assert.equal(by('_dmarc.a.test.').status, 'wrong');
  assert.match(by('_dmarc.a.test.').found!, /no valid p= tag/);
  assert.deepEqual([by('_mta-sts.a.test.').value, by('_mta-sts.a.test.').status], [`"${mtaStsRecord(config)}"`, 'missing']);
  assert.equal(by('mta-sts.a.test.').status, 'missing');
  assert.equal(by('_smtp._tls.a.test.').status, 'ok');
  assert.equal(by('autoconfig.a.test.').status, 'ok');
  assert.deepEqual([by('autodiscover.a.test.').status, by('autodiscover.a.test.').found], ['wrong', 'elsewhere.example']);
  assert.deepEqual([by('_submissions._tcp.a.test.').value, by('_submissions._tcp.a.test.').status], ['0 1 465 mail.a.test.', 'ok']);
  assert.deepEqual([by('_submission._tcp.a.test.').status, by('_submission._tcp.a.test.').found], ['wrong', '0 1 2587 mail.a.test']);
  assert.deepEqual([by('_imaps._tcp.a.test.').value, by('_imaps._tcp.a.test.').status], ['0 1 993 mail.a.test.', 'missing']);
  // RFC 6186 §4: a service not offered is "0 0 0 ."
  assert.deepEqual([by('_imap._tcp.a.test.').value, by('_imap._tcp.a.test.').status], ['0 0 0 .', 'ok']);

  // the server's addresses and their reverse DNS (RFC 8601 §3 iprev)
  assert.deepEqual(checks.filter((c) => c.type === 'A').map((c) => [c.value, c.status]), [['192.0.2.25', 'ok'], ['192.0.2.26', 'ok']]);
  assert.deepEqual([by('25.2.0.192.in-addr.arpa.').value, by('25.2.0.192.in-addr.arpa.').status], ['mail.a.test.', 'ok']);
  assert.deepEqual([by('26.2.0.192.in-addr.arpa.').status, by('26.2.0.192.in-addr.arpa.').found], ['wrong', 'host26.provider.example']);

  const text = formatDnsRecords('a.test', 'mail.a.test', checks);
  assert.match(text, /^a\.test\. +3600 +IN +MX +10 mail\.a\.test\. +; ok$/m);
  assert.match(text, /^autodiscover\.a\.test\. +3600 +IN +CNAME +mail\.a\.test\. +; WRONG: elsewhere\.example$/m);
  assert.match(text, /^_mta-sts\.a\.test\. .*; MISSING$/m);
  assert.match(text, /^; 11 of 21 records missing or wrong$/m);
  // a 2048-bit RSA record is longer than one TXT string: split into 255-octet strings
  assert.match(by(`${rsa.selector}._domainkey.a.test.`).value, /^"v=DKIM1; k=rsa; p=[^"]{237}" "[^"]+"$/);
});
