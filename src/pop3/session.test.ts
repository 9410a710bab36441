// POP3 transcripts: session-wide behaviour: states, pipelining, bad commands, timeouts, shutdown, half-close.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MSG1, MSG2, cmd, createPop3TestContext, multi, type Pop3TestContext } from '../../test/helpers/pop3-context.js';

let c: Pop3TestContext;
before(async () => {
  // Throttling is tested on its own below; here failures must not slow the transcripts down.
  c = await createPop3TestContext({ auth: { throttle_free_failures: 1000, throttle_max_failures: 1000 } });
});
after(async () => {
  await c.close();
});

test('pipelined commands are answered in order', async () => {
  const t = await c.login(c.alice);
  t.send('STAT\r\nLIST\r\nNOOP\r\nUIDL\r\nQUIT\r\n');
  await t.waitClosed();
  const out = t.take();
  assert.match(out, /^\+OK \d+ \d+\r\n\+OK maildrop has .*\r\n\.\r\n\+OK\r\n\+OK Unique-ID listing follows\r\n(.*\r\n)*\.\r\n\+OK Yubin POP3 server signing off/);
});

test('an oversized line is refused without closing; too many bad commands close the session', async () => {
  const t = await c.connect({ tls: true });
  t.send('NOOP ' + 'x'.repeat(100_000) + '\r\n');
  assert.equal(await t.waitFor(/\r\n$/), '-ERR Line too long\r\n');
  assert.equal(await cmd(t, 'CAPA x'), '-ERR CAPA takes no arguments');
  const max = c.ctx.config.pop3.max_bad_commands;
  for (let i = 3; i < max; i++) assert.equal(await cmd(t, 'BOGUS'), '-ERR Unknown command');
  t.send('BOGUS\r\n');
  await t.waitClosed();
  assert.equal(t.take(), '-ERR Unknown command\r\n-ERR Too many bad commands, closing connection\r\n');
});

test('idle timeout: the connection closes without a reply and nothing is deleted', async () => {
  const fast = await createPop3TestContext({ pop3: { idle_timeout: 0.3 } });
  try {
    await fast.deliver(fast.alice, MSG1);
    const t = await fast.login(fast.alice);
    assert.equal(await cmd(t, 'DELE 1'), '+OK Message 1 deleted');
    await t.waitClosed(5000);
    assert.equal(t.take(), '');
    const inbox = (await fast.store.getMailbox(fast.alice.id, 'INBOX'))!;
    assert.equal((await fast.store.listMessages(inbox.id)).length, 1);
  } finally {
    await fast.close();
  }
});

test('shutdown: goodbye with [SYS/TEMP], nothing deleted', async () => {
  await c.deliver(c.alice, MSG2);
  const t = await c.login(c.alice);
  await cmd(t, 'DELE 1');
  const inbox = (await c.store.getMailbox(c.alice.id, 'INBOX'))!;
  const n = (await c.store.listMessages(inbox.id)).length;
  await t.session!.shutdown();
  assert.equal(t.take(), '-ERR [SYS/TEMP] Server shutting down, try again later\r\n');
  assert.ok(t.closed);
  assert.equal((await c.store.listMessages(inbox.id)).length, n);
});

test('half-close without QUIT: the maildrop is unlocked at once, nothing is deleted (issue 10 item 10)', async () => {
  const a = await c.login(c.alice, 'secret pw');
  assert.match(await cmd(a, 'DELE 1'), /^\+OK/);
  // FIN right after a command: the command is answered, then the session ends with nothing to say.
  a.send('NOOP\r\n');
  a.end();
  assert.equal((await a.waitFor(/\r\n$/)).trimEnd(), '+OK');
  await a.waitClosed(1000);
  // The owner's next client gets in at once: no [IN-USE] while a grace period runs out.
  const b = await c.login(c.alice, 'secret pw');
  assert.match(await cmd(b, 'STAT'), /^\+OK [1-9]/, 'DELE without QUIT removed nothing');
  await cmd(b, 'QUIT');
});

test('commands in the wrong state, unknown commands, APOP, UTF8, QUIT in AUTHORIZATION', async () => {
  const t = await c.connect({ tls: true });
  assert.equal(await cmd(t, 'STAT'), '-ERR STAT is not valid in the AUTHORIZATION state');
  assert.equal(await cmd(t, 'NOOP'), '-ERR NOOP is not valid in the AUTHORIZATION state');
  assert.equal(await cmd(t, 'XYZZY'), '-ERR Unknown command');
  assert.equal(await cmd(t, ''), '-ERR Unknown command');
  assert.match(await cmd(t, 'APOP alice@example.test c4c9334bac560ecc979e58001b3e22fb'), /^-ERR APOP is not supported/);
  assert.equal(await cmd(t, 'UTF8'), '+OK UTF8 enabled');
  assert.equal(await cmd(t, 'CAPA extra'), '-ERR CAPA takes no arguments');
  assert.equal(await cmd(t, 'QUIT'), '+OK Yubin POP3 server signing off');
  await t.waitClosed();
  const s = await c.login(c.alice);
  assert.equal(await cmd(s, 'UTF8'), '-ERR UTF8 is not valid in the TRANSACTION state');
  assert.equal(await cmd(s, 'STLS'), '-ERR STLS is not valid in the TRANSACTION state');
  s.send('CAPA\r\n');
  const [, caps] = await multi(s);
  assert.ok(!caps.includes('USER') && !caps.includes('STLS') && caps.includes('UIDL'));
  await cmd(s, 'QUIT');
});
