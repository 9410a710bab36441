// Transcript tests: receiving the message: DATA, BDAT/CHUNKING, BINARYMIME, SIZE, SMTPUTF8, temporary files.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd, replies } from '../../../test/helpers/smtp-transcript.js';
import { MSG, open, send, setup } from '../../../test/helpers/smtp-session.js';

describe('smtp session: DATA and BDAT (RFC 5321 §4.1.1.4, RFC 3030), SIZE (RFC 1870), SMTPUTF8 (RFC 6531)', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv();
    await setup(env);
  });
  after(() => env.close());

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
