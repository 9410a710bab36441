// SMTP with real, independent clients over loopback, against `yubin serve` started as a user
// starts it: nodemailer (587 STARTTLS + AUTH, 465 implicit TLS), Python's smtplib, swaks
// (pipelining, TLS + AUTH), and a raw socket for CHUNKING (swaks 20201014 has no BDAT).
// Messages are read back byte for byte from the store.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import nodemailer from 'nodemailer';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { LineClient } from '../helpers/lineclient.js';
import { openStore } from '../../src/store/index.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';

function run(cmd: string, args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const RECEIVED = /^Received: from [^\r\n]+\r\n\tby mail\.example\.test \(Yubin\) with ((?:ESMTP|UTF8SMTP)\w*)(?:\r\n\t\(TLSv1\.[23] cipher [A-Z0-9_-]+\))? id [A-Z0-9]+(?:\r\n\tfor <[^>]+>)?;\r\n\t\w{3}, \d+ \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n/;

describe('smtp with real clients', () => {
  let inst: YubinInstance;
  let dns: TestDnsServer;
  before(async () => {
    // Every DNS question (SPF, DMARC, MX of remote recipients) goes to a loopback server with no records.
    dns = await startDnsServer();
    inst = await startYubin({
      config: { dns: { servers: [dns.address], timeout: 1 } },
      domains: ['a.test'],
      users: [
        { address: 'alice@a.test', password: 'secret' },
        { address: 'bob@a.test', password: 'secret' },
      ],
    });
  });
  after(async () => {
    await inst.destroy();
    await dns.close();
  });

  /** The raw bytes of the newest message in a mailbox, read from the store on disk. */
  async function newest(address: string): Promise<string> {
    const store = await openStore(inst.dataDir);
    try {
      const acc = (await store.getAccount(address))!;
      const box = (await store.getMailbox(acc.id, 'INBOX'))!;
      const msgs = await store.listMessages(box.id);
      assert.ok(msgs.length, `no message for ${address}`);
      return (await store.blobs.read(msgs.at(-1)!.blobId)).toString('utf8');
    } finally {
      await store.close();
    }
  }

  /** Checks what we prepended and that the rest is exactly what the client sent. */
  function assertStored(stored: string, sender: string, raw: string, protocol: string): void {
    const rp = `Return-Path: <${sender}>\r\n`;
    assert.ok(stored.startsWith(rp), stored.slice(0, 200));
    // On the inbound listener the checks add their fields (Authentication-Results, X-Spam-*) above Received.
    const checkFields = /^(?:(?:Authentication-Results|X-Spam-[\w-]+|Received-SPF|ARC-[\w-]+):[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*/;
    const afterRp = stored.slice(rp.length);
    const rest = afterRp.slice(checkFields.exec(afterRp)![0].length);
    const m = RECEIVED.exec(rest);
    assert.ok(m, rest.slice(0, 400));
    assert.equal(m[1], protocol);
    assert.equal(rest.slice(m[0].length), raw, 'the message byte for byte');
  }

  const rawMessage = (from: string, to: string, subject: string): string =>
    `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@client.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHällo ${subject}\r\n.leading dot\r\n`;

  test('nodemailer on 587: STARTTLS + AUTH PLAIN, local delivery byte for byte', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: inst.port('submission'), secure: false, requireTLS: true, auth: { user: 'alice@a.test', pass: 'secret' }, tls: { rejectUnauthorized: false } });
    const raw = rawMessage('alice@a.test', 'bob@a.test', 'nodemailer 587');
    const info = await t.sendMail({ envelope: { from: 'alice@a.test', to: ['bob@a.test'] }, raw });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as \S+/);
    assertStored(await newest('bob@a.test'), 'alice@a.test', raw, 'ESMTPSA');
    t.close();
  });

  test('nodemailer on 465: implicit TLS + AUTH, local and remote recipients', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: inst.port('submissions'), secure: true, auth: { user: 'bob@a.test', pass: 'secret' }, tls: { rejectUnauthorized: false } });
    const raw = rawMessage('bob@a.test', 'alice@a.test', 'nodemailer 465');
    const info = await t.sendMail({ envelope: { from: 'bob@a.test', to: ['alice@a.test', 'carol@remote.example'] }, raw });
    assert.deepEqual(info.accepted.sort(), ['alice@a.test', 'carol@remote.example']);
    assertStored(await newest('alice@a.test'), 'bob@a.test', raw, 'ESMTPSA');
    await assert.rejects(
      t.sendMail({ envelope: { from: 'alice@a.test', to: ['bob@a.test'] }, raw }),
      (err: { responseCode?: number }) => err.responseCode === 553,
    );
    t.close();
  });

  test("Python's smtplib: submission with STARTTLS + login, and inbound without auth (SMTPUTF8)", async () => {
    const script = `
import smtplib, ssl, sys
port_sub, port_mx = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
raw = sys.stdin.buffer.read()
with smtplib.SMTP('127.0.0.1', port_sub) as s:
    s.starttls(context=ctx)
    s.login('alice@a.test', 'secret')
    s.sendmail('alice@a.test', ['bob@a.test'], raw)
with smtplib.SMTP('127.0.0.1', port_mx) as s:
    s.ehlo('client.test')
    assert s.has_extn('smtputf8') and s.has_extn('chunking')
    s.sendmail('jörg@b.example', ['alice@a.test'], raw, mail_options=['SMTPUTF8', 'BODY=8BITMIME'])
    try:
        s.sendmail('x@b.example', ['victim@elsewhere.example'], raw)
        print('RELAYED')
    except smtplib.SMTPRecipientsRefused as e:
        print('refused', e.recipients['victim@elsewhere.example'][0])
`;
    const raw = rawMessage('alice@a.test', 'bob@a.test', 'smtplib');
    const r = await run('python3', ['-c', script, String(inst.port('submission')), String(inst.port('smtp'))], raw);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'refused 550');
    assertStored(await newest('bob@a.test'), 'alice@a.test', raw, 'ESMTPSA');
    assertStored(await newest('alice@a.test'), 'jörg@b.example', raw, 'UTF8SMTP');
  });

  test('swaks: pipelining on the inbound listener, STARTTLS + AUTH LOGIN on submission, relay refused', async () => {
    const mx = await run('swaks', ['--server', '127.0.0.1', '--port', String(inst.port('smtp')), '--from', 'x@b.example', '--to', 'alice@a.test', '--pipeline', '--helo', 'client.test', '--header', 'Subject: swaks pipelined', '--body', 'piped']);
    assert.equal(mx.code, 0, mx.stdout + mx.stderr);
    assert.match(mx.stdout, /250-PIPELINING/);
    // MAIL, RCPT and DATA went out together, before any reply.
    assert.match(mx.stdout, / -> MAIL FROM:<x@b\.example>\n -> RCPT TO:<alice@a\.test>\n -> DATA\n<-  250 2\.1\.0 Ok\n<-  250 2\.1\.5 Ok\n<-  354 /);
    assert.match(mx.stdout, /<-  250 2\.0\.0 Ok: queued as/);
    assert.match(await newest('alice@a.test'), /Subject: swaks pipelined\r\n/);
    const sub = await run('swaks', ['--server', '127.0.0.1', '--port', String(inst.port('submission')), '--tls', '--auth', 'LOGIN', '--auth-user', 'bob@a.test', '--auth-password', 'secret', '--from', 'bob@a.test', '--to', 'alice@a.test', '--header', 'From: bob@a.test', '--header', 'Subject: swaks auth']);
    assert.equal(sub.code, 0, sub.stdout + sub.stderr);
    assert.match(await newest('alice@a.test'), /with ESMTPSA[\s\S]*Subject: swaks auth\r\n/);
    const relay = await run('swaks', ['--server', '127.0.0.1', '--port', String(inst.port('smtp')), '--from', 'x@b.example', '--to', 'someone@elsewhere.example']);
    assert.notEqual(relay.code, 0);
    assert.match(relay.stdout, /550 5\.7\.1 Relaying denied/);
  });

  test('CHUNKING over a real socket: pipelined BDAT chunks, read back byte for byte', async () => {
    const c = await LineClient.connect(inst.port('smtp'));
    await c.smtpReply();
    assert.match(await c.smtp('EHLO client.test'), /250-CHUNKING\r\n/);
    const raw = rawMessage('x@b.example', 'bob@a.test', 'bdat');
    const bytes = Buffer.from(raw, 'utf8');
    const a = bytes.subarray(0, 50).toString('binary');
    const b = bytes.subarray(50).toString('binary');
    c.write(`MAIL FROM:<x@b.example> BODY=8BITMIME\r\nRCPT TO:<bob@a.test>\r\nBDAT ${50}\r\n${a}BDAT ${bytes.length - 50} LAST\r\n${b}`);
    const out = await c.waitFor(/Ok: queued as \S+\r\n$/);
    assert.match(out, /^250 2\.1\.0 Ok\r\n250 2\.1\.5 Ok\r\n250 2\.0\.0 50 octets received\r\n250 2\.0\.0 Ok: queued as \S+\r\n$/);
    assert.match(await c.smtp('QUIT'), /^221/);
    assertStored(await newest('bob@a.test'), 'x@b.example', raw, 'ESMTP');
  });

  test('STARTTLS injection over a real socket: the pipelined RSET gets no reply, EHLO is needed again', async () => {
    const c = await LineClient.connect(inst.port('submission'));
    await c.smtpReply();
    await c.smtp('EHLO client.test');
    c.write('STARTTLS\r\nRSET\r\n');
    assert.equal(await c.smtpReply(), '220 2.0.0 Ready to start TLS\r\n');
    await c.startTls();
    assert.match(await c.smtp('MAIL FROM:<alice@a.test>'), /^503 5\.5\.1 Send EHLO/);
    const ehlo = await c.smtp('EHLO client.test');
    assert.ok(!ehlo.includes('STARTTLS') && ehlo.includes('AUTH PLAIN LOGIN'), ehlo);
    assert.match(await c.smtp('STARTTLS'), /^503 5\.5\.1/);
    c.close();
  });

  test('smuggling over a real socket: one reply for the whole message, the inner transaction never runs', async () => {
    const c = await LineClient.connect(inst.port('smtp'));
    await c.smtpReply();
    await c.smtp('EHLO client.test');
    await c.smtp('MAIL FROM:<x@b.example>');
    await c.smtp('RCPT TO:<alice@a.test>');
    assert.match(await c.smtp('DATA'), /^354/);
    c.write('Subject: outer\r\n\r\nhello\n.\nMAIL FROM:<admin@a.test>\r\nRCPT TO:<bob@a.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n');
    assert.match(await c.smtpReply(), /^550 5\.6\.0/);
    assert.match(await c.smtp('NOOP'), /^250 2\.0\.0 Ok\r\n$/);
    c.close();
    assert.doesNotMatch(await newest('bob@a.test'), /smuggled/);
  });
});
