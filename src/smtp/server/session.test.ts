// Transcript tests: the SMTP session: greeting, EHLO, command sequence, delivery, the checks pipeline, reverse DNS.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd } from '../../../test/helpers/smtp-transcript.js';
import { MSG, open, send, setup } from '../../../test/helpers/smtp-session.js';
import type { Check } from '../../pipeline/types.js';
import { loopbackResolver, startDnsServer } from '../../../test/helpers/dns-server.js';

describe('smtp session (inbound)', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv();
    await setup(env);
  });
  after(() => env.close());

  test('EHLO lists the extensions; no AUTH on the inbound listener', async () => {
    const t = await open(env);
    const r = await cmd(t, 'EHLO client.b.test');
    assert.equal(
      r,
      ['250-mx.a.test greets you', '250-PIPELINING', `250-SIZE ${50 * 1024 * 1024}`, '250-8BITMIME', '250-SMTPUTF8', '250-ENHANCEDSTATUSCODES', '250-CHUNKING', '250-BINARYMIME', '250-DSN', '250-STARTTLS', '250 HELP', ''].join('\r\n'),
    );
    assert.match(await cmd(t, 'HELO client.b.test'), /^250 mx\.a\.test\r\n$/);
    assert.match(await cmd(t, 'NOOP whatever'), /^250 2\.0\.0/);
    assert.match(await cmd(t, 'HELP'), /^214-2\.0\.0 Commands/);
    assert.match(await cmd(t, 'VRFY alice'), /^252 2\.5\.0/);
    assert.match(await cmd(t, 'VRFY nobody'), /^252 2\.5\.0/);
    assert.match(await cmd(t, 'VRFY'), /^501 5\.5\.4/);
    assert.match(await cmd(t, 'EXPN sales'), /^502 5\.5\.1/);
    assert.match(await cmd(t, 'FOO'), /^500 5\.5\.1/);
    assert.match(await cmd(t, 'RSET'), /^250 2\.0\.0/);
    assert.match(await cmd(t, 'RSET x'), /^501 5\.5\.4/);
    assert.match(await cmd(t, 'EHLO'), /^501 5\.5\.4/);
    assert.match(await cmd(t, 'QUIT'), /^221 2\.0\.0/);
    assert.equal(t.closed, true);
  });

  test('commands out of sequence are 503', async () => {
    const t = await open(env);
    assert.match(await cmd(t, 'MAIL FROM:<a@b.test>'), /^503 5\.5\.1 Send EHLO/);
    await cmd(t, 'EHLO c.test');
    assert.match(await cmd(t, 'RCPT TO:<alice@a.test>'), /^503 5\.5\.1 Need MAIL/);
    assert.match(await cmd(t, 'DATA'), /^503 5\.5\.1/);
    assert.match(await cmd(t, 'MAIL FROM:<a@b.test>'), /^250/);
    assert.match(await cmd(t, 'MAIL FROM:<a@b.test>'), /^503 5\.5\.1 Nested/);
    assert.match(await cmd(t, 'DATA'), /^554 5\.5\.1 No valid recipients/);
    assert.match(await cmd(t, 'MAIL FROM:<a@b.test> FOO=1'), /^503/);
    assert.match(await cmd(t, 'RSET'), /^250/);
    assert.match(await cmd(t, 'MAIL FROM:<a@b.test> FOO=1'), /^555 5\.5\.4/);
    assert.match(await cmd(t, 'MAIL FROM:a@b.test'), /^501 5\.1\.7/);
    assert.match(await cmd(t, 'HELO c.test'), /^250/);
    assert.match(await cmd(t, 'MAIL FROM:<a@b.test> SIZE=10'), /^555 5\.5\.4/, 'no parameters after HELO');
  });

  test('a message is delivered with Return-Path and Received, the body byte for byte, 250 with an id', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO client.b.test');
    const r = await send(t, 'x@b.test', ['alice@a.test']);
    const m = /^250 2\.0\.0 Ok: queued as ([A-Z0-9]+)\r\n$/.exec(r);
    assert.ok(m, r);
    const msgs = await env.mailbox('alice@a.test');
    const raw = msgs.at(-1)!.toString('latin1');
    assert.match(raw, /^Return-Path: <x@b\.test>\r\nReceived: from client\.b\.test \(localhost \[127\.0\.0\.1\]\)\r\n\tby mx\.a\.test \(Yubin\) with ESMTP id [A-Z0-9]+\r\n\tfor <alice@a\.test>;\r\n\t\w{3}, \d+ \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n/);
    assert.ok(raw.includes(` id ${m[1]}\r\n`), 'the queue id is the Received id');
    assert.ok(raw.endsWith(MSG.replace('..dot', '.dot')), 'body as sent, dot-unstuffed');
    assert.match(await cmd(t, 'QUIT'), /^221/);
  });
});

describe('smtp session: checks pipeline', () => {
  let env: TestEnv;
  const seen: string[] = [];
  const checks: Check[] = [
    {
      name: 'test',
      async helo(t) {
        seen.push(`helo ${t.helo}`);
        return t.helo === 'bad.test' ? { action: 'reject', reply: { code: 550, enhanced: '5.7.1', text: 'bad helo' } } : { action: 'accept' };
      },
      async mailFrom(t) {
        return t.mailFrom === 'later@b.test' ? { action: 'tempfail', reply: { code: 451, enhanced: '4.7.1', text: 'greylisted' } } : { action: 'accept' };
      },
      async rcptTo(_t, rcpt) {
        return rcpt === 'bob@a.test' ? { action: 'reject' } : { action: 'accept' };
      },
      async data(d) {
        const { readFile } = await import('node:fs/promises');
        const text = d.messageBytes ? d.messageBytes.toString('utf8') : await readFile(d.messagePath!, 'utf8');
        seen.push(`data ${d.size} ${d.recipients.join(',')}`);
        if (text.includes('SPAM')) return { action: 'quarantine', headers: ['X-Spam: yes'] };
        if (text.includes('VIRUS')) return { action: 'reject', reply: { code: 554, enhanced: '5.7.1', text: 'virus found' } };
        return {
          action: 'accept',
          headers: ['Authentication-Results: mx.a.test;\r\n\tspf=pass', 'Bad\r\nInjected: x'],
          removeHeaders: [{ name: 'authentication-results', when: (v) => v.startsWith('mx.a.test') }],
        };
      },
    },
  ];
  before(async () => {
    env = await createTestEnv({ checks });
    await setup(env);
  });
  after(() => env.close());

  test('verdicts: reject, tempfail, quarantine to Junk, headers added, forged ones removed', async () => {
    const t = await open(env);
    assert.match(await cmd(t, 'EHLO bad.test'), /^550 5\.7\.1 bad helo/);
    assert.match(await cmd(t, 'EHLO good.test'), /^250-/);
    assert.match(await cmd(t, 'MAIL FROM:<later@b.test>'), /^451 4\.7\.1 greylisted/);
    await cmd(t, 'MAIL FROM:<x@b.test>');
    assert.match(await cmd(t, 'RCPT TO:<bob@a.test>'), /^550 5\.7\.1/);
    await cmd(t, 'RCPT TO:<alice@a.test>');
    await cmd(t, 'DATA');
    const forged = 'Authentication-Results: mx.a.test; dkim=pass\r\nAuthentication-Results: other.test; spf=none\r\nSubject: x\r\n\r\nbody\r\n';
    assert.match(await cmd(t, forged + '.'), /^250/);
    const got = (await env.mailbox('alice@a.test')).at(-1)!.toString();
    assert.match(got, /^Return-Path: <x@b\.test>\r\nAuthentication-Results: mx\.a\.test;\r\n\tspf=pass\r\nReceived: /);
    assert.ok(!got.includes('dkim=pass'), 'the forged field is gone');
    assert.ok(got.includes('Authentication-Results: other.test; spf=none\r\n'));
    assert.ok(!got.includes('Injected'), 'a check header with a line break is dropped');
    assert.ok(seen.includes(`data ${forged.length} alice@a.test`));

    await send(t, 'x@b.test', ['alice@a.test'], 'Subject: SPAM\r\n\r\nbuy\r\n');
    const junk = await env.mailbox('alice@a.test', 'Junk');
    assert.equal(junk.length, 1);
    assert.match(junk[0]!.toString(), /^Return-Path: <x@b\.test>\r\nX-Spam: yes\r\nReceived: /);

    await cmd(t, 'MAIL FROM:<x@b.test>');
    await cmd(t, 'RCPT TO:<alice@a.test>');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, 'Subject: VIRUS\r\n\r\nx\r\n.'), /^554 5\.7\.1 virus found/);
    assert.equal((await env.mailbox('alice@a.test')).length, 1);
  });

  test('a connect-stage reject is a 554 greeting and a close', async () => {
    const env2 = await createTestEnv({ checks: [{ name: 'block', connect: async () => ({ action: 'reject', reply: { code: 554, enhanced: '5.7.1', text: 'blocked' } }) }] });
    try {
      const t = new PipeTransport('smtp');
      t.attach(env2.factory);
      assert.match(await t.waitFor(/\r\n/), /^554 5\.7\.1 blocked/);
      await t.waitClosed();
    } finally {
      await env2.close();
    }
  });
});

describe('smtp session: reverse DNS', () => {
  test('a forward-confirmed PTR name is used (Received, connect check); an unconfirmed one is not', async () => {
    const dns = await startDnsServer();
    const seen: Array<string | null | undefined> = [];
    const env = await createTestEnv({
      resolver: loopbackResolver(dns.address),
      checks: [{ name: 'ptr', connect: async (c) => (seen.push(c.ptr), { action: 'accept' }) }],
    });
    try {
      await setup(env);
      dns.setRecords('10.2.0.192.in-addr.arpa', 'PTR', ['mail.b.test']);
      dns.setRecords('mail.b.test', 'A', ['192.0.2.10']);
      dns.setRecords('11.2.0.192.in-addr.arpa', 'PTR', ['liar.b.test']);
      dns.setRecords('liar.b.test', 'A', ['192.0.2.99']);
      for (const [ip, expect] of [
        ['192.0.2.10', 'mail.b.test'],
        ['192.0.2.11', 'unknown'],
        ['192.0.2.12', 'unknown'],
      ] as const) {
        const t = new PipeTransport('smtp', { remoteAddress: ip });
        t.attach(env.factory);
        await t.waitFor(/^220 /);
        await cmd(t, 'EHLO client.b.test');
        await send(t, 'x@b.test', ['alice@a.test']);
        const got = (await env.mailbox('alice@a.test')).at(-1)!.toString();
        assert.ok(got.includes(`Received: from client.b.test (${expect} [${ip}])`), got.slice(0, 300));
      }
      assert.deepEqual(seen, ['mail.b.test', null, null]);
    } finally {
      await env.close();
      await dns.close();
    }
  });
});
