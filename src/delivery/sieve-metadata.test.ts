// Sieve at delivery reads the recipient's IMAP METADATA entries (RFC 5490 over RFC 5464): a
// script that files by a mailbox's /private/comment and the server's /shared/admin entry, over
// SMTP into a real store; entry names are compared without case, invalid ones exist nowhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../test/helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../../test/helpers/smtp-context.js';
import { cmd } from '../../test/helpers/smtp-transcript.js';
import { hashPassword } from '../auth/index.js';

let env: TestEnv;
let acc: number;

before(async () => {
  env = await createTestEnv();
  await env.store.addDomain('a.test');
  acc = (await env.store.addAccount('meta@a.test', await hashPassword('secret'))).id;
});
after(() => env.close());

async function deliver(subject: string): Promise<void> {
  const t = new PipeTransport('smtp');
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  await cmd(t, 'EHLO client.b.test');
  assert.match(await cmd(t, 'MAIL FROM:<x@b.test>'), /^250 /);
  assert.match(await cmd(t, 'RCPT TO:<meta@a.test>'), /^250 /);
  assert.match(await cmd(t, 'DATA'), /^354 /);
  assert.match(await cmd(t, `From: x@b.test\r\nTo: meta@a.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@b.test>\r\n\r\nHi\r\n.`), /^250 /);
  await cmd(t, 'QUIT');
}

async function count(mailbox: string): Promise<number> {
  const box = await env.store.getMailbox(acc, mailbox);
  return box ? (await env.store.listMessages(box.id)).length : 0;
}

test('mboxmetadata and servermetadata see the entries set through the store', async () => {
  const script = [
    'require ["mboxmetadata", "servermetadata", "fileinto", "mailbox"];',
    'if metadata :is "Archive" "/Private/Comment" "catch-all" { fileinto "Archive"; }',
    'elsif servermetadataexists "/shared/admin" { fileinto :create "Admin"; }',
    'elsif metadataexists "INBOX" "/private/bad*name" { discard; }',
  ].join('\n');
  await env.store.sieve.putScript(acc, 's', script, { maxScripts: 0, maxBytes: 0 });
  await env.store.sieve.setActive(acc, 's');
  const limits = { maxEntries: 0, maxTotalBytes: 0 };
  await deliver('one');
  assert.equal(await count('INBOX'), 1, 'no entry: kept');
  await env.store.metadata.setMetadata(acc, null, [{ name: '/shared/admin', value: Buffer.from('mailto:root@a.test') }], limits);
  await deliver('two');
  assert.equal(await count('Admin'), 1, 'the server entry');
  const archive = (await env.store.getMailbox(acc, 'Archive'))!;
  await env.store.metadata.setMetadata(acc, archive.id, [{ name: '/private/comment', value: Buffer.from('catch-all') }], limits);
  await deliver('three');
  assert.equal(await count('Archive'), 1, 'the mailbox entry, its name compared without case');
  assert.equal(await count('INBOX'), 1);
});
