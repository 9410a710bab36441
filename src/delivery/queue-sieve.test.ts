// Sieve at the queue's local deliveries (src/queue/deliver-local.ts through src/delivery/sieve.ts):
// the same actions as at SMTP delivery, a reject becomes a bounce with the reason, retries send
// neither the redirect nor the vacation reply twice, a bounce from <> is filtered but never
// answered; and the real queue (openQueue's scheduler) runs the script.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createTestEnv, type TestEnv } from '../../test/helpers/smtp-context.js';
import { hashPassword } from '../auth/index.js';
import { QueueStore } from '../queue/queue.js';
import { deliverLocal } from '../queue/deliver-local.js';
import { openQueue } from '../queue/index.js';
import { REDIRECT_HEADER } from './sieve.js';
import { authenticate } from 'mailauth';
import { dkimRecord, ensureDomainKeys } from '../checks/dkim-keys.js';
import { until } from '../../test/helpers/until.js';

let env: TestEnv;
let queue: QueueStore;
let seq = 0;

before(async () => {
  env = await createTestEnv({ checksConfig: { srs_secret: 'queue-sieve-secret' } });
  await env.store.addDomain('a.test');
  const hash = await hashPassword('secret');
  for (const u of ['file', 'redir', 'vac', 'rej', 'plain', 'two1', 'two2']) await env.store.addAccount(`${u}@a.test`, hash);
  await env.store.addAlias('both@a.test', ['two1@a.test', 'two2@a.test']);
  queue = new QueueStore(join(env.dir, 'queue-data'));
});
after(async () => {
  await queue.close();
  await env.close();
});

async function script(address: string, text: string): Promise<void> {
  const acc = (await env.store.getAccount(address))!;
  await env.store.sieve.putScript(acc.id, 'test', text, { maxScripts: 0, maxBytes: 0 });
  await env.store.sieve.setActive(acc.id, 'test');
}

/** Queues a message for `to` and returns it as the scheduler would hand it to deliverLocal. */
async function queued(from: string, to: string, headers = 'Subject: hello\r\n') {
  const id = `<q${++seq}@b.test>`;
  const bytes = Buffer.from(`From: ${from || 'daemon@b.test'}\r\nTo: ${to}\r\nMessage-ID: ${id}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n${headers}\r\nHello\r\n`);
  const qid = await queue.enqueueBytes(bytes, { from, recipients: [{ address: to }], size: bytes.length, needsUtf8: false, headerFromDomain: 'b.test' }, Date.now());
  return (await queue.get(qid))!;
}

const sieveCtx = () => ({ config: env.ctx.config, outbound: env.outbound, logger: env.ctx.logger, now: () => new Date() });
const run = (msg: Awaited<ReturnType<typeof queued>>) => deliverLocal(env.store, queue, msg, msg.recipients, Date.now(), sieveCtx());

async function flagsIn(address: string, mailbox: string): Promise<string[][]> {
  const acc = (await env.store.getAccount(address))!;
  const box = await env.store.getMailbox(acc.id, mailbox);
  return box ? (await env.store.listMessages(box.id)).map((m) => m.flags) : [];
}

describe('sieve at the queue local delivery', () => {
  test('fileinto with flags, as at SMTP delivery; no script: INBOX', async () => {
    await script('file@a.test', 'require ["fileinto", "imap4flags"];\r\nif header :contains "subject" "list" { fileinto :flags "\\\\Seen" "Lists"; } else { keep; }\r\n');
    const acc = (await env.store.getAccount('file@a.test'))!;
    await env.store.createMailbox(acc.id, 'Lists');
    const [r] = await run(await queued('x@b.test', 'file@a.test', 'Subject: list mail\r\n'));
    assert.equal(r!.state, 'delivered');
    assert.deepEqual(await flagsIn('file@a.test', 'Lists'), [['\\Seen']]);
    assert.deepEqual(await flagsIn('file@a.test', 'INBOX'), []);
    await run(await queued('x@b.test', 'plain@a.test'));
    assert.equal((await flagsIn('plain@a.test', 'INBOX')).length, 1);
  });

  test('redirect: queued with SRS and the loop header; a retry of the same message does not redirect again', async () => {
    await script('redir@a.test', 'redirect "fwd@c.test";\r\n');
    const before = (await env.outbound.list()).length;
    const msg = await queued('x@b.test', 'redir@a.test');
    const [r] = await run(msg);
    assert.equal(r!.state, 'delivered');
    const out = (await env.outbound.list()).slice(before);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]!.recipients.map((x) => x.address), ['fwd@c.test']);
    assert.match(out[0]!.from, /^SRS0=/);
    assert.match(out[0]!.bytes.toString('latin1'), new RegExp(`^${REDIRECT_HEADER}: redir@a\\.test\\r\\n`, 'm'));
    assert.doesNotMatch(out[0]!.bytes.toString('latin1'), /^Return-Path:/m);
    assert.deepEqual(await flagsIn('redir@a.test', 'INBOX'), []);
    await run(msg);
    assert.equal((await env.outbound.list()).length, before + 1);
  });

  test('redirect: the copy is ARC-sealed by the user\'s domain (as alias forwarding does), and the seal verifies at the next hop', async () => {
    const keys = ensureDomainKeys(env.ctx.config.data_dir, 'a.test');
    const before = (await env.outbound.list()).length;
    await run(await queued('y@b.test', 'redir@a.test', 'Subject: sealed\r\n'));
    const [out] = (await env.outbound.list()).slice(before);
    const text = out!.bytes.toString('latin1');
    assert.match(text, /^ARC-Seal: i=1; a=rsa-sha256; .*d=a\.test;/s);
    assert.match(text, /\r\nARC-Message-Signature: i=1; /);
    assert.match(text, new RegExp(`\r\n${REDIRECT_HEADER}: redir@a\\.test\r\n`));
    const resolver = async (name: string, type: string): Promise<string[][]> => {
      const key = keys.find((k) => `${k.selector}._domainkey.a.test` === name.toLowerCase());
      if (type === 'TXT' && key) return [[dkimRecord(key)]];
      throw Object.assign(new Error(`no ${type} ${name}`), { code: 'ENOTFOUND' });
    };
    const res = await authenticate(out!.bytes, { resolver, ip: '192.0.2.1', helo: 'mx.a.test', sender: out!.from, mta: 'next.test' });
    assert.equal(res.arc && res.arc.status.result, 'pass');
  });

  test('vacation: one reply from <> with Auto-Submitted and In-Reply-To, not again on a retry; a bounce (<>) is filed but never answered', async () => {
    await script('vac@a.test', 'require ["vacation", "fileinto", "envelope"];\r\nif envelope :is "from" "" { fileinto "Bounces"; stop; }\r\nvacation :days 1 :subject "Away" "I am away.";\r\n');
    const acc = (await env.store.getAccount('vac@a.test'))!;
    await env.store.createMailbox(acc.id, 'Bounces');
    const before = (await env.outbound.list()).length;
    const msg = await queued('sender@b.test', 'vac@a.test');
    await run(msg);
    await run(msg);
    const out = (await env.outbound.list()).slice(before);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.from, '');
    const text = out[0]!.bytes.toString('utf8');
    assert.match(text, /^Auto-Submitted: auto-replied/m);
    assert.match(text, new RegExp(`^In-Reply-To: <q${seq}@b\\.test>`, 'm'));
    assert.equal((await flagsIn('vac@a.test', 'INBOX')).length, 2);
    const [r] = await run(await queued('', 'vac@a.test'));
    assert.equal(r!.state, 'delivered');
    assert.equal((await flagsIn('vac@a.test', 'Bounces')).length, 1);
    assert.equal((await env.outbound.list()).length, before + 1);
  });

  test('reject: the recipient bounces with the reason (the queue sends the DSN); nothing stored', async () => {
    await script('rej@a.test', 'require "reject";\r\nreject "Not wanted here";\r\n');
    const [r] = await run(await queued('x@b.test', 'rej@a.test'));
    assert.equal(r!.state, 'bounced');
    assert.equal(r!.status, '5.7.1');
    assert.match(r!.reply, /^550 5\.7\.1 <rej@a\.test>: Not wanted here$/);
    assert.deepEqual(await flagsIn('rej@a.test', 'INBOX'), []);
  });

  test('an alias reaching two accounts with scripts: each script decides its own copies from the one staged message', async () => {
    await script('two1@a.test', 'require ["fileinto", "mailbox"];\r\nfileinto :create "One";\r\n');
    await script('two2@a.test', 'require ["fileinto", "editheader"];\r\naddheader "X-Two" "yes";\r\nkeep;\r\n');
    const [r] = await run(await queued('x@b.test', 'both@a.test'));
    assert.equal(r!.state, 'delivered');
    assert.equal((await flagsIn('two1@a.test', 'One')).length, 1);
    assert.deepEqual(await flagsIn('two1@a.test', 'INBOX'), []);
    const [copy] = await env.mailbox('two2@a.test');
    assert.match(copy!.toString('latin1'), /^X-Two: yes\r\n/m);
    assert.match(copy!.toString('latin1'), /^Return-Path: <x@b\.test>\r\n/m);
  });

  test('the running queue (openQueue) runs the script of a local recipient', async () => {
    const q = await openQueue(env.ctx, { startScheduler: false, pollMs: 20 });
    try {
      await script('file@a.test', 'require ["fileinto", "mailbox"];\r\nfileinto :create "ViaQueue";\r\n');
      const bytes = Buffer.from('From: x@b.test\r\nTo: file@a.test\r\nSubject: queued\r\n\r\nHi\r\n');
      const blob = await env.store.blobs.stage(bytes);
      try {
        await q.enqueue({ from: 'x@b.test', recipients: [{ address: 'file@a.test' }], blob, smtputf8: false, body: '8BITMIME', requireTls: false });
      } finally {
        await env.store.blobs.discard(blob);
      }
      q.start();
      // Waits for the delivery (the queue polls every 20 ms), bounded.
      await until('the delivery through the queue', async () => (await flagsIn('file@a.test', 'ViaQueue')).length > 0, { everyMs: 10 });
      assert.equal((await flagsIn('file@a.test', 'ViaQueue')).length, 1);
    } finally {
      await q.stop(1000);
    }
  });
});
