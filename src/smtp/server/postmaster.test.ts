// postmaster@ and abuse@ of every local domain (RFC 5321 §4.5.1, RFC 2142 §4), with no alias
// made by hand: <Postmaster> without a domain in any case, the role addresses of each domain,
// on the smtp and submission listeners, through an alias, and through the queue's local
// delivery. They go to the domain's oldest account unless an account or alias of that address
// exists; a domain without an account answers 451 4.3.5 (docs/smtp.md "Postmaster and abuse").
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { until } from '../../../test/integration/outbound-helpers.js';
import { hashPassword } from '../../auth/index.js';
import { openQueue } from '../../queue/index.js';
import type { ListenerName } from '../../config/schema.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd } from '../../../test/helpers/smtp-transcript.js';

async function open(env: TestEnv, listener: ListenerName = 'smtp', tls = false): Promise<PipeTransport> {
  const t = new PipeTransport(listener, { tls });
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  return t;
}

/** One transaction to one recipient; returns the RCPT reply, and the end-of-data reply when RCPT was accepted. */
async function sendTo(t: PipeTransport, rcpt: string, subject: string, from = 'x@b.example'): Promise<{ rcpt: string; data?: string }> {
  assert.match(await cmd(t, `MAIL FROM:<${from}>`), /^250 /);
  const r = await cmd(t, `RCPT TO:<${rcpt}>`);
  if (!r.startsWith('250 ')) {
    assert.match(await cmd(t, 'RSET'), /^250 /);
    return { rcpt: r };
  }
  assert.match(await cmd(t, 'DATA'), /^354 /);
  return { rcpt: r, data: await cmd(t, `From: ${from}\r\nTo: ${rcpt}\r\nSubject: ${subject}\r\n\r\nreport\r\n.`) };
}

/** The Subject lines in a mailbox, in UID order. */
async function subjects(env: TestEnv, address: string): Promise<string[]> {
  return (await env.mailbox(address)).map((m) => /^Subject: (.*)$/m.exec(m.toString('utf8'))?.[1] ?? '');
}

describe('postmaster@ and abuse@ of every local domain', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv(); // hostname mx.a.test
    const hash = await hashPassword('secret');
    await env.store.addDomain('a.test');
    // The oldest account is the first made, not the first in alphabetical order.
    await env.store.addAccount('alice@a.test', hash);
    await env.store.addAccount('aaron@a.test', hash);
    await env.store.addDomain('b.test');
    await env.store.addAccount('zed@b.test', 'x');
    await env.store.addAccount('amy@b.test', 'x');
    // A catch-all does not take the role addresses.
    await env.store.addAlias('@b.test', ['amy@b.test']);
    await env.store.addDomain('d.test');
    await env.store.addAccount('first@d.test', 'x');
    await env.store.addAccount('boss@d.test', 'x');
    await env.store.addAccount('abuse@d.test', 'x');
    await env.store.addAlias('postmaster@d.test', ['boss@d.test']);
    // An alias to a role address follows it.
    await env.store.addAlias('webmaster@a.test', ['postmaster@a.test']);
    await env.store.addDomain('empty.test');
  });
  after(() => env.close());

  test('<postmaster>, <Postmaster>, postmaster@ and abuse@ are accepted and delivered into the first account\'s INBOX', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO client.b.example');
    const cases: Array<[string, string]> = [
      ['postmaster', 'bare'],
      ['Postmaster', 'bare mixed case'],
      ['POSTMASTER', 'bare upper case'],
      ['postmaster@a.test', 'domain'],
      ['PostMaster@A.Test', 'domain mixed case'],
      ['abuse@a.test', 'abuse'],
      ['Abuse@a.test', 'abuse mixed case'],
    ];
    for (const [rcpt, subject] of cases) {
      const r = await sendTo(t, rcpt, subject);
      assert.match(r.rcpt, /^250 2\.1\.5/, `RCPT TO:<${rcpt}>: ${r.rcpt}`);
      assert.match(r.data!, /^250 2\.0\.0/, rcpt);
    }
    assert.deepEqual(await subjects(env, 'alice@a.test'), cases.map(([, s]) => s));
    assert.deepEqual(await subjects(env, 'aaron@a.test'), []);
    // <postmaster> is the postmaster of the server's own domain (mx.a.test → a.test).
    assert.match((await env.mailbox('alice@a.test'))[0]!.toString('utf8'), /\tfor <postmaster@a\.test>;/);
  });

  test('the oldest account of each domain, not the catch-all; an explicit account or alias wins', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO client.b.example');
    assert.match((await sendTo(t, 'postmaster@b.test', 'pm b')).data!, /^250 /);
    assert.match((await sendTo(t, 'abuse@b.test', 'abuse b')).data!, /^250 /);
    assert.match((await sendTo(t, 'whoever@b.test', 'catch-all b')).data!, /^250 /);
    assert.deepEqual(await subjects(env, 'zed@b.test'), ['pm b', 'abuse b']);
    assert.deepEqual(await subjects(env, 'amy@b.test'), ['catch-all b']);

    assert.match((await sendTo(t, 'postmaster@d.test', 'pm d')).data!, /^250 /);
    assert.match((await sendTo(t, 'abuse@d.test', 'abuse d')).data!, /^250 /);
    assert.deepEqual(await subjects(env, 'boss@d.test'), ['pm d'], 'the alias postmaster@d.test');
    assert.deepEqual(await subjects(env, 'abuse@d.test'), ['abuse d'], 'the account abuse@d.test');
    assert.deepEqual(await subjects(env, 'first@d.test'), []);
  });

  test('an alias whose target is a role address reaches the first account', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO client.b.example');
    const before = (await subjects(env, 'alice@a.test')).length;
    assert.match((await sendTo(t, 'webmaster@a.test', 'via alias')).data!, /^250 /);
    assert.deepEqual((await subjects(env, 'alice@a.test')).slice(before), ['via alias']);
  });

  test('a domain without an account: its role addresses are a temporary 451 4.3.5, other addresses 550 5.1.1', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO client.b.example');
    assert.match(await cmd(t, 'MAIL FROM:<x@b.example>'), /^250 /);
    assert.match(await cmd(t, 'RCPT TO:<postmaster@empty.test>'), /^451 4\.3\.5 <postmaster@empty\.test> has no mailbox yet/);
    assert.match(await cmd(t, 'RCPT TO:<abuse@empty.test>'), /^451 4\.3\.5 /);
    assert.match(await cmd(t, 'RCPT TO:<someone@empty.test>'), /^550 5\.1\.1 /);
    // A role name is a role only as the whole local part.
    assert.match(await cmd(t, 'RCPT TO:<postmaster2@a.test>'), /^550 5\.1\.1 /);
    assert.match(await cmd(t, 'RCPT TO:<abuse.x@a.test>'), /^550 5\.1\.1 /);
    assert.match(await cmd(t, 'RSET'), /^250 /);
  });

  test('submission: a logged-in user reaches postmaster@ and abuse@ of a local domain', async () => {
    const t = await open(env, 'submissions', true);
    await cmd(t, 'EHLO client.test');
    assert.match(await cmd(t, `AUTH PLAIN ${Buffer.from('\0aaron@a.test\0secret').toString('base64')}`), /^235 /);
    assert.match((await sendTo(t, 'abuse@b.test', 'submitted abuse', 'aaron@a.test')).data!, /^250 /);
    assert.match((await sendTo(t, 'Postmaster', 'submitted bare', 'aaron@a.test')).data!, /^250 /);
    assert.equal((await subjects(env, 'zed@b.test')).at(-1), 'submitted abuse');
    assert.equal((await subjects(env, 'alice@a.test')).at(-1), 'submitted bare');
  });

  test("the queue's local delivery resolves the same way; a domain without an account is deferred 4.3.5", async () => {
    const queue = await openQueue(env.ctx, { startScheduler: true, pollMs: 30 });
    try {
      const blob = await env.store.blobs.stage(Buffer.from('From: x@b.example\r\nSubject: queued\r\n\r\nhi\r\n'));
      let id: string;
      try {
        id = await queue.enqueue({ from: 'x@b.example', recipients: [{ address: 'postmaster@a.test' }, { address: 'abuse@b.test' }, { address: 'postmaster@empty.test' }], blob });
      } finally {
        await env.store.blobs.discard(blob);
      }
      const rs = await until('outcomes', async () => {
        const r = (await queue.show(id)).recipients;
        return r.every((x) => x.state !== 'queued') ? r : null;
      });
      assert.deepEqual(
        rs.map((r) => [r.address, r.state, r.lastStatus]),
        [
          ['postmaster@a.test', 'delivered', '2.0.0'],
          ['abuse@b.test', 'delivered', '2.0.0'],
          ['postmaster@empty.test', 'deferred', '4.3.5'],
        ],
      );
      assert.equal((await subjects(env, 'alice@a.test')).at(-1), 'queued');
      assert.equal((await subjects(env, 'zed@b.test')).at(-1), 'queued');
    } finally {
      await queue.stop(500);
    }
  });
});

describe('<postmaster> when the hostname is not in a local domain', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ hostname: 'mx.elsewhere.example' });
  });
  after(() => env.close());

  test('goes to the postmaster of the oldest local domain; with no local domain it is 451 4.3.5', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO client.b.example');
    assert.match(await cmd(t, 'MAIL FROM:<x@b.example>'), /^250 /);
    assert.match(await cmd(t, 'RCPT TO:<postmaster>'), /^451 4\.3\.5 /);
    assert.match(await cmd(t, 'RSET'), /^250 /);
    const z = await env.store.addDomain('z.test');
    // The oldest by creation time (milliseconds): a.test is made once the clock has moved on.
    await until('the clock to tick', () => Date.now() > z.createdAt.getTime());
    await env.store.addDomain('a.test');
    await env.store.addAccount('zoe@z.test', 'x');
    await env.store.addAccount('al@a.test', 'x');
    const r = await sendTo(t, 'postmaster', 'bare elsewhere');
    assert.match(r.rcpt, /^250 /);
    assert.deepEqual(await subjects(env, 'zoe@z.test'), ['bare elsewhere']);
    assert.deepEqual(await subjects(env, 'al@a.test'), []);
  });
});
