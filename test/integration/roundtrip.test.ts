// The round trip of issue 3 (and the README's walk-through): two Yubin instances, a.test on
// 127.0.0.2 and b.test on 127.0.0.3, each with its SMTP listener on port 25, and a DNS server on
// loopback serving their MX and A records. Real clients: nodemailer (submission with STARTTLS
// and AUTH) and imapflow, and the `yubin` CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { until, submit, mailboxMessages } from '../helpers/mail.js';
import { dkimRecord, listDomainKeys } from '../../src/checks/dkim-keys.js';

const PW = { alice: 'alice-secret-1', bob: 'bob-secret-1' };
let dns: TestDnsServer;
let A: YubinInstance;
let B: YubinInstance;

function instanceConfig(ip: string) {
  return {
    dns: { servers: [dns.address], timeout: 1 },
    auth: { allow_plaintext: true },
    // the schedule retries only after an hour here: step 3 uses `yubin queue retry --all`
    queue: { source_address: ip, retry_initial: '1h' },
  };
}

before(async () => {
  dns = await startDnsServer();
  dns.setRecords('a.test', 'MX', ['10 mail.a.test']);
  dns.setRecords('mail.a.test', 'A', ['127.0.0.2']);
  dns.setRecords('b.test', 'MX', ['10 mail.b.test']);
  dns.setRecords('mail.b.test', 'A', ['127.0.0.3']);
  dns.setRecords('a.test', 'TXT', ['v=spf1 ip4:127.0.0.2 -all']);
  dns.setRecords('b.test', 'TXT', ['v=spf1 ip4:127.0.0.3 -all']);
  dns.setRecords('nullmx.test', 'MX', ['0 .']);
  // PTR for the two servers, so reverse-DNS checks find names
  dns.setRecords('2.0.0.127.in-addr.arpa', 'PTR', ['mail.a.test']);
  dns.setRecords('3.0.0.127.in-addr.arpa', 'PTR', ['mail.b.test']);
  [A, B] = await Promise.all([
    startYubin({
      hostname: 'mail.a.test',
      host: '127.0.0.2',
      listen: { smtp: ['127.0.0.2:25'] },
      config: instanceConfig('127.0.0.2'),
      domains: ['a.test'],
      users: [{ address: 'alice@a.test', password: PW.alice }],
    }),
    startYubin({
      hostname: 'mail.b.test',
      host: '127.0.0.3',
      listen: { smtp: ['127.0.0.3:25'] },
      config: instanceConfig('127.0.0.3'),
      domains: ['b.test'],
      users: [{ address: 'bob@b.test', password: PW.bob }],
    }),
  ]);
  // publish each domain's DKIM keys (made by `yubin domain add`) and a strict DMARC policy
  for (const [inst, domain] of [[A, 'a.test'], [B, 'b.test']] as const) {
    for (const k of listDomainKeys(inst.dataDir, domain)) dns.setRecords(`${k.selector}._domainkey.${domain}`, 'TXT', [dkimRecord(k)]);
    dns.setRecords(`_dmarc.${domain}`, 'TXT', ['v=DMARC1; p=reject']);
  }
});

after(async () => {
  await Promise.all([A?.destroy(), B?.destroy()]);
  await dns?.close();
});

const inbox = (inst: YubinInstance, user: string, pass: string) => mailboxMessages(inst, user, pass);
const withSubject = (msgs: string[], subject: string) => msgs.filter((m) => m.includes(`Subject: ${subject}`));

test('1. alice@a.test to bob@b.test: in bob\'s INBOX with a.test\'s Received header', async () => {
  await submit(A, 'alice@a.test', PW.alice, { from: 'alice@a.test', to: 'bob@b.test', subject: 'step one', text: 'Hello Bob\n.a line with a dot\n' });
  const msg = await until('bob has it', async () => withSubject(await inbox(B, 'bob@b.test', PW.bob), 'step one')[0]);
  assert.match(msg, /Received: from [^\r\n]*(\r\n[ \t][^\r\n]*)*by mail\.a\.test/);
  assert.match(msg, /Received: from mail\.a\.test[^\r\n]*(\r\n[ \t][^\r\n]*)*by mail\.b\.test/);
  // a.test's client took b.test's STARTTLS offer (opportunistic TLS, RFC 3207)
  assert.match(msg, /by mail\.b\.test[^\r\n]*with ESMTPS\b/);
  assert.match(msg, /\r\n\.a line with a dot\r\n/);
  // signed by a.test's queue on the way out, verified by b.test: the bytes arrived unchanged
  assert.match(msg, /Authentication-Results: mail\.b\.test;[\s\S]*dkim=pass header\.i=@a\.test header\.s=\S+ header\.a=rsa-sha256/);
  assert.match(msg, /dmarc=pass/);
});

test('2. bob replies; alice gets it', async () => {
  await submit(B, 'bob@b.test', PW.bob, { from: 'bob@b.test', to: 'alice@a.test', subject: 'Re: step one', text: 'Hi Alice' });
  const msg = await until('alice has it', async () => withSubject(await inbox(A, 'alice@a.test', PW.alice), 'Re: step one')[0]);
  assert.match(msg, /by mail\.b\.test/);
});

test('3. b.test down: deferred and listed; a.test restarted; b.test back; queue retry --all delivers exactly once', async () => {
  await B.stop();
  await submit(A, 'alice@a.test', PW.alice, { from: 'alice@a.test', to: 'bob@b.test', subject: 'step three', text: 'while you were out' });
  const listed = await until('deferred in queue list', async () => {
    const r = await A.cli(['queue', 'list']);
    return r.code === 0 && /\bdeferred\b/.test(r.stdout) && r.stdout.includes('<alice@a.test>') ? r.stdout : null;
  });
  const id = /^([0-9A-Z]{12,})\s+deferred/m.exec(listed)![1]!;
  const shown = await A.cli(['queue', 'show', id]);
  assert.match(shown.stdout, /rcpt <bob@b\.test>: deferred, 1 attempt/);
  assert.match(shown.stdout, /last reply: 4\d\d 4\.4\.1 /);

  A = await A.restart();
  B = await B.restart();
  const retry = await A.cli(['queue', 'retry', '--all']);
  assert.equal(retry.code, 0, retry.stderr);
  await until('bob has it', async () => withSubject(await inbox(B, 'bob@b.test', PW.bob), 'step three').length === 1);
  await until('queue empty', async () => /queue is empty/.test((await A.cli(['queue', 'list'])).stdout));
  // exactly once, also a little later
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(withSubject(await inbox(B, 'bob@b.test', PW.bob), 'step three').length, 1);
});

test('4. to nobody@b.test: a DSN in alice\'s INBOX naming the recipient and b.test\'s 550', async () => {
  await submit(A, 'alice@a.test', PW.alice, { from: 'alice@a.test', to: 'nobody@b.test', subject: 'step four', text: 'anyone?' });
  const dsn = await until('DSN', async () => (await inbox(A, 'alice@a.test', PW.alice)).find((m) => m.includes('Final-Recipient: rfc822; nobody@b.test')));
  assert.match(dsn, /From: Mail Delivery System <MAILER-DAEMON@mail\.a\.test>/);
  assert.match(dsn, /Content-Type: multipart\/report; report-type=delivery-status/);
  assert.match(dsn, /Action: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; mail\.b\.test\r\nDiagnostic-Code: smtp; 550 5\.1\.1/);
  assert.match(dsn, /Subject: step four/);
});

test('5. null MX and a domain that does not exist: immediate bounces with 5.1.10 and 5.1.2', async () => {
  await submit(A, 'alice@a.test', PW.alice, { from: 'alice@a.test', to: ['x@nullmx.test', 'y@nxdomain.test'], subject: 'step five', text: 'nowhere' });
  const dsns = await until('DSNs', async () => {
    const all = (await inbox(A, 'alice@a.test', PW.alice)).filter((m) => m.includes('Subject: step five') && m.includes('multipart/report'));
    const text = all.join('\n');
    // both reports, not just the first one (whose quoted headers name both recipients)
    return text.includes('Final-Recipient: rfc822; x@nullmx.test') && text.includes('Final-Recipient: rfc822; y@nxdomain.test') ? text : null;
  });
  assert.match(dsns, /Final-Recipient: rfc822; x@nullmx\.test\r\nAction: failed\r\nStatus: 5\.1\.10\r\n/);
  assert.match(dsns, /Final-Recipient: rfc822; y@nxdomain\.test\r\nAction: failed\r\nStatus: 5\.1\.2\r\n/);
});
