// Transcript tests for submission (587 STARTTLS, 465 implicit TLS): AUTH, sender rules,
// Message-ID/Date, mixed local and remote recipients; and partial local delivery failures.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { hashPassword } from '../../auth/index.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd } from '../../../test/helpers/smtp-transcript.js';
import type { ListenerName } from '../../config/schema.js';

async function open(env: TestEnv, listener: ListenerName, tls = false, remoteAddress = '127.0.0.1'): Promise<PipeTransport> {
  const t = new PipeTransport(listener, { tls, remoteAddress });
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  return t;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const plain = (user: string, pw: string): string => b64(`\0${user}\0${pw}`);

describe('smtp submission', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ authConfig: { throttle_max_failures: 3 } });
    await env.store.addDomain('a.test');
    const hash = await hashPassword('secret');
    await env.store.addAccount('alice@a.test', hash);
    await env.store.addAccount('bob@a.test', hash);
    await env.store.addAlias('info@a.test', ['alice@a.test']);
  });
  after(() => env.close());

  async function login(listener: ListenerName = 'submission'): Promise<PipeTransport> {
    const t = await open(env, listener, listener === 'submissions');
    if (listener === 'submission') {
      await cmd(t, 'EHLO client.test');
      assert.match(await cmd(t, 'STARTTLS'), /^220 /);
    }
    await cmd(t, 'EHLO client.test');
    assert.match(await cmd(t, `AUTH PLAIN ${plain('alice@a.test', 'secret')}`), /^235 2\.7\.0/);
    return t;
  }

  test('before TLS: STARTTLS offered, AUTH neither offered nor accepted, MAIL needs AUTH', async () => {
    const t = await open(env, 'submission');
    const ehlo = await cmd(t, 'EHLO client.test');
    assert.ok(ehlo.includes('250-STARTTLS'));
    assert.ok(!ehlo.includes('AUTH'));
    assert.match(await cmd(t, `AUTH PLAIN ${plain('alice@a.test', 'secret')}`), /^538 5\.7\.11/);
    assert.match(await cmd(t, 'MAIL FROM:<alice@a.test>'), /^530 5\.7\.0/);
  });

  test('AUTH PLAIN and LOGIN after STARTTLS; bad password 535; cancel 501; once only', async () => {
    const t = await open(env, 'submission');
    await cmd(t, 'EHLO client.test');
    await cmd(t, 'STARTTLS');
    const ehlo = await cmd(t, 'EHLO client.test');
    assert.ok(ehlo.includes('250-AUTH PLAIN LOGIN\r\n'));
    assert.ok(!ehlo.includes('STARTTLS'));
    assert.match(await cmd(t, `AUTH PLAIN ${plain('alice@a.test', 'wrong')}`), /^535 5\.7\.8/);
    assert.match(await cmd(t, 'AUTH CRAM-MD5'), /^504 5\.5\.4/);
    assert.match(await cmd(t, 'AUTH PLAIN'), /^334 \r\n$/);
    assert.match(await cmd(t, '*'), /^501 5\.0\.0/);
    assert.match(await cmd(t, 'AUTH PLAIN !!!'), /^501 5\.5\.2/);
    assert.match(await cmd(t, 'AUTH LOGIN'), /^334 VXNlcm5hbWU6\r\n$/);
    assert.match(await cmd(t, b64('alice@a.test')), /^334 UGFzc3dvcmQ6\r\n$/);
    assert.match(await cmd(t, b64('secret')), /^235 2\.7\.0/);
    assert.match(await cmd(t, `AUTH PLAIN ${plain('alice@a.test', 'secret')}`), /^503 5\.5\.1/);
  });

  test('implicit TLS (submissions): AUTH at once, no STARTTLS', async () => {
    const t = await open(env, 'submissions', true);
    const ehlo = await cmd(t, 'EHLO client.test');
    assert.ok(ehlo.includes('AUTH PLAIN LOGIN'));
    assert.ok(!ehlo.includes('STARTTLS'));
  });

  test('AUTH on the inbound listener is 502', async () => {
    const t = await open(env, 'smtp', true);
    await cmd(t, 'EHLO client.test');
    assert.match(await cmd(t, `AUTH PLAIN ${plain('alice@a.test', 'secret')}`), /^502 5\.5\.1/);
  });

  test('the sender must be the user: MAIL FROM and From:', async () => {
    const t = await login();
    assert.match(await cmd(t, 'MAIL FROM:<bob@a.test>'), /^553 5\.7\.1/);
    assert.match(await cmd(t, 'MAIL FROM:<info@a.test>'), /^250/, 'an alias of the user');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, 'From: Bob <bob@a.test>\r\nSubject: x\r\n\r\nforged\r\n.'), /^553 5\.7\.1/);
    await cmd(t, 'MAIL FROM:<ALICE@a.test>');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, 'Subject: x\r\n\r\nno from\r\n.'), /^550 5\.7\.1/);
    assert.equal((await env.mailbox('bob@a.test')).length, 0);
  });

  test('mixed local and remote recipients; Message-ID and Date added; ESMTPSA', async () => {
    const t = await login();
    await cmd(t, 'MAIL FROM:<alice@a.test>');
    assert.match(await cmd(t, 'RCPT TO:<bob@a.test>'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<carol@remote.test> NOTIFY=FAILURE'), /^250/);
    assert.match(await cmd(t, 'DATA'), /^354/);
    const r = await cmd(t, 'From: "Alice" <info@a.test>\r\nTo: bob@a.test, carol@remote.test\r\nSubject: mixed\r\n\r\nhi\r\n.');
    const id = /^250 2\.0\.0 Ok: queued as (\S+)\r\n$/.exec(r)?.[1];
    assert.ok(id, r);
    const local = (await env.mailbox('bob@a.test')).at(-1)!.toString();
    assert.match(local, /^Return-Path: <alice@a\.test>\r\nReceived: from client\.test \(unknown \[127\.0\.0\.1\]\)\r\n\tby mx\.a\.test \(Yubin\) with ESMTPSA\r\n\t\(TLSv1\.3 cipher TLS_AES_256_GCM_SHA384\) id \S+;\r\n\t.*\r\nDate: .*\r\nMessage-ID: <.*@mx\.a\.test>\r\nFrom: "Alice" <info@a\.test>\r\n/);
    const q = (await env.outbound.list()).find((x) => x.id === id)!;
    assert.ok(q, 'the reply carries the queue id');
    assert.equal(q.from, 'alice@a.test');
    assert.equal(q.submittedBy, 'alice@a.test');
    assert.deepEqual(q.recipients, [{ address: 'carol@remote.test', notify: ['FAILURE'], orcpt: { type: 'rfc822', address: 'carol@remote.test' } }]);
    const queued = q.bytes.toString();
    assert.ok(!queued.startsWith('Return-Path'));
    assert.equal(queued, local.slice(local.indexOf('\r\n') + 2), 'the same bytes but for Return-Path');
  });

  test("the user's addresses are looked up once per transaction (at MAIL), again for the next one", async () => {
    const store = env.store as unknown as { sendableAddresses(id: number): Promise<string[]> };
    const real = store.sendableAddresses.bind(store);
    let lookups = 0;
    store.sendableAddresses = (id: number) => {
      lookups++;
      return real(id);
    };
    try {
      await env.store.addAlias('sales@a.test', ['alice@a.test']);
      const t = await login();
      await cmd(t, 'MAIL FROM:<sales@a.test>');
      await cmd(t, 'RCPT TO:<bob@a.test>');
      await cmd(t, 'DATA');
      assert.match(await cmd(t, 'From: sales@a.test\r\nSubject: x\r\n\r\none\r\n.'), /^250/);
      assert.equal(lookups, 1, 'MAIL looked them up; the From: check at the end of DATA used the same');
      // the null sender: nothing to check at MAIL, looked up for the From: check
      await cmd(t, 'MAIL FROM:<>');
      await cmd(t, 'RCPT TO:<bob@a.test>');
      await cmd(t, 'DATA');
      assert.match(await cmd(t, 'From: alice@a.test\r\nSubject: x\r\n\r\ntwo\r\n.'), /^250/);
      assert.equal(lookups, 2);
      // a new transaction looks again: an alias removed meanwhile is no longer the user's
      await env.store.removeAlias('sales@a.test');
      assert.match(await cmd(t, 'MAIL FROM:<sales@a.test>'), /^553 5\.7\.1/);
      assert.equal(lookups, 3);
    } finally {
      store.sendableAddresses = real;
    }
  });

  test('a message with Message-ID and Date keeps them', async () => {
    const t = await login('submissions');
    await cmd(t, 'MAIL FROM:<alice@a.test>');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    await cmd(t, 'DATA');
    const msg = 'Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <given@client.test>\r\nFrom: alice@a.test\r\n\r\nx\r\n';
    assert.match(await cmd(t, msg + '.'), /^250/);
    const got = (await env.mailbox('bob@a.test')).at(-1)!.toString();
    assert.ok(got.endsWith(msg));
    assert.equal(got.match(/^Message-ID:/gim)!.length, 1);
  });

  test('AUTH failures are throttled by the auth core: 454 4.7.0', async () => {
    // Another IP, so the other tests' logins are not affected.
    const t = await open(env, 'submissions', true, '127.0.0.9');
    await cmd(t, 'EHLO client.test');
    let last = '';
    for (let i = 0; i < 6; i++) last = await cmd(t, `AUTH PLAIN ${plain('bob@a.test', 'wrong' + i)}`);
    assert.match(last, /^454 4\.7\.0/);
    assert.match(await cmd(t, `AUTH PLAIN ${plain('bob@a.test', 'secret')}`), /^454 4\.7\.0/, 'even the right password, for now');
  });
});

describe('partial local delivery failure', () => {
  test('over quota after RCPT: the others get it, the failed one goes to the queue; all failing is 452', async () => {
    const env = await createTestEnv();
    try {
      await env.store.addDomain('a.test');
      await env.store.addAccount('small@a.test', 'x', 100);
      await env.store.addAccount('bob@a.test', 'x');
      await env.store.addAlias('team@a.test', ['small@a.test', 'bob@a.test']);
      const t = new PipeTransport('smtp');
      t.attach(env.factory);
      await t.waitFor(/^220 /);
      await cmd(t, 'EHLO c.test');
      await cmd(t, 'MAIL FROM:<x@b.test>');
      await cmd(t, 'RCPT TO:<team@a.test>');
      await cmd(t, 'DATA');
      const big = `Subject: big\r\n\r\n${'z'.repeat(300)}\r\n`;
      const r = await cmd(t, big + '.');
      const id = /queued as (\S+)/.exec(r)?.[1];
      assert.ok(id, r);
      assert.equal((await env.mailbox('bob@a.test')).length, 1);
      assert.equal((await env.mailbox('small@a.test')).length, 0);
      const q = (await env.outbound.list()).find((x) => x.id === id)!;
      assert.deepEqual(q.recipients, [{ address: 'small@a.test', orcpt: { type: 'rfc822', address: 'team@a.test' } }]);
      await cmd(t, 'MAIL FROM:<x@b.test>');
      await cmd(t, 'RCPT TO:<small@a.test>');
      await cmd(t, 'DATA');
      assert.match(await cmd(t, big + '.'), /^452 4\.2\.2/);
    } finally {
      await env.close();
    }
  });
});
