// End to end (issue 16 "done when"): Yubin started as a user starts it; a script uploaded over the
// real managesieve listener (STARTTLS, AUTHENTICATE PLAIN) files and flags mail sent over SMTP,
// redirects a copy and answers with vacation through the queue; the CLI manages the same scripts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { LineClient } from '../helpers/lineclient.js';

let y: YubinInstance;
before(async () => {
  y = await startYubin({ domains: ['a.test'], users: [{ address: 'bob@a.test', password: 'bob secret' }], config: { queue: { retry_initial: '1h' } } });
});
after(async () => {
  await y?.stop();
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

test('ManageSieve over the real listener with STARTTLS; SMTP mail is filed, flagged, redirected and answered', async () => {
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

  const s = await LineClient.connect(y.port('smtp'), y.host('smtp'));
  await s.smtpReply();
  await s.smtp('EHLO client.remote.test');
  assert.match(await s.smtp('MAIL FROM:<carol@sender.test>'), /^250 /);
  assert.match(await s.smtp('RCPT TO:<bob@a.test>'), /^250 /);
  assert.match(await s.smtp('DATA'), /^354 /);
  assert.match(await s.smtp('From: carol@sender.test\r\nTo: bob@a.test\r\nSubject: weekly report\r\nMessage-ID: <r1@sender.test>\r\n\r\nNumbers.\r\n.'), /^250 /);
  await s.smtp('QUIT');

  const show = await y.cli(['user', 'show', 'bob@a.test']);
  assert.match(show.stdout, /^ {2}Archive \(\\Archive\): 1 messages, 1 unseen/m, show.stdout);
  assert.match(show.stdout, /^ {2}INBOX: 0 messages/m, show.stdout);
  // The redirected copy (SRS sender) and the vacation reply (from <>) went to the queue (which may
  // already have tried them: the remote domains do not exist).
  const lines = y
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; to?: unknown; srs?: string });
  const redirect = lines.find((l) => l.msg === 'sieve redirect queued');
  assert.deepEqual(redirect?.to, ['boss@remote.test'], JSON.stringify(redirect));
  assert.match(redirect?.srs ?? '', /^SRS0=/);
  const vacation = lines.find((l) => l.msg === 'vacation reply queued');
  assert.equal(vacation?.to, 'carol@sender.test', JSON.stringify(vacation));
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
