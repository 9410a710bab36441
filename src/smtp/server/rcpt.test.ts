// Transcript tests: RCPT TO: local users, aliases, relay refusal, null sender, quota and recipient limits.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd } from '../../../test/helpers/smtp-transcript.js';
import { MSG, open, send, setup } from '../../../test/helpers/smtp-session.js';

describe('smtp session: recipients (RFC 5321 §4.1.1.3): local users, aliases, relay refusal, quota', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv();
    await setup(env);
  });
  after(() => env.close());

  test('null sender is accepted (bounces)', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    assert.match(await send(t, '', ['bob@a.test']), /^250 /);
    assert.match((await env.mailbox('bob@a.test')).at(-1)!.toString(), /^Return-Path: <>\r\n/);
  });

  test('unknown users and relay attempts are refused; postmaster is accepted', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    await cmd(t, 'MAIL FROM:<x@b.test>');
    assert.match(await cmd(t, 'RCPT TO:<nobody@a.test>'), /^550 5\.1\.1/);
    assert.match(await cmd(t, 'RCPT TO:<x@remote.test>'), /^550 5\.7\.1/);
    assert.match(await cmd(t, 'RCPT TO:<x%remote.test@a.test>'), /^550 5\.7\.1/);
    assert.match(await cmd(t, 'RCPT TO:<remote.test!x@a.test>'), /^550 5\.7\.1/);
    assert.match(await cmd(t, 'RCPT TO:<"x@remote.test"@a.test>'), /^550 5\.7\.1/);
    assert.match(await cmd(t, 'RCPT TO:<@a.test:x@remote.test>'), /^550 5\.7\.1/);
    assert.match(await cmd(t, 'RCPT TO:<x@remote.test@a.test>'), /^501 5\.1\.3/);
    assert.match(await cmd(t, 'RCPT TO:<x@[127.0.0.1]>'), /^550 5\.7\.1/);
    assert.match(await cmd(t, 'RCPT TO:<@a.test:alice@a.test>'), /^250 /, 'a source route is ignored');
    assert.match(await cmd(t, 'RCPT TO:<Postmaster>'), /^250 /);
    assert.match(await cmd(t, 'RSET'), /^250/);
    assert.equal((await env.outbound.list()).length, 0);
  });

  test('aliases expand and recipients are de-duplicated; remote alias targets go to the queue without Return-Path', async () => {
    const before = { alice: (await env.mailbox('alice@a.test')).length, bob: (await env.mailbox('bob@a.test')).length };
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    const r = await send(t, 'x@b.test', ['alice@a.test', 'sales@a.test', 'ALICE@A.TEST', 'fwd@a.test']);
    const id = /queued as (\S+)/.exec(r)![1];
    assert.equal((await env.mailbox('alice@a.test')).length, before.alice + 1);
    assert.equal((await env.mailbox('bob@a.test')).length, before.bob + 1);
    const q = await env.outbound.list();
    assert.equal(q.length, 1);
    assert.equal(q[0]!.id, id, 'the reply carries the queue id');
    assert.deepEqual(q[0]!.recipients, [{ address: 'carol@remote.test', orcpt: { type: 'rfc822', address: 'fwd@a.test' } }]);
    // Forwarded from outside: the envelope sender is rewritten with SRS (forward.test.ts has the rest).
    assert.match(q[0]!.from, /^SRS0=[^=]{4}=[A-Z2-7]{2}=b\.test=x@mx\.a\.test$/);
    // a.test has no DKIM key here: no ARC seal
    assert.match(q[0]!.bytes.toString(), /^Received: from c\.test /);
    assert.ok(!q[0]!.bytes.toString().includes('Return-Path'));
    assert.ok(!q[0]!.bytes.toString().includes('\tfor <'), 'no "for" with several recipients');
  });

  test('a full mailbox is 452 4.2.2 at RCPT; over max_recipients 452 4.5.3 and the accepted ones are kept', async () => {
    const full = await env.store.getAccount('full@a.test');
    const fill = await env.store.blobs.stage(Buffer.from('Subject: fill\r\n\r\n0123456789\r\n'));
    await env.store.deliver(fill, [{ accountId: full!.id }]);
    await env.store.blobs.discard(fill);
    await env.store.setQuota('full@a.test', 10);
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    await cmd(t, 'MAIL FROM:<x@b.test>');
    assert.match(await cmd(t, 'RCPT TO:<full@a.test>'), /^452 4\.2\.2/);
    assert.match(await cmd(t, 'RSET'), /^250/);
    const small = await createTestEnv({ smtp: { max_recipients: 2 } });
    try {
      await setup(small);
      const t2 = new PipeTransport('smtp');
      t2.attach(small.factory);
      await t2.waitFor(/^220 /);
      await cmd(t2, 'EHLO c.test');
      await cmd(t2, 'MAIL FROM:<x@b.test>');
      assert.match(await cmd(t2, 'RCPT TO:<alice@a.test>'), /^250/);
      assert.match(await cmd(t2, 'RCPT TO:<bob@a.test>'), /^250/);
      assert.match(await cmd(t2, 'RCPT TO:<sales@a.test>'), /^452 4\.5\.3/);
      assert.match(await cmd(t2, 'DATA'), /^354/);
      assert.match(await cmd(t2, MSG + '.'), /^250/);
      assert.equal((await small.mailbox('alice@a.test')).length, 1);
      assert.equal((await small.mailbox('bob@a.test')).length, 1);
    } finally {
      await small.close();
    }
  });
});
