// Transcript tests for forwarding: an alias on the inbound listener that expands to a remote
// address enqueues that copy with an SRS envelope sender and an ARC seal; bounces to our SRS
// addresses are accepted and sent on to the original sender.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { authenticate } from 'mailauth';
import { PipeTransport } from '../helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../helpers/smtp-context.js';
import { cmd } from '../helpers/smtp-transcript.js';
import type { ListenerName } from '../../src/config/schema.js';
import { hashPassword } from '../../src/auth/index.js';
import { createSrs } from '../../src/forward/srs.js';
import { dkimRecord, ensureDomainKeys } from '../../src/checks/dkim-keys.js';

async function open(env: TestEnv, listener: ListenerName = 'smtp', tls = false): Promise<PipeTransport> {
  const t = new PipeTransport(listener, { tls });
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  await cmd(t, 'EHLO client.b.test');
  return t;
}

async function send(t: PipeTransport, from: string, rcpts: string[], body: string): Promise<string> {
  assert.match(await cmd(t, `MAIL FROM:<${from}>`), /^250 2\.1\.0/);
  for (const r of rcpts) assert.match(await cmd(t, `RCPT TO:<${r}>`), /^250 2\.1\.5/, r);
  assert.match(await cmd(t, 'DATA'), /^354 /);
  const r = await cmd(t, body + '.');
  assert.match(r, /^250 2\.0\.0 Ok: queued as /);
  return /queued as (\S+)/.exec(r)![1]!;
}

const MSG = 'From: x@b.test\r\nTo: fwd@a.test\r\nSubject: forward me\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m1@b.test>\r\n\r\nHello\r\n';

async function setup(env: TestEnv): Promise<void> {
  await env.store.addDomain('a.test');
  await env.store.addDomain('c.test');
  const hash = await hashPassword('secret');
  await env.store.addAccount('alice@a.test', hash);
  await env.store.addAlias('fwd@a.test', ['alice@a.test', 'friend@remote.test']);
  await env.store.addAlias('out@c.test', ['other@remote2.test']);
}

describe('smtp forwarding: SRS and ARC', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ checksConfig: { srs_secret: 'forward-test-secret' } });
    await setup(env);
    ensureDomainKeys(env.ctx.config.data_dir, 'a.test');
  });
  after(() => env.close());

  const srs = () => createSrs(env.ctx.config);
  const newOutbound = async (before: number) => (await env.outbound.list()).slice(before);

  test('an alias to a remote address: the copy is enqueued from an SRS address and ARC-sealed by the alias domain', async () => {
    const n = (await env.outbound.list()).length;
    const t = await open(env);
    const id = await send(t, 'x@b.test', ['fwd@a.test'], MSG);
    // the local target keeps the original sender
    assert.match((await env.mailbox('alice@a.test')).at(-1)!.toString(), /^Return-Path: <x@b\.test>\r\n/);
    const q = await newOutbound(n);
    assert.equal(q.length, 1);
    assert.equal(q[0]!.id, id);
    assert.deepEqual(q[0]!.recipients, [{ address: 'friend@remote.test', orcpt: { type: 'rfc822', address: 'fwd@a.test' } }]);
    assert.match(q[0]!.from, /^SRS0=[^=]{4}=[A-Z2-7]{2}=b\.test=x@mx\.a\.test$/);
    assert.equal(srs().reverse(q[0]!.from), 'x@b.test', 'the SRS address leads back to the sender');

    const text = q[0]!.bytes.toString();
    assert.match(text, /^ARC-Seal: i=1; /);
    assert.match(text, /ARC-Message-Signature: i=1; /);
    assert.match(text, /ARC-Authentication-Results: i=1; mx\.a\.test/);
    assert.match(text, /\r\nReceived: from client\.b\.test /);
    assert.ok(!text.includes('Return-Path'));
    assert.ok(text.endsWith('\r\n\r\nHello\r\n'));

    // The seal verifies at the next hop (the DNS serves a.test's key).
    const keys = ensureDomainKeys(env.ctx.config.data_dir, 'a.test');
    const resolver = async (name: string, type: string): Promise<string[][]> => {
      const key = keys.find((k) => `${k.selector}._domainkey.a.test` === name.toLowerCase());
      if (type === 'TXT' && key) return [[dkimRecord(key)]];
      throw Object.assign(new Error(`no ${type} ${name}`), { code: 'ENOTFOUND' });
    };
    const res = await authenticate(q[0]!.bytes, { resolver, ip: '192.0.2.1', helo: 'mx.a.test', sender: q[0]!.from, mta: 'next.test' });
    assert.equal(res.arc && res.arc.status.result, 'pass');
    assert.equal(res.arc && res.arc.i, 1);
    assert.match(q[0]!.bytes.toString(), /ARC-Seal: i=1; a=rsa-sha256; .*d=a\.test;/s);
  });

  test('the null sender stays null; a domain without a DKIM key forwards unsealed', async () => {
    const n = (await env.outbound.list()).length;
    const t = await open(env);
    await send(t, '', ['out@c.test'], MSG);
    const q = await newOutbound(n);
    assert.equal(q.length, 1);
    assert.equal(q[0]!.from, '');
    assert.deepEqual(q[0]!.recipients.map((r) => r.address), ['other@remote2.test']);
    assert.match(q[0]!.bytes.toString(), /^Received: from client\.b\.test /);
  });

  test('aliases of two domains in one message: one queue message per seal', async () => {
    const n = (await env.outbound.list()).length;
    const t = await open(env);
    await send(t, 'y@b.test', ['fwd@a.test', 'out@c.test'], MSG);
    const q = await newOutbound(n);
    assert.equal(q.length, 2);
    const sealed = q.find((x) => x.recipients[0]!.address === 'friend@remote.test')!;
    const plain = q.find((x) => x.recipients[0]!.address === 'other@remote2.test')!;
    assert.match(sealed.bytes.toString(), /^ARC-Seal: i=1; /);
    assert.match(plain.bytes.toString(), /^Received: /);
    for (const x of q) assert.equal(srs().reverse(x.from), 'y@b.test');
  });

  test('submission: an authenticated user forwarding through an alias keeps its own sender, unsealed', async () => {
    const n = (await env.outbound.list()).length;
    const t = await open(env, 'submissions', true);
    assert.match(await cmd(t, `AUTH PLAIN ${Buffer.from('\0alice@a.test\0secret').toString('base64')}`), /^235 /);
    await send(t, 'alice@a.test', ['fwd@a.test'], 'From: alice@a.test\r\nSubject: s\r\n\r\nhi\r\n');
    const q = await newOutbound(n);
    assert.equal(q.length, 1);
    assert.equal(q[0]!.from, 'alice@a.test');
    assert.ok(!q[0]!.bytes.toString().includes('ARC-Seal'));
  });

  test('a bounce to our SRS address is accepted and sent on to the original sender', async () => {
    const bounceTo = srs().forward('orig@far.test');
    const n = (await env.outbound.list()).length;
    const t = await open(env);
    const id = await send(t, '', [bounceTo], 'From: MAILER-DAEMON@remote.test\r\nSubject: Undelivered\r\n\r\nbounce\r\n');
    const q = await newOutbound(n);
    assert.equal(q.length, 1);
    assert.equal(q[0]!.id, id);
    assert.equal(q[0]!.from, '');
    assert.deepEqual(q[0]!.recipients, [{ address: 'orig@far.test', orcpt: { type: 'rfc822', address: bounceTo.replace(/@.*/, '@mx.a.test') } }]);
    assert.ok(!q[0]!.bytes.toString().includes('ARC-Seal'), 'a bounce on its way back is not sealed');
  });

  test('a bounce to the SRS address of a local sender is delivered locally', async () => {
    const before = (await env.mailbox('alice@a.test')).length;
    const n = (await env.outbound.list()).length;
    const t = await open(env);
    await send(t, '', [srs().forward('alice@a.test')], 'Subject: Undelivered\r\n\r\nbounce\r\n');
    assert.equal((await env.mailbox('alice@a.test')).length, before + 1);
    assert.equal((await newOutbound(n)).length, 0);
  });

  test('a forged, damaged or foreign SRS address is refused', async () => {
    const t = await open(env);
    assert.match(await cmd(t, 'MAIL FROM:<>'), /^250/);
    const good = srs().forward('orig@far.test');
    const forged = good.replace(/^SRS0=[^=]{4}=/, 'SRS0=AAAA=');
    assert.match(await cmd(t, `RCPT TO:<${forged}>`), /^550 5\.1\.1 Invalid or expired SRS address/);
    assert.match(await cmd(t, 'RCPT TO:<SRS0=zz@mx.a.test>'), /^550 5\.1\.1/);
    // Expired (older than 21 days, libsrs2's default): made 30 days ago.
    const old = srs().forward('orig@far.test', new Date(Date.now() - 30 * 86_400_000));
    assert.match(await cmd(t, `RCPT TO:<${old}>`), /^550 5\.1\.1/);
    // An SRS-looking address in another (not local) domain is relaying.
    assert.match(await cmd(t, `RCPT TO:<${good.replace(/@.*/, '@elsewhere.test')}>`), /^550 5\.7\.1 Relaying denied/);
  });
});

describe('smtp forwarding: arc_seal off', () => {
  test('no ARC fields, SRS still applied', async () => {
    const env = await createTestEnv({ checksConfig: { srs_secret: 's', arc_seal: false } });
    try {
      await setup(env);
      ensureDomainKeys(env.ctx.config.data_dir, 'a.test');
      const t = await open(env);
      await send(t, 'x@b.test', ['fwd@a.test'], MSG);
      const [q] = await env.outbound.list();
      assert.match(q!.from, /^SRS0=.*=b\.test=x@mx\.a\.test$/);
      assert.match(q!.bytes.toString(), /^Received: /);
    } finally {
      await env.close();
    }
  });
});
