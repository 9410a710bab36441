// Session-wide behaviour: greeting, capabilities, states, defences before login, STARTTLS, timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useImapContext, createImapTestContext } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('LOGOUT: exact transcript (RFC 9051 §6.1.3: BYE, the tagged OK, then the close)', async () => {
  const c = await t.connect();
  const s = c.transcript();
  s.send('a LOGOUT');
  await s.expect(['* BYE Logging out', 'a OK LOGOUT completed']);
  await s.expectClosed();
  s.expectQuiet();
});

test('bad commands before login: the budget ends the session; after login BAD does not count', async () => {
  const c = await t.connect();
  const s = c.transcript();
  for (let i = 1; i < 5; i++) {
    s.send(`b${i} FOO`);
    await s.expect([`b${i} BAD Unknown command FOO`]);
  }
  s.send('b5 SELECT INBOX');
  await s.expect(['b5 BAD SELECT: Log in first', '* BYE Too many invalid commands']);
  await s.expectClosed();
  const d = await t.connect();
  await d.login();
  const e = d.transcript();
  for (let i = 1; i <= 6; i++) {
    e.send(`b${i} FOO`);
    await e.expect([`b${i} BAD Unknown command FOO`]);
  }
  e.send('n NOOP');
  await e.expect(['n OK NOOP completed']);
});

test('greeting, CAPABILITY before and after login, LOGOUT', async () => {
  const c = await t.connect();
  const r = (await c.cmd('CAPABILITY')).ok();
  r.has('IMAP4rev2').has('IMAP4rev1').has('AUTH=PLAIN').has('STARTTLS').has('LITERAL+').has('APPENDLIMIT=').has('UTF8=ACCEPT');
  await c.login();
  (await c.cmd('CAPABILITY')).ok().lacks('AUTH=PLAIN').lacks('STARTTLS').has('IDLE');
  const bye = await c.cmd('LOGOUT');
  bye.ok().has('* BYE');
  assert.ok(c.pipe.closed);
});

test('LOGIN failure and state checks', async () => {
  const c = await t.connect({ remoteAddress: '127.0.0.9' });
  (await c.cmd('LOGIN alice@a.test wrong')).no('AUTHENTICATIONFAILED');
  (await c.cmd('SELECT INBOX')).bad();
  await c.login();
  (await c.cmd('FETCH 1 FLAGS')).bad();
  (await c.cmd('LOGIN x y')).bad();
});

test('defences before login: long lines, nesting, NUL in quoted, bad commands, LOGINDISABLED', async () => {
  const strict = await createImapTestContext({ config: { auth: { allow_plaintext: false } } });
  try {
    const c = await strict.connect();
    (await c.cmd('CAPABILITY')).ok().has('LOGINDISABLED').lacks('AUTH=PLAIN');
    (await c.cmd('LOGIN alice@a.test "secret pw"')).no('PRIVACYREQUIRED');
    (await c.cmd('AUTHENTICATE PLAIN AGFsaWNlQGEudGVzdABzZWNyZXQgcHc=')).no('PRIVACYREQUIRED');
    c.send('big LOGIN {9000}\r\n');
    (await c.reply('big')).bad().lacks('+ ');
    (await c.cmd('ID ("a" "b\0c")')).bad();
    (await c.cmd('X ' + '('.repeat(4000) + ')'.repeat(4000))).bad();
    (await c.cmd('BAR')).bad();
    c.send('z BAZ\r\n');
    await c.pipe.waitClosed();
    assert.match(c.pipe.take(), /z BAD[\s\S]*\* BYE Too many/);

    const d = await strict.connect();
    d.send('a ' + 'x'.repeat(70_000));
    await d.pipe.waitClosed();
    assert.match(d.pipe.take(), /\* BYE/);
  } finally {
    await strict.close();
  }
});

test('STARTTLS: pipelined command after it is dropped; login works after TLS', async () => {
  const strict = await createImapTestContext({ config: { auth: { allow_plaintext: false } } });
  try {
    const c = await strict.connect();
    c.send('a STARTTLS\r\nb CAPABILITY\r\n');
    await c.pipe.waitFor('a OK');
    assert.equal(c.pipe.tlsStarts, 1);
    (await c.cmd('NOOP', 'c')).ok();
    assert.ok(!c.pipe.take().includes('b OK'));
    (await c.cmd('CAPABILITY')).ok().has('AUTH=PLAIN').lacks('STARTTLS');
    await c.login();
  } finally {
    await strict.close();
  }
});

test('ID, ENABLE, literal+ login, autologout', async () => {
  const fast = await createImapTestContext({ config: { imap: { preauth_timeout: 0.2 } } });
  try {
    const c = await fast.connect();
    (await c.cmd('ID ("name" "test")')).ok().has('* ID ("name" "Yubin"');
    c.send('l LOGIN {12+}\r\nalice@a.test {9+}\r\nsecret pw\r\n');
    (await c.reply('l')).ok();
    const d = await fast.connect();
    await d.pipe.waitClosed(3000);
    assert.match(d.pipe.take(), /\* BYE Autologout/);
  } finally {
    await fast.close();
  }
});

test('a literal refused before the command is parsed answers the command\'s tag, or "*" when the tag is not one', async () => {
  const small = await createImapTestContext({ config: { imap: { max_command_length: 1000 } } });
  try {
    const c = await small.connect();
    await c.login();
    const s = c.transcript();
    // Found by the fuzz target: the framer's own refusal had no tag at all, and a word that is
    // not a tag ("a+b") was used as one.
    s.send('t1 LIST "" {2000}');
    await s.expect(['t1 BAD [TOOBIG] Literal too big for this command']);
    s.send('a+b APPEND INBOX {5}');
    await s.expect(['+ Ready for literal data']);
    s.send('hello {999999999}');
    await s.expect(['* NO [TOOBIG] Message larger than APPENDLIMIT 52428800']);
    s.send('a+b LOGIN {2000}');
    await s.expect(['* BAD [TOOBIG] Literal too big for this command']);
    s.send('t2 NOOP');
    await s.expect(['t2 OK NOOP completed']);
  } finally {
    await small.close();
  }
});
