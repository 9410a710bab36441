// Transcript tests for the checks on every listener: the per-user submission rate limit and the
// forged Authentication-Results removal run on submission/submissions with the real inbound
// checks (buildInboundChecks), without SPF/DMARC; and per-recipient Junk (quarantineRecipients).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../helpers/smtp-context.js';
import { cmd } from '../helpers/smtp-transcript.js';
import type { ListenerName } from '../../src/config/schema.js';
import type { Check, CheckData } from '../../src/pipeline/types.js';
import { hashPassword } from '../../src/auth/index.js';
import { buildInboundChecks } from '../../src/checks/index.js';

async function open(env: TestEnv, listener: ListenerName): Promise<PipeTransport> {
  const t = new PipeTransport(listener, { tls: listener === 'submissions' });
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  await cmd(t, 'EHLO client.test');
  return t;
}

async function login(env: TestEnv, user: string, listener: ListenerName = 'submissions'): Promise<PipeTransport> {
  const t = new PipeTransport(listener, { tls: true });
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  await cmd(t, 'EHLO client.test');
  assert.match(await cmd(t, `AUTH PLAIN ${Buffer.from(`\0${user}\0secret`).toString('base64')}`), /^235 /);
  return t;
}

async function data(t: PipeTransport, body: string): Promise<string> {
  assert.match(await cmd(t, 'DATA'), /^354 /);
  return cmd(t, body + '.');
}

describe('smtp checks on submission listeners (per-user rate limit, forged Authentication-Results)', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({
      checksConfig: { ratelimit_user_messages: 2, ratelimit_user_recipients: 3 },
      buildChecks: (ctx) => buildInboundChecks({ config: ctx.config, resolver: ctx.resolver, store: ctx.store, logger: ctx.logger }),
    });
    await env.store.addDomain('a.test');
    const hash = await hashPassword('secret');
    for (const u of ['alice', 'bob', 'carol']) await env.store.addAccount(`${u}@a.test`, hash);
  });
  after(() => env.close());

  test('the (N+1)th message of a user in the hour is 451 4.7.1, on either submission listener; other users go on', async () => {
    // message 1 over submissions (465), message 2 over submission (587 after STARTTLS)
    const t1 = await login(env, 'alice@a.test', 'submissions');
    assert.match(await cmd(t1, 'MAIL FROM:<alice@a.test>'), /^250/);
    assert.match(await cmd(t1, 'RCPT TO:<bob@a.test>'), /^250/);
    assert.match(await data(t1, 'From: alice@a.test\r\nSubject: 1\r\n\r\none\r\n'), /^250 /);

    const t2 = new PipeTransport('submission');
    t2.attach(env.factory);
    await t2.waitFor(/^220 .*\r\n/);
    await cmd(t2, 'EHLO client.test');
    assert.match(await cmd(t2, 'STARTTLS'), /^220 /);
    await cmd(t2, 'EHLO client.test');
    assert.match(await cmd(t2, `AUTH PLAIN ${Buffer.from('\0alice@a.test\0secret').toString('base64')}`), /^235 /);
    assert.match(await cmd(t2, 'MAIL FROM:<alice@a.test>'), /^250/);
    assert.match(await cmd(t2, 'RCPT TO:<bob@a.test>'), /^250/);
    assert.match(await data(t2, 'From: alice@a.test\r\nSubject: 2\r\n\r\ntwo\r\n'), /^250 /);

    // the third message in the hour: refused at MAIL FROM with 451 4.7.1
    assert.match(await cmd(t1, 'MAIL FROM:<alice@a.test>'), /^451 4\.7\.1 Rate limit exceeded: too many messages per hour from this user/);
    assert.match(await cmd(t2, 'MAIL FROM:<alice@a.test>'), /^451 4\.7\.1 /);
    assert.equal((await env.mailbox('bob@a.test')).length, 2);

    // another user is not limited by alice's count
    const t3 = await login(env, 'bob@a.test');
    assert.match(await cmd(t3, 'MAIL FROM:<bob@a.test>'), /^250/);
  });

  test('recipients per hour: past the limit 451 4.7.1 at RCPT, the accepted ones kept', async () => {
    const t = await login(env, 'carol@a.test');
    assert.match(await cmd(t, 'MAIL FROM:<carol@a.test>'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<alice@a.test>'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<bob@a.test>'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<x@remote.test>'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<y@remote.test>'), /^451 4\.7\.1 Rate limit exceeded: too many recipients per hour/);
    assert.match(await data(t, 'From: carol@a.test\r\nSubject: r\r\n\r\nr\r\n'), /^250 /);
    const q = await env.outbound.list();
    assert.deepEqual(q.at(-1)!.recipients.map((r) => r.address), ['x@remote.test']);
  });

  test('submission: a forged Authentication-Results claiming our name is removed; no SPF/DKIM/DMARC, no spam score', async () => {
    const t = await login(env, 'bob@a.test');
    assert.match(await cmd(t, 'MAIL FROM:<bob@a.test>'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<carol@a.test>'), /^250/);
    const body = 'Authentication-Results: mx.a.test; dkim=pass header.d=bank.test\r\nAuthentication-Results: other.test; spf=none\r\nX-Spam-Status: No\r\nFrom: bob@a.test\r\nSubject: ar\r\n\r\nx\r\n';
    assert.match(await data(t, body), /^250 /);
    const got = (await env.mailbox('carol@a.test')).at(-1)!.toString();
    assert.ok(!got.includes('dkim=pass'), 'the forged field is gone');
    assert.ok(got.includes('Authentication-Results: other.test; spf=none\r\n'), 'a foreign one stays');
    assert.ok(got.includes('X-Spam-Status: No\r\n'), 'not scored on submission: the sender’s own field stays');
    assert.ok(!/^Authentication-Results: mx\.a\.test/m.test(got), 'no results of ours: submission is not authenticated by SPF/DMARC');
    assert.ok(!got.includes('X-Spam-Score'));
  });

  test('the inbound listener from loopback (trusted) is not rate limited per user', async () => {
    const t = await open(env, 'smtp');
    for (let i = 0; i < 3; i++) {
      assert.match(await cmd(t, 'MAIL FROM:<alice@a.test>'), /^250/, `message ${i}`);
      assert.match(await cmd(t, 'RSET'), /^250/);
    }
  });
});

describe('smtp per-recipient Junk (quarantineRecipients)', () => {
  let env: TestEnv;
  let junkFor: string[] = [];
  const seen: CheckData[] = [];
  const checks: Check[] = [
    {
      name: 'per-user-threshold',
      async data(d) {
        seen.push(d);
        return { action: 'accept', headers: ['X-Spam-Score: 4.0'], quarantineRecipients: junkFor };
      },
    },
  ];
  before(async () => {
    env = await createTestEnv({ checks });
    await env.store.addDomain('a.test');
    for (const u of ['alice', 'bob', 'carol', 'dave']) await env.store.addAccount(`${u}@a.test`, 'x');
    await env.store.addAlias('team@a.test', ['carol@a.test', 'dave@a.test']);
  });
  after(() => env.close());

  async function deliver(rcpts: string[], junk: string[]): Promise<void> {
    junkFor = junk;
    const t = await open(env, 'smtp');
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test>'), /^250/);
    for (const r of rcpts) assert.match(await cmd(t, `RCPT TO:<${r}>`), /^250/);
    assert.match(await data(t, 'From: x@b.test\r\nSubject: maybe spam\r\n\r\nx\r\n'), /^250 /);
  }

  async function counts(): Promise<Record<string, [number, number]>> {
    const out: Record<string, [number, number]> = {};
    for (const u of ['alice', 'bob', 'carol', 'dave']) out[u] = [(await env.mailbox(`${u}@a.test`)).length, (await env.mailbox(`${u}@a.test`, 'Junk')).length];
    return out;
  }

  test('exactly the listed recipients get Junk; the others INBOX', async () => {
    await deliver(['alice@a.test', 'bob@a.test', 'team@a.test'], ['bob@a.test', 'team@a.test']);
    assert.deepEqual(seen.at(-1)!.recipients, ['alice@a.test', 'bob@a.test', 'team@a.test']);
    assert.deepEqual(await counts(), { alice: [1, 0], bob: [0, 1], carol: [0, 1], dave: [0, 1] });
    const junk = (await env.mailbox('bob@a.test', 'Junk'))[0]!.toString();
    assert.match(junk, /^Return-Path: <x@b\.test>\r\nX-Spam-Score: 4\.0\r\nReceived: /);
  });

  test('an account listed by its own address gets Junk also when reached through an alias', async () => {
    await deliver(['alice@a.test', 'team@a.test'], ['dave@a.test']);
    assert.deepEqual(await counts(), { alice: [2, 0], bob: [0, 1], carol: [1, 1], dave: [0, 2] });
  });

  test('an account also addressed directly and not listed keeps INBOX though an alias to it is listed', async () => {
    await deliver(['dave@a.test', 'team@a.test'], ['team@a.test']);
    assert.deepEqual(await counts(), { alice: [2, 0], bob: [0, 1], carol: [1, 2], dave: [1, 2] });
  });

  test('an empty list is plain accept: INBOX for all', async () => {
    await deliver(['bob@a.test'], []);
    assert.deepEqual((await counts()).bob, [1, 1]);
  });
});

describe('smtp per-user spam thresholds with the real checks (aliases expand to their users)', () => {
  test("an alias's users each get their own threshold: only the strict one gets Junk", async () => {
    const env = await createTestEnv({
      // no Date, no Message-ID: the score is at least 2; the server's threshold is far above it
      checksConfig: { spam_threshold: 50, user_spam_thresholds: { 'Carol@a.test': 0.1 } },
      buildChecks: (ctx) => buildInboundChecks({ config: ctx.config, resolver: ctx.resolver, store: ctx.store, logger: ctx.logger }),
    });
    try {
      await env.store.addDomain('a.test');
      for (const u of ['alice', 'carol', 'dave']) await env.store.addAccount(`${u}@a.test`, 'x');
      await env.store.addAlias('team@a.test', ['carol@a.test', 'dave@a.test']);
      const t = await open(env, 'smtp');
      assert.match(await cmd(t, 'MAIL FROM:<x@b.test>'), /^250/);
      assert.match(await cmd(t, 'RCPT TO:<alice@a.test>'), /^250/);
      assert.match(await cmd(t, 'RCPT TO:<team@a.test>'), /^250/);
      assert.match(await data(t, 'From: x@b.test\r\nSubject: offer\r\n\r\nbuy\r\n'), /^250 /);
      const junk = await env.mailbox('carol@a.test', 'Junk');
      assert.equal(junk.length, 1);
      assert.match(junk[0]!.toString(), /\r\nX-Spam-Status: No, score=\d/);
      assert.equal((await env.mailbox('carol@a.test')).length, 0);
      assert.equal((await env.mailbox('dave@a.test')).length, 1);
      assert.equal((await env.mailbox('alice@a.test')).length, 1);
      assert.equal((await env.mailbox('dave@a.test', 'Junk')).length, 0);
    } finally {
      await env.close();
    }
  });
});
