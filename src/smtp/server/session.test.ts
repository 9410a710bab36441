// Transcript tests: every SMTP command, inbound delivery into a real store, relay rules.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd, replies } from '../../../test/helpers/smtp-transcript.js';
import type { ListenerName } from '../../config/schema.js';
import type { Check } from '../../checks/types.js';
import { startDnsServer } from '../../../test/helpers/dns-server.js';
import { createResolver } from '../../dns/resolver.js';

async function open(env: TestEnv, listener: ListenerName = 'smtp', opts: { tls?: boolean } = {}): Promise<PipeTransport> {
  const t = new PipeTransport(listener, opts);
  t.attach(env.factory);
  const greeting = await t.waitFor(/^220 .*\r\n/);
  assert.match(greeting, /^220 mx\.a\.test ESMTP/);
  return t;
}

async function setup(env: TestEnv): Promise<void> {
  await env.store.addDomain('a.test');
  await env.store.addAccount('alice@a.test', 'x');
  await env.store.addAccount('bob@a.test', 'x');
  await env.store.addAccount('full@a.test', 'x');
  await env.store.addAlias('sales@a.test', ['alice@a.test', 'bob@a.test']);
  await env.store.addAlias('fwd@a.test', ['carol@remote.test', 'alice@a.test']);
  await env.store.addAlias('postmaster@a.test', ['alice@a.test']);
}

const MSG = 'From: x@b.test\r\nTo: alice@a.test\r\nSubject: hi\r\n\r\nHello\r\n..dot line\r\n';

async function send(t: PipeTransport, from: string, rcpts: string[], body = MSG): Promise<string> {
  assert.match(await cmd(t, `MAIL FROM:<${from}>`), /^250 2\.1\.0/);
  for (const r of rcpts) assert.match(await cmd(t, `RCPT TO:<${r}>`), /^250 2\.1\.5/, r);
  assert.match(await cmd(t, 'DATA'), /^354 /);
  return cmd(t, body + '.');
}

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

  test('a transaction fed one byte at a time gives the same message', async () => {
    const t = await open(env);
    const bytewise = async (text: string): Promise<string> => {
      for (const b of Buffer.from(text, 'utf8')) t.send(Buffer.from([b]));
      return (await replies(t, 1))[0]!;
    };
    assert.match(await bytewise('EHLO client.b.test\r\n'), /^250 HELP/m);
    assert.match(await bytewise('MAIL FROM:<x@b.test> SIZE=100\r\n'), /^250 2\.1\.0/);
    assert.match(await bytewise('RCPT TO:<alice@a.test>\r\n'), /^250 2\.1\.5/);
    assert.match(await bytewise('DATA\r\n'), /^354/);
    assert.match(await bytewise(MSG + '.\r\n'), /^250 2\.0\.0/);
    assert.ok((await env.mailbox('alice@a.test')).at(-1)!.toString('latin1').endsWith(MSG.replace('..dot', '.dot')));
  });

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

  test('BDAT: chunks, LAST, pipelined; BINARYMIME needs BDAT', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    const part1 = 'From: x@b.test\r\nSubject: chunked\r\n\r\n';
    const part2 = '.not stuffed\r\nend\r\n';
    t.send(`MAIL FROM:<x@b.test> BODY=BINARYMIME\r\nRCPT TO:<bob@a.test>\r\nBDAT ${part1.length}\r\n${part1}BDAT ${part2.length} LAST\r\n${part2}`);
    const r = await replies(t, 4);
    assert.match(r[0]!, /^250 2\.1\.0/);
    assert.match(r[1]!, /^250 2\.1\.5/);
    assert.match(r[2]!, new RegExp(`^250 2\\.0\\.0 ${part1.length} octets received`));
    assert.match(r[3]!, /^250 2\.0\.0 Ok: queued as/);
    const got = (await env.mailbox('bob@a.test')).at(-1)!.toString();
    assert.ok(got.endsWith(part1 + part2));
    assert.match(got, /with ESMTP id/);
    await cmd(t, 'MAIL FROM:<x@b.test> BODY=BINARYMIME');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    assert.match(await cmd(t, 'DATA'), /^503 5\.5\.1 BODY=BINARYMIME requires BDAT/);
    assert.match(await cmd(t, 'RSET'), /^250/);
    // BDAT with no transaction: the chunk is read and dropped, never run as commands.
    const inner = 'RSET\r\nNOOP\r\n';
    t.send(`BDAT ${inner.length} LAST\r\n${inner}NOOP\r\n`);
    const r2 = await replies(t, 2);
    assert.match(r2[0]!, /^503 5\.5\.1 Need MAIL/);
    assert.match(r2[1]!, /^250 2\.0\.0 Ok/);
    assert.equal(t.peek(), '');
    // BDAT 0 LAST finishes a message.
    await cmd(t, 'MAIL FROM:<x@b.test>');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    t.send(`BDAT ${part1.length}\r\n${part1}`);
    await replies(t, 1);
    assert.match(await cmd(t, 'BDAT 0 LAST'), /^250 2\.0\.0 Ok: queued/);
    assert.match(await cmd(t, 'BDAT x'), /^501 5\.5\.4/);
  });

  test('BDAT refuses bare LF unless BINARYMIME', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    await cmd(t, 'MAIL FROM:<x@b.test>');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    const body = 'Subject: x\r\n\r\nbare\nlf\r\n';
    t.send(`BDAT ${body.length} LAST\r\n${body}`);
    assert.match((await replies(t, 1))[0]!, /^550 5\.6\.0/);
    await cmd(t, 'MAIL FROM:<x@b.test> BODY=BINARYMIME');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    t.send(`BDAT ${body.length} LAST\r\n${body}`);
    assert.match((await replies(t, 1))[0]!, /^250 2\.0\.0/);
    const stored = (await env.mailbox('bob@a.test')).at(-1)!.toString();
    assert.ok(stored.endsWith(body), JSON.stringify(stored));
  });

  test('BDAT with BINARYMIME carries a 1.5 MB line; without BINARYMIME it is refused for its length', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    const body = Buffer.concat([Buffer.from('Subject: bin\r\n\r\n'), Buffer.alloc(1536 * 1024, 0x62)]);
    await cmd(t, 'MAIL FROM:<x@b.test> BODY=BINARYMIME');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    t.send(`BDAT ${body.length} LAST\r\n`);
    t.send(body);
    assert.match((await replies(t, 1))[0]!, /^250 2\.0\.0 Ok: queued/);
    assert.ok((await env.mailbox('bob@a.test')).at(-1)!.subarray(-body.length).equals(body));
    await cmd(t, 'MAIL FROM:<x@b.test>');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    t.send(`BDAT ${body.length} LAST\r\n`);
    t.send(body);
    assert.match((await replies(t, 1))[0]!, /^552 5\.3\.4 .*65536/);
  });

  test('SIZE is enforced at MAIL and during DATA', async () => {
    const small = await createTestEnv({ smtp: { max_message_size: 200 } });
    try {
      await setup(small);
      const t = new PipeTransport('smtp');
      t.attach(small.factory);
      await t.waitFor(/^220 /);
      assert.match(await cmd(t, 'EHLO c.test'), /250-SIZE 200\r\n/);
      assert.match(await cmd(t, 'MAIL FROM:<x@b.test> SIZE=201'), /^552 5\.3\.4/);
      assert.match(await cmd(t, 'MAIL FROM:<x@b.test> SIZE=100'), /^250/);
      await cmd(t, 'RCPT TO:<alice@a.test>');
      await cmd(t, 'DATA');
      assert.match(await cmd(t, `Subject: big\r\n\r\n${'x'.repeat(300)}\r\n.`), /^552 5\.3\.4/);
      assert.equal((await small.mailbox('alice@a.test')).length, 0);
      assert.match(await send(t, 'x@b.test', ['alice@a.test'], 'Subject: ok\r\n\r\nsmall\r\n'), /^250/);
    } finally {
      await small.close();
    }
  });

  test('max_message_size 0 means no fixed limit (RFC 1870 §4)', async () => {
    const unlimited = await createTestEnv({ smtp: { max_message_size: 0 } });
    try {
      await setup(unlimited);
      const t = new PipeTransport('smtp');
      t.attach(unlimited.factory);
      await t.waitFor(/^220 /);
      assert.match(await cmd(t, 'EHLO c.test'), /250-SIZE 0\r\n/);
      assert.match(await cmd(t, 'MAIL FROM:<x@b.test> SIZE=99999999999'), /^250/);
      await cmd(t, 'RCPT TO:<alice@a.test>');
      await cmd(t, 'DATA');
      assert.match(await cmd(t, `Subject: any\r\n\r\n${'x'.repeat(300)}\r\n.`), /^250/);
    } finally {
      await unlimited.close();
    }
  });

  test('DSN parameters are validated and kept for the queue', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test> RET=HDRS ENVID=abc+2Bdef'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<fwd@a.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bx@b.test'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<bob@a.test> NOTIFY=NEVER,DELAY'), /^501 5\.5\.4/);
    assert.match(await cmd(t, 'RCPT TO:<bob@a.test> ORCPT=rfc822;a+0Db'), /^501 5\.5\.4/);
    assert.match(await cmd(t, 'DATA'), /^354/);
    const r = await cmd(t, MSG + '.');
    const id = /queued as (\S+)/.exec(r)![1];
    const q = (await env.outbound.list()).find((x) => x.id === id)!;
    assert.equal(q.ret, 'HDRS');
    assert.equal(q.envid, 'abc+def');
    assert.deepEqual(q.recipients, [{ address: 'carol@remote.test', notify: ['SUCCESS', 'FAILURE'], orcpt: { type: 'rfc822', address: 'orig+x@b.test' } }]);
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test> RET=ALL'), /^501/);
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test> ENVID=a+0Ab'), /^501/);
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test> REQUIRETLS'), /^530 5\.7\.10/);
  });

  test('NOTIFY=SUCCESS on a local recipient: a delivered DSN goes to the sender through the queue', async () => {
    const before = (await env.outbound.list()).length;
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    await cmd(t, 'MAIL FROM:<sender@b.test> ENVID=env1');
    await cmd(t, 'RCPT TO:<alice@a.test> NOTIFY=SUCCESS ORCPT=rfc822;alice@a.test');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, MSG + '.'), /^250/);
    const q = (await env.outbound.list()).slice(before);
    assert.equal(q.length, 1);
    assert.equal(q[0]!.from, '');
    assert.deepEqual(q[0]!.recipients, [{ address: 'sender@b.test', notify: ['NEVER'] }]);
    const dsn = q[0]!.bytes.toString();
    assert.match(dsn, /Action: delivered/);
    assert.match(dsn, /Original-Envelope-Id: env1/i);
    assert.equal(dsn.match(/Action:/g)!.length, 1, 'only the recipient that asked');
    // Nothing for the null sender.
    await cmd(t, 'MAIL FROM:<>');
    await cmd(t, 'RCPT TO:<alice@a.test> NOTIFY=SUCCESS');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, MSG + '.'), /^250/);
    assert.equal((await env.outbound.list()).length, before + 1);
  });

  test('no temporary files are left behind (spool, staged blobs for the store and the queue)', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    assert.match(await send(t, 'x@b.test', ['alice@a.test', 'fwd@a.test']), /^250/);
    await cmd(t, 'MAIL FROM:<x@b.test>');
    await cmd(t, 'RCPT TO:<alice@a.test>');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, 'bare\nLF\r\n.'), /^550/);
    const { readdir } = await import('node:fs/promises');
    const { join } = await import('node:path');
    assert.deepEqual(await readdir(join(env.ctx.config.data_dir, 'tmp')), []);
    assert.deepEqual(await readdir(join(env.ctx.config.data_dir, 'smtp-spool')), []);
  });

  test('SMTPUTF8 addresses need the SMTPUTF8 parameter', async () => {
    await env.store.addAccount('jöran@a.test', 'x').catch(() => undefined);
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    assert.match(await cmd(t, 'MAIL FROM:<jörg@b.test>'), /^553 5\.6\.7/);
    assert.match(await cmd(t, 'MAIL FROM:<jörg@b.test> SMTPUTF8 BODY=8BITMIME'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<alice@a.test>'), /^250/);
    assert.match(await cmd(t, 'DATA'), /^354/);
    assert.match(await cmd(t, 'From: jörg@b.test\r\nSubject: grüße\r\n\r\nö\r\n.'), /^250/);
    const got = (await env.mailbox('alice@a.test')).at(-1)!.toString('utf8');
    assert.match(got, /with UTF8SMTP id/);
    assert.ok(got.includes('Subject: grüße\r\n'));
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
        const text = await readFile(d.messagePath, 'utf8');
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
      resolver: createResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }),
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
