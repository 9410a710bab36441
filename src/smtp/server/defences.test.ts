// The defences of issue 7, each with a transcript that fails when the defence is removed.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd, replies } from '../../../test/helpers/smtp-transcript.js';
import type { ListenerName } from '../../config/schema.js';

async function open(env: TestEnv, listener: ListenerName = 'smtp'): Promise<PipeTransport> {
  const t = new PipeTransport(listener);
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  return t;
}

async function count(env: TestEnv, address: string): Promise<number> {
  return (await env.mailbox(address)).length;
}

/** A pipe whose output "socket buffer" holds 1000 bytes: the client reads only when the test takes. */
class SlowPipe extends PipeTransport {
  override write(data: string | Uint8Array): boolean {
    super.write(data);
    return this.peek().length < 1000;
  }
  override async drain(): Promise<void> {
    while (this.peek().length >= 1000 && !this.closed) await new Promise((r) => setTimeout(r, 2));
  }
}

describe('smtp defences', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ smtp: { max_errors: 20 } });
    await env.store.addDomain('a.test');
    await env.store.addAccount('alice@a.test', 'x');
    await env.store.addAccount('victim@a.test', 'x');
  });
  after(() => env.close());

  // CVE-2023-51764/51765/51766: a fake end of data followed by a smuggled transaction.
  const sequences = ['\n.\n', '\r.\r', '\r.\n', '\n.\r', '\n.\r\n', '\r\n.\n', '\r.\r\n', '\r\n.\r', '\r\n\x00.\r\n'];
  for (const seq of sequences) {
    test(`smuggling ${JSON.stringify(seq)}: no second message, the inner commands never run`, async () => {
      const aliceBefore = await count(env, 'alice@a.test');
      const victimBefore = await count(env, 'victim@a.test');
      const t = await open(env);
      await cmd(t, 'EHLO c.test');
      await cmd(t, 'MAIL FROM:<x@b.test>');
      await cmd(t, 'RCPT TO:<alice@a.test>');
      assert.match(await cmd(t, 'DATA'), /^354/);
      const smuggled = 'MAIL FROM:<admin@a.test>\r\nRCPT TO:<victim@a.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n';
      t.send(`Subject: outer\r\n\r\nhello${seq}${smuggled}.\r\nNOOP\r\n`);
      const r = await replies(t, 2);
      // One reply for the whole message (refused: bare CR/LF or NUL), then the NOOP.
      assert.match(r[0]!, /^550 5\.6\.0/);
      assert.match(r[1]!, /^250 2\.0\.0 Ok\r\n$/);
      assert.equal(t.peek(), '');
      assert.equal(await count(env, 'alice@a.test'), aliceBefore);
      assert.equal(await count(env, 'victim@a.test'), victimBefore);
      t.close();
    });
  }

  test('CR CR LF . CR LF is a real end of data: that message is refused, what follows runs as commands', async () => {
    const before = await count(env, 'alice@a.test');
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    await cmd(t, 'MAIL FROM:<x@b.test>');
    await cmd(t, 'RCPT TO:<alice@a.test>');
    await cmd(t, 'DATA');
    t.send('Subject: x\r\n\r\nbody\r\r\n.\r\nMAIL FROM:<x@b.test>\r\nRCPT TO:<alice@a.test>\r\nDATA\r\n');
    const r = await replies(t, 4);
    assert.match(r[0]!, /^550 5\.6\.0 .*bare CR/);
    assert.match(r[1]!, /^250 2\.1\.0/);
    assert.match(r[2]!, /^250 2\.1\.5/);
    assert.match(r[3]!, /^354/);
    assert.match(await cmd(t, 'Subject: ok\r\n\r\nok\r\n.'), /^250 2\.0\.0/);
    assert.equal(await count(env, 'alice@a.test'), before + 1);
  });

  test('STARTTLS injection: input after STARTTLS is dropped; EHLO again; no second STARTTLS', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    assert.match(await cmd(t, 'STARTTLS now'), /^501 5\.5\.4/);
    t.send('STARTTLS\r\nRSET\r\n');
    const r = await t.waitFor(/^220 .*\r\n/);
    assert.equal(r, '220 2.0.0 Ready to start TLS\r\n');
    assert.equal(t.tlsStarts, 1);
    // The injected RSET got no reply: the next reply belongs to NOOP.
    assert.match(await cmd(t, 'NOOP'), /^250 2\.0\.0 Ok\r\n$/);
    assert.equal(t.peek(), '');
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test>'), /^503 5\.5\.1 Send EHLO/);
    const ehlo = await cmd(t, 'EHLO c.test');
    assert.ok(!ehlo.includes('STARTTLS'));
    assert.ok(ehlo.includes('REQUIRETLS'));
    assert.match(await cmd(t, 'STARTTLS'), /^503 5\.5\.1/);
    assert.equal(t.tlsStarts, 1);
    // After TLS the Received header says so.
    await cmd(t, 'MAIL FROM:<x@b.test> REQUIRETLS');
    await cmd(t, 'RCPT TO:<alice@a.test>');
    await cmd(t, 'DATA');
    await cmd(t, 'Subject: tls\r\n\r\nx\r\n.');
    const got = (await env.mailbox('alice@a.test')).at(-1)!.toString();
    assert.match(got, /with ESMTPS\r\n\t\(TLSv1\.3 cipher TLS_AES_256_GCM_SHA384\) id /);
  });

  test('early talker: commands before the greeting are never executed', async () => {
    const t = new PipeTransport('smtp');
    t.attach(env.factory);
    t.send('EHLO c.test\r\nMAIL FROM:<x@b.test>\r\n');
    const out = await t.waitFor(/\r\n/);
    assert.match(out, /^554 5\.5\.0 /);
    await t.waitClosed();
    assert.ok(!out.includes('250'));
  });

  test('pipelining after DATA (before 354) and after EHLO is refused and closes', async () => {
    const before = await count(env, 'alice@a.test');
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    t.send('MAIL FROM:<x@b.test>\r\nRCPT TO:<alice@a.test>\r\nDATA\r\nSubject: early\r\n\r\nx\r\n.\r\n');
    const r = await replies(t, 3);
    assert.match(r[0]!, /^250 2\.1\.0/);
    assert.match(r[1]!, /^250 2\.1\.5/);
    assert.match(r[2]!, /^554 5\.5\.0/);
    await t.waitClosed();
    assert.equal(await count(env, 'alice@a.test'), before);
    const t2 = await open(env);
    t2.send('EHLO c.test\r\nMAIL FROM:<x@b.test>\r\n');
    assert.match((await replies(t2, 1))[0]!, /^554 5\.5\.0/);
    await t2.waitClosed();
  });

  test('PIPELINING: replies come in order, each command sees the previous ones', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    t.send('MAIL FROM:<x@b.test>\r\nRCPT TO:<nobody@a.test>\r\nRCPT TO:<alice@a.test>\r\nRCPT TO:<x@elsewhere.test>\r\nDATA\r\n');
    const r = await replies(t, 5);
    assert.deepEqual(
      r.map((x) => x.slice(0, 9)),
      ['250 2.1.0', '550 5.1.1', '250 2.1.5', '550 5.7.1', '354 End d'],
    );
    assert.match(await cmd(t, 'Subject: p\r\n\r\nx\r\n.'), /^250 2\.0\.0/);
    t.send('RSET\r\nNOOP\r\nVRFY x\r\nQUIT\r\n');
    const r2 = await replies(t, 4);
    assert.deepEqual(
      r2.map((x) => x.slice(0, 3)),
      ['250', '250', '252', '221'],
    );
  });

  test('a command line over 512 octets is 500 5.5.2 and the session goes on', async () => {
    const t = await open(env);
    const line = 'NOOP ' + 'x'.repeat(505); // 510 + CRLF = 512: allowed
    assert.match(await cmd(t, line), /^250/);
    assert.match(await cmd(t, line + 'x'), /^500 5\.5\.2/);
    assert.match(await cmd(t, 'NOOP ' + 'x'.repeat(20000)), /^500 5\.5\.2/);
    assert.match(await cmd(t, 'EHLO c.test'), /^250-/);
    assert.match(await cmd(t, `MAIL FROM:<x@b.test> ENVID=${'a'.repeat(100)}`), /^250/, 'MAIL may be longer (extensions)');
  });

  test('a text line over smtp.max_line_length (64 KB) in DATA is refused at the end of data', async () => {
    const before = await count(env, 'alice@a.test');
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    await cmd(t, 'MAIL FROM:<x@b.test>');
    await cmd(t, 'RCPT TO:<alice@a.test>');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, `Subject: long\r\n\r\n${'y'.repeat(64 * 1024 + 1)}\r\n.`), /^552 5\.3\.4 .*65536/);
    assert.equal(await count(env, 'alice@a.test'), before);
    assert.match(await cmd(t, 'NOOP'), /^250/);
  });

  test('1 MB without a newline: 421 and close (bounded memory)', async () => {
    const t = await open(env);
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    for (let i = 0; i < 20 && !t.closed; i++) {
      t.send(chunk);
      await new Promise((r) => setImmediate(r));
    }
    assert.match(t.take(), /^421 4\.7\.0 .*Line too long/);
    assert.equal(t.closed, true);
    // In DATA the same limit holds.
    const t2 = await open(env);
    await cmd(t2, 'EHLO c.test');
    await cmd(t2, 'MAIL FROM:<x@b.test>');
    await cmd(t2, 'RCPT TO:<alice@a.test>');
    await cmd(t2, 'DATA');
    for (let i = 0; i < 20 && !t2.closed; i++) {
      t2.send(chunk);
      await new Promise((r) => setTimeout(r, 1));
    }
    await t2.waitClosed();
    assert.match(t2.take(), /^421 4\.7\.0/);
  });

  test('control characters in EHLO, MAIL, RCPT and xtext are 501', async () => {
    const t = await open(env);
    assert.match(await cmd(t, 'EHLO c\x01.test'), /^501/);
    assert.match(await cmd(t, 'EHLO c.test'), /^250-/);
    assert.match(await cmd(t, 'MAIL FROM:<x\x00y@b.test>'), /^501/);
    assert.match(await cmd(t, 'MAIL FROM:<x\ry@b.test>'), /^501/);
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test> ENVID=a+0Db'), /^501 5\.5\.4/);
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test>'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<"a\x1bb"@a.test>'), /^501/);
    assert.match(await cmd(t, 'RCPT TO:<alice@a.test> ORCPT=rfc822;a+00b@c.test'), /^501/);
    assert.match(await cmd(t, 'RCPT TO:<alice@a.test>'), /^250/);
  });

  test('bare LF as a command line end is refused', async () => {
    const t = await open(env);
    t.send('NOOP\n');
    assert.match((await replies(t, 1))[0]!, /^500 5\.5\.2/);
  });

  test('a client that pipelines without reading replies is not read further until they drain', async () => {
    const t = new SlowPipe('smtp');
    t.attach(env.factory);
    await t.waitFor(/^220 /);
    t.send('NOOP\r\n'.repeat(2000));
    await new Promise((r) => setTimeout(r, 100));
    const first = t.take().split('\r\n').length - 1;
    assert.ok(first < 200, `${first} replies written while the client read none`);
    // Reading the replies lets the session go on, to the last one.
    let seen = first;
    const deadline = Date.now() + 5000;
    while (seen < 2000 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      seen += t.take().split('\r\n').length - 1;
    }
    assert.equal(seen, 2000);
  });

  test('20 errors close the session with 421', async () => {
    const t = await open(env);
    for (let i = 0; i < 19; i++) assert.match(await cmd(t, 'BOGUS'), /^500/);
    t.send('BOGUS\r\n');
    await t.waitClosed();
    assert.match(t.take(), /^500 5\.5\.1 .*\r\n421 4\.7\.0 .*Too many errors/);
  });
});

describe('smtp timeouts', () => {
  test('command timeout: 421 4.4.2 after the configured idle time', async () => {
    const env = await createTestEnv({ smtp: { command_timeout: '150ms' } });
    try {
      const t = await open(env);
      await cmd(t, 'EHLO c.test');
      await t.waitClosed(3000);
      assert.match(t.take(), /^421 4\.4\.2 .*Timeout/);
    } finally {
      await env.close();
    }
  });

  test('a client that never reads its replies is timed out too', async () => {
    const env = await createTestEnv({ smtp: { command_timeout: '150ms' } });
    try {
      const t = new SlowPipe('smtp');
      t.attach(env.factory);
      await t.waitFor(/^220 /);
      t.send('NOOP\r\n'.repeat(500));
      await t.waitClosed(3000);
      assert.match(t.take(), /421 4\.4\.2 .*Timeout/);
    } finally {
      await env.close();
    }
  });

  test('minimum data rate in DATA: a stalled transfer is closed with 421', async () => {
    const env = await createTestEnv({ smtp: { data_min_rate: 1000, data_rate_window: '150ms' } });
    try {
      await env.store.addDomain('a.test');
      await env.store.addAccount('alice@a.test', 'x');
      const t = await open(env);
      await cmd(t, 'EHLO c.test');
      await cmd(t, 'MAIL FROM:<x@b.test>');
      await cmd(t, 'RCPT TO:<alice@a.test>');
      await cmd(t, 'DATA');
      t.send('Subject: slow\r\n');
      await t.waitClosed(3000);
      assert.match(t.take(), /^421 4\.4\.2 .*Data rate too low/);
      assert.equal((await env.mailbox('alice@a.test')).length, 0);
    } finally {
      await env.close();
    }
  });

  test('shutdown during DATA: the message is finished and acknowledged, then 421', async () => {
    const env = await createTestEnv();
    try {
      await env.store.addDomain('a.test');
      await env.store.addAccount('alice@a.test', 'x');
      const t = new PipeTransport('smtp');
      const s = t.attach(env.factory);
      await t.waitFor(/^220 /);
      await cmd(t, 'EHLO c.test');
      await cmd(t, 'MAIL FROM:<x@b.test>');
      await cmd(t, 'RCPT TO:<alice@a.test>');
      await cmd(t, 'DATA');
      t.send('Subject: in flight\r\n\r\n');
      const done = s.shutdown();
      assert.equal(t.closed, false);
      t.send('body\r\n.\r\n');
      await done;
      assert.match(t.take(), /^250 2\.0\.0 Ok: queued as \S+\r\n421 4\.3\.2 /);
      assert.equal((await env.mailbox('alice@a.test')).length, 1);
    } finally {
      await env.close();
    }
  });

  test('shutdown: an idle session gets 421 and closes', async () => {
    const env = await createTestEnv();
    try {
      const t = new PipeTransport('smtp');
      const s = t.attach(env.factory);
      await t.waitFor(/^220 /);
      await s.shutdown();
      assert.match(t.take(), /^421 4\.3\.2 /);
      assert.equal(t.closed, true);
    } finally {
      await env.close();
    }
  });
});
