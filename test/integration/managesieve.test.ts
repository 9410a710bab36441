// End to end (issue 16 "done when"): Yubin started as a user starts it; a script uploaded over the
// real managesieve listener (STARTTLS, AUTHENTICATE PLAIN) files and flags mail sent over SMTP,
// redirects a copy and answers with vacation through the queue, which delivers both to a remote
// domain served by Postfix's smtp-sink on loopback (MX through the test DNS server). What arrives
// there is checked: SRS sender, loop header, ARC seal and body of the redirect; null sender,
// RFC 3834 fields and a verifying DKIM signature of the vacation reply, and only one reply per
// :days. The CLI manages the same scripts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { authenticate } from 'mailauth';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { LineClient } from '../helpers/lineclient.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { dkimRecord, listDomainKeys } from '../../src/checks/dkim-keys.js';
import { haveSmtpSink, startSink, until, type Sink } from './outbound-helpers.js';

const haveSink = haveSmtpSink();
let y: YubinInstance;
let dns: TestDnsServer;
let sink: Sink | undefined;
before(async () => {
  dns = await startDnsServer();
  // The remote domains (the redirect target and the vacation sender) have their MX on loopback.
  for (const d of ['remote.test', 'sender.test']) dns.setRecords(d, 'MX', ['10 mx.sink.test']);
  dns.setRecords('mx.sink.test', 'A', ['127.0.0.1']);
  sink = haveSink ? await startSink() : undefined;
  y = await startYubin({
    domains: ['a.test'],
    users: [{ address: 'bob@a.test', password: 'bob secret' }],
    config: { dns: { servers: [dns.address], timeout: 500 }, queue: { retry_initial: '1h', ...(sink ? { remote_port: sink.port } : {}) } },
  });
  // `domain add` made a.test's DKIM keys; the test DNS publishes them for the verifier.
  for (const k of listDomainKeys(y.dataDir, 'a.test')) dns.setRecords(`${k.selector}._domainkey.a.test`, 'TXT', [dkimRecord(k)]);
});
after(async () => {
  await y?.stop();
  await sink?.stop();
  await dns?.close();
});

const SCRIPT = [
  'require ["fileinto", "imap4flags", "copy", "vacation"];',
  'if header :contains "subject" "report" {',
  '  fileinto :flags "\\\\Flagged" "Archive";',
  '  redirect :copy "boss@remote.test";',
  '  vacation :days 1 :subject "Out of office" "Back on Monday.";',
  '}',
  '',
].join('\r\n');

async function ms(c: LineClient, line: string, end = /(^|\r\n)(OK|NO|BYE)[^\r\n]*\r\n$/): Promise<string> {
  c.write(line + '\r\n');
  return c.waitFor(end);
}

/** One message over SMTP from carol@sender.test to bob@a.test. */
async function sendMail(subject: string, messageId: string): Promise<void> {
  const s = await LineClient.connect(y.port('smtp'), y.host('smtp'));
  await s.smtpReply();
  await s.smtp('EHLO client.sender.test');
  assert.match(await s.smtp('MAIL FROM:<carol@sender.test>'), /^250 /);
  assert.match(await s.smtp('RCPT TO:<bob@a.test>'), /^250 /);
  assert.match(await s.smtp('DATA'), /^354 /);
  const msg = `From: Carol <carol@sender.test>\r\nTo: bob@a.test\r\nSubject: ${subject}\r\nMessage-ID: ${messageId}\r\nReferences: <earlier@sender.test>\r\n\r\nNumbers for ${messageId}.\r\n.`;
  assert.match(await s.smtp(msg), /^250 /);
  await s.smtp('QUIT');
}

interface Received {
  /** MAIL FROM and RCPT TO as smtp-sink saw them. */
  from: string;
  to: string;
  /** The message as it arrived (CRLF line ends; smtp-sink's Received on top), its X- fields removed. */
  text: string;
}

/** What smtp-sink received so far. */
function received(): Received[] {
  return sink!.messages().map((m) => ({
    from: /^X-Mail-Args: <([^>]*)>/m.exec(m)?.[1] ?? '?',
    to: /^X-Rcpt-Args: <([^>]*)>/m.exec(m)?.[1] ?? '?',
    // smtp-sink writes its fields first and one empty line more at the end.
    text: m.replace(/^(?:X-(?:Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): [^\n]*\n)+/, '').replace(/\n$/, '').replace(/\r?\n/g, '\r\n'),
  }));
}

/** mailauth's verdict at the next hop, with DNS answers from the test DNS server. */
async function verifyAtNextHop(m: Received) {
  const r = new Resolver();
  r.setServers([dns.address]);
  const resolver = async (name: string, type: string) => (await r.resolve(name, type)) as unknown;
  return authenticate(Buffer.from(m.text), { resolver, ip: '192.0.2.1', helo: 'mail.example.test', sender: m.from, mta: 'mx.sink.test' } as Parameters<typeof authenticate>[1]);
}

const logLines = () =>
  y
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; to?: unknown; srs?: string });

test('ManageSieve over the real listener with STARTTLS; SMTP mail is filed, flagged, redirected and answered', { skip: haveSink ? false : 'smtp-sink (Postfix) is not installed' }, async () => {
  const c = await LineClient.connect(y.port('managesieve'), y.host('managesieve'));
  const greeting = await c.waitFor(/(^|\r\n)OK[^\r\n]*\r\n$/);
  assert.match(greeting, /^"IMPLEMENTATION" "Yubin"\r\n/);
  assert.match(greeting, /\r\n"STARTTLS"\r\n/);
  assert.match(greeting, /\r\n"SASL" ""\r\n/, 'no mechanism before TLS');
  assert.match(await ms(c, 'STARTTLS', /^OK[^\r\n]*\r\n$/), /^OK "Begin TLS negotiation now"/);
  await c.startTls();
  const caps = await c.waitFor(/(^|\r\n)OK[^\r\n]*\r\n$/);
  assert.match(caps, /\r\n"SASL" "PLAIN LOGIN"\r\n/);
  assert.doesNotMatch(caps, /STARTTLS/);
  assert.match(caps, /"SIEVE" "[^"]*\bfileinto\b[^"]*\bvacation\b/);
  const creds = Buffer.from('\0bob@a.test\0bob secret').toString('base64');
  assert.equal(await ms(c, `AUTHENTICATE "PLAIN" "${creds}"`), 'OK "Logged in"\r\n');
  assert.equal(await ms(c, `PUTSCRIPT "office" {${Buffer.byteLength(SCRIPT)}+}\r\n${SCRIPT}`), 'OK\r\n');
  assert.equal(await ms(c, 'SETACTIVE "office"'), 'OK\r\n');
  assert.equal(await ms(c, 'LISTSCRIPTS'), '"office" ACTIVE\r\nOK\r\n');
  assert.equal(await ms(c, 'LOGOUT'), 'OK "Logout complete"\r\n');
  await c.waitClosed();

  const list = await y.cli(['sieve', 'list', 'bob@a.test']);
  assert.equal(list.stdout, 'office (active)\n', list.stderr);

  await sendMail('weekly report', '<r1@sender.test>');
  const show = await y.cli(['user', 'show', 'bob@a.test']);
  assert.match(show.stdout, /^ {2}Archive \(\\Archive\): 1 messages, 1 unseen/m, show.stdout);
  assert.match(show.stdout, /^ {2}INBOX: 0 messages/m, show.stdout);

  // Both the redirected copy and the vacation reply arrive at the remote MX.
  const [redirect, vacation] = await until('the redirect and the vacation reply at smtp-sink', () => {
    const got = received();
    const r = got.find((m) => m.to === 'boss@remote.test');
    const v = got.find((m) => m.to === 'carol@sender.test');
    return r && v ? ([r, v] as const) : null;
  });

  // The redirect: SRS envelope sender (RFC 5228 §4.2 keeps the message; SRS keeps SPF passing),
  // the loop-marking header, an ARC seal by a.test that verifies, and the original message.
  assert.match(redirect.from, /^SRS0=[^=]+=[^=]+=sender\.test=carol@/);
  assert.match(redirect.text, /^X-Yubin-Sieve-Redirected: bob@a\.test\r\n/m);
  assert.match(redirect.text, /^ARC-Seal: i=1; [^]*?d=a\.test;/m);
  assert.match(redirect.text, /^Subject: weekly report\r\n/m);
  assert.match(redirect.text, /^Message-ID: <r1@sender\.test>\r\n/m);
  assert.ok(redirect.text.endsWith('\r\n\r\nNumbers for <r1@sender.test>.\r\n'), redirect.text);
  const sealed = await verifyAtNextHop(redirect);
  assert.ok(sealed.arc, 'no ARC result');
  assert.equal(sealed.arc.status.result, 'pass', JSON.stringify(sealed.arc));

  // The vacation reply: from <> (RFC 3834 §3.3), Auto-Submitted, In-Reply-To and References of the
  // original, From: the user, and a DKIM signature of a.test that verifies through DNS.
  assert.equal(vacation.from, '');
  assert.match(vacation.text, /^Auto-Submitted: auto-replied/m);
  assert.match(vacation.text, /^In-Reply-To: <r1@sender\.test>\r\n/m);
  assert.match(vacation.text, /^References: <earlier@sender\.test> <r1@sender\.test>\r\n/m);
  assert.match(vacation.text, /^From: bob@a\.test\r\n/m);
  assert.match(vacation.text, /^To: <carol@sender\.test>\r\n/m);
  assert.match(vacation.text, /^Subject: Out of office\r\n/m);
  assert.match(vacation.text, /\r\n\r\nBack on Monday\.\r\n$/);
  const signed = await verifyAtNextHop(vacation);
  const dkim = signed.dkim?.results ?? [];
  assert.ok(dkim.length > 0, 'signed');
  for (const r of dkim) {
    assert.equal(r.status.result, 'pass', JSON.stringify(r));
    assert.equal(r.signingDomain, 'a.test');
  }

  // A second message from the same sender within :days: filed and redirected again, no second reply.
  await sendMail('monthly report', '<r2@sender.test>');
  await until('the second redirect at smtp-sink', () => received().filter((m) => m.to === 'boss@remote.test').length === 2);
  await until('the second message handled by vacation', () => logLines().some((l) => l.msg === 'vacation: already answered in this period'));
  // The queue is empty: nothing more is on its way to the sink.
  await until('an empty queue', async () => (await y.cli(['queue', 'list', '--json'])).stdout.trim() === '[]');
  assert.equal(received().filter((m) => m.to === 'carol@sender.test').length, 1);
  assert.match((await y.cli(['user', 'show', 'bob@a.test'])).stdout, /^ {2}Archive \(\\Archive\): 2 messages/m);
});

test('CLI: put (checked), get, activate, deactivate, remove', async () => {
  const file = join(y.dir, 'keep.sieve');
  writeFileSync(file, 'keep;\n');
  let r = await y.cli(['sieve', 'put', 'bob@a.test', 'plain', file]);
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(join(y.dir, 'bad.sieve'), 'frobnicate;\n');
  r = await y.cli(['sieve', 'put', 'bob@a.test', 'bad', join(y.dir, 'bad.sieve')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /1:1: /);
  assert.equal((await y.cli(['sieve', 'get', 'bob@a.test', 'plain'])).stdout, 'keep;\n');
  assert.equal((await y.cli(['sieve', 'activate', 'bob@a.test', 'plain'])).code, 0);
  assert.equal((await y.cli(['sieve', 'list', 'bob@a.test'])).stdout, 'office\nplain (active)\n');
  r = await y.cli(['sieve', 'remove', 'bob@a.test', 'plain']);
  assert.equal(r.code, 1, 'the active script cannot be removed');
  assert.equal((await y.cli(['sieve', 'deactivate', 'bob@a.test'])).code, 0);
  assert.equal((await y.cli(['sieve', 'remove', 'bob@a.test', 'plain'])).code, 0);
  assert.equal((await y.cli(['sieve', 'list', 'bob@a.test'])).stdout, 'office\n');
});
