// Sender authentication end to end (issue 6): two Yubin instances, a.test on 127.0.0.4 and b.test
// on 127.0.0.5 (SMTP on port 25), a DNS server on loopback with their MX, A, SPF, DKIM and DMARC
// records. Mail from a.test arrives at b.test signed and with dkim=pass, spf=pass, dmarc=pass;
// forgeries of a.test sent straight to b.test's port 25 are refused (p=reject) or put in Junk
// (p=quarantine); a forged Authentication-Results claiming b.test's host name is removed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { LineClient } from '../helpers/lineclient.js';
import { until, submit, mailboxMessages as mailbox } from '../helpers/mail.js';
import { listDomainKeys, dkimRecord } from '../../src/checks/dkim-keys.js';

const PW = { alice: 'alice-secret-6', bob: 'bob-secret-6' };
let dns: TestDnsServer;
let A: YubinInstance;
let B: YubinInstance;

before(async () => {
  dns = await startDnsServer();
  dns.setRecords('a.test', 'MX', ['10 mail.a.test']);
  dns.setRecords('mail.a.test', 'A', ['127.0.0.4']);
  dns.setRecords('b.test', 'MX', ['10 mail.b.test']);
  dns.setRecords('mail.b.test', 'A', ['127.0.0.5']);
  dns.setRecords('a.test', 'TXT', ['v=spf1 mx -all']);
  dns.setRecords('mail.a.test', 'TXT', ['v=spf1 a -all']);
  dns.setRecords('_dmarc.a.test', 'TXT', ['v=DMARC1; p=reject']);
  dns.setRecords('q.test', 'TXT', ['v=spf1 -all']);
  dns.setRecords('_dmarc.q.test', 'TXT', ['v=DMARC1; p=quarantine']);
  dns.setRecords('4.0.0.127.in-addr.arpa', 'PTR', ['mail.a.test']);
  const config = (ip: string) => ({ dns: { servers: [dns.address], timeout: 1 }, auth: { allow_plaintext: true }, queue: { source_address: ip } });
  [A, B] = await Promise.all([
    startYubin({ hostname: 'mail.a.test', host: '127.0.0.4', listen: { smtp: ['127.0.0.4:25'] }, config: config('127.0.0.4'), domains: ['a.test'], users: [{ address: 'alice@a.test', password: PW.alice }] }),
    startYubin({ hostname: 'mail.b.test', host: '127.0.0.5', listen: { smtp: ['127.0.0.5:25'] }, config: config('127.0.0.5'), domains: ['b.test'], users: [{ address: 'bob@b.test', password: PW.bob }] }),
  ]);
  // `yubin domain add` made a.test's DKIM keys: publish them
  for (const k of listDomainKeys(A.dataDir, 'a.test')) dns.setRecords(`${k.selector}._domainkey.a.test`, 'TXT', [dkimRecord(k)]);
});

after(async () => {
  await Promise.all([A?.destroy(), B?.destroy()]);
  await dns?.close();
});

/** A script talking SMTP straight to b.test's port 25 from 127.0.0.1; returns the reply to the final dot. */
async function sendRaw(from: string, headerFrom: string, subject: string, extraHeaders = ''): Promise<string> {
  const c = await LineClient.connect(25, '127.0.0.5');
  try {
    await c.waitFor(/^220 .*\r\n/m);
    c.write('EHLO forger.example\r\n');
    await c.waitFor(/^250 .*\r\n/m);
    c.write(`MAIL FROM:<${from}>\r\n`);
    await c.waitFor(/^250 .*\r\n/m);
    c.write('RCPT TO:<bob@b.test>\r\n');
    await c.waitFor(/^250 .*\r\n/m);
    c.write('DATA\r\n');
    await c.waitFor(/^354 .*\r\n/m);
    c.write(`${extraHeaders}From: <${headerFrom}>\r\nTo: <bob@b.test>\r\nSubject: ${subject}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@forger.example>\r\n\r\nPlease wire the money.\r\n.\r\n`);
    const reply = await c.waitFor(/^\d{3} .*\r\n/m, 30_000);
    c.write('QUIT\r\n');
    return reply;
  } finally {
    c.socket.destroy();
  }
}

const unfold = (m: string) => m.replace(/\r\n[ \t]+/g, ' ');
const withSubject = (msgs: string[], subject: string) => msgs.find((m) => m.includes(`Subject: ${subject}`));

test('mail from a.test arrives at b.test DKIM-signed with dkim=pass, spf=pass and dmarc=pass', async () => {
  await submit(A, 'alice@a.test', PW.alice, { from: 'alice@a.test', to: 'bob@b.test', subject: 'authenticated', text: 'Hello Bob' });
  const msg = unfold(await until('bob has it', async () => withSubject(await mailbox(B, 'bob@b.test', PW.bob, 'INBOX'), 'authenticated')));
  const ar = /^Authentication-Results: mail\.b\.test;([^\r\n]*)/m.exec(msg)?.[1];
  assert.ok(ar, msg);
  assert.match(ar, /spf=pass [^;]*smtp\.mailfrom=alice@a\.test/);
  assert.match(ar, /dkim=pass [^;]*header\.i=@a\.test [^;]*header\.a=rsa-sha256/);
  assert.match(ar, /dkim=pass [^;]*header\.i=@a\.test [^;]*header\.a=ed25519-sha256/);
  assert.match(ar, /dmarc=pass/);
  assert.match(msg, /^X-Spam-Status: No, /m);
  assert.equal((msg.match(/^DKIM-Signature:/gm) ?? []).length, 2);
});

test('a forged From: a.test sent straight to port 25 is refused by its DMARC p=reject', async () => {
  const reply = await sendRaw('alice@a.test', 'alice@a.test', 'forged reject');
  assert.match(reply, /^550 5\.7\.1 .*DMARC.*a\.test/m);
  const reply2 = await sendRaw('', 'ceo@a.test', 'forged reject null sender');
  assert.match(reply2, /^550 5\.7\.1 /m);
});

test('a forged p=quarantine domain goes to Junk, and a forged Authentication-Results is removed', async () => {
  const reply = await sendRaw('x@q.test', 'boss@q.test', 'forged quarantine', 'Authentication-Results: mail.b.test; dkim=pass header.d=q.test; dmarc=pass\r\n');
  assert.match(reply, /^250 /m);
  const junk = unfold(await until('in Junk', async () => withSubject(await mailbox(B, 'bob@b.test', PW.bob, 'Junk'), 'forged quarantine')));
  const ars = junk.match(/^Authentication-Results: mail\.b\.test;[^\r\n]*/gm) ?? [];
  assert.equal(ars.length, 1, junk);
  assert.match(ars[0]!, /spf=fail/);
  assert.match(ars[0]!, /dmarc=fail/);
  assert.ok(!withSubject(await mailbox(B, 'bob@b.test', PW.bob, 'INBOX'), 'forged quarantine'));
});
