// Forwarding end to end (issue 6 "Forwarding", RFC 8617 ARC): two Yubin instances, a.test on
// 127.0.0.24 and b.test on 127.0.0.25 (SMTP on port 25), a DNS server on loopback. An outside
// sender's message to an alias of a.test that points at bob@b.test leaves a.test with an SRS
// envelope sender in a.test's host name, so SPF passes at b.test, and with a.test's ARC seal,
// which b.test verifies (arc=pass).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { LineClient } from '../helpers/lineclient.js';
import { until, mailboxMessages } from '../helpers/mail.js';
import { listDomainKeys, dkimRecord } from '../../src/checks/dkim-keys.js';

const PW = 'bob-secret-7';
let dns: TestDnsServer;
let A: YubinInstance;
let B: YubinInstance;

before(async () => {
  dns = await startDnsServer();
  dns.setRecords('a.test', 'MX', ['10 mail.a.test']);
  dns.setRecords('mail.a.test', 'A', ['127.0.0.24']);
  dns.setRecords('b.test', 'MX', ['10 mail.b.test']);
  dns.setRecords('mail.b.test', 'A', ['127.0.0.25']);
  dns.setRecords('a.test', 'TXT', ['v=spf1 mx -all']);
  dns.setRecords('mail.a.test', 'TXT', ['v=spf1 a -all']);
  dns.setRecords('24.0.0.127.in-addr.arpa', 'PTR', ['mail.a.test']);
  // The outside sender: SPF allows only 127.0.0.1 (where the script connects from), so the
  // forwarded copy would fail SPF at b.test without SRS.
  dns.setRecords('ext.test', 'TXT', ['v=spf1 ip4:127.0.0.1 -all']);
  const config = (ip: string) => ({ dns: { servers: [dns.address], timeout: 1 }, queue: { source_address: ip }, checks: { srs_secret: 'forwarding-test' } });
  [A, B] = await Promise.all([
    startYubin({
      hostname: 'mail.a.test',
      host: '127.0.0.24',
      listen: { smtp: ['127.0.0.24:25'] },
      config: config('127.0.0.24'),
      domains: ['a.test'],
      aliases: [{ address: 'fwd@a.test', targets: ['bob@b.test'] }],
    }),
    startYubin({ hostname: 'mail.b.test', host: '127.0.0.25', listen: { smtp: ['127.0.0.25:25'] }, config: config('127.0.0.25'), domains: ['b.test'], users: [{ address: 'bob@b.test', password: PW }] }),
  ]);
  for (const k of listDomainKeys(A.dataDir, 'a.test')) dns.setRecords(`${k.selector}._domainkey.a.test`, 'TXT', [dkimRecord(k)]);
});

after(async () => {
  await Promise.all([A?.destroy(), B?.destroy()]);
  await dns?.close();
});

const inbox = () => mailboxMessages(B, 'bob@b.test', PW);

test('an alias forwarding to another server: SRS sender (spf=pass there) and a verified ARC seal', async () => {
  const c = await LineClient.connect(25, '127.0.0.24');
  try {
    await c.waitFor(/^220 .*\r\n/m);
    c.write('EHLO client.ext.test\r\n');
    await c.waitFor(/^250 .*\r\n/m);
    c.write('MAIL FROM:<x@ext.test>\r\n');
    await c.waitFor(/^250 .*\r\n/m);
    c.write('RCPT TO:<fwd@a.test>\r\n');
    await c.waitFor(/^250 .*\r\n/m);
    c.write('DATA\r\n');
    await c.waitFor(/^354 .*\r\n/m);
    c.write('From: <x@ext.test>\r\nTo: <fwd@a.test>\r\nSubject: forwarded\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <fw1@ext.test>\r\n\r\nHello through the alias.\r\n.\r\n');
    assert.match(await c.waitFor(/^\d{3} .*\r\n/m, 30_000), /^250 /m);
    c.write('QUIT\r\n');
  } finally {
    c.socket.destroy();
  }
  const msg = (await until('bob has it', async () => (await inbox()).find((m) => m.includes('Subject: forwarded')))).replace(/\r\n[ \t]+/g, ' ');
  assert.match(msg, /^Return-Path: <SRS0=[^=]{4}=[A-Z2-7]{2}=ext\.test=x@mail\.a\.test>\r\n/);
  const ar = /^Authentication-Results: mail\.b\.test;([^\r\n]*)/m.exec(msg)?.[1];
  assert.ok(ar, msg);
  assert.match(ar, /spf=pass [^;]*smtp\.mailfrom=SRS0=[^;]*@mail\.a\.test/);
  assert.match(ar, /arc=pass/);
  // a.test's seal carries a.test's own results for the original hop
  assert.match(msg, /^ARC-Seal: i=1; [^\r\n]*d=a\.test/m);
  assert.match(msg, /^ARC-Authentication-Results: i=1; mail\.a\.test;[^\r\n]*spf=pass [^;]*smtp\.mailfrom=x@ext\.test/m);
});
