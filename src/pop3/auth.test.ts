// POP3 transcripts: greeting, CAPA, STLS, USER/PASS, AUTH (RFC 1939 §7, RFC 2449, RFC 2595, RFC 5034), login throttling.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MSG1, cmd, createPop3TestContext, multi, type Pop3TestContext } from '../../test/helpers/pop3-context.js';
import { PipeTransport } from '../../test/helpers/pipe.js';
import { createPop3Session } from './session.js';
import type { TlsInfo } from '../net/transport.js';

let c: Pop3TestContext;
before(async () => {
  // Throttling is tested on its own below; here failures must not slow the transcripts down.
  c = await createPop3TestContext({ auth: { throttle_free_failures: 1000, throttle_max_failures: 1000 } });
});
after(async () => {
  await c.close();
});

test('greeting, CAPA before TLS offers STLS and no plaintext login', async () => {
  const t = await c.connect();
  t.send('CAPA\r\n');
  const [status, body] = await multi(t);
  assert.equal(status, '+OK Capability list follows');
  const caps = body.split('\r\n').filter(Boolean);
  for (const cap of ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'STLS', 'UTF8 USER']) assert.ok(caps.includes(cap), cap);
  assert.ok(caps.some((x) => x.startsWith('IMPLEMENTATION ')));
  assert.ok(!caps.includes('USER'));
  assert.ok(!caps.some((x) => x.startsWith('SASL')));
  assert.match(await cmd(t, 'USER alice@example.test'), /^-ERR \[SYS\/PERM\] .*STLS/);
  assert.match(await cmd(t, 'PASS secret pw'), /^-ERR \[SYS\/PERM\]/);
  assert.match(await cmd(t, 'AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQgcHc='), /^-ERR \[SYS\/PERM\]/);
  assert.equal(await cmd(t, 'QUIT'), '+OK Yubin POP3 server signing off');
  assert.ok(t.closed);
});

test('STLS: pipelined input before the handshake is discarded; then login is offered', async () => {
  const t = await c.connect();
  t.send('STLS\r\nCAPA\r\n');
  assert.equal(await t.waitFor(/\r\n$/), '+OK Begin TLS negotiation\r\n');
  assert.equal(t.tlsStarts, 1);
  t.send('CAPA\r\nUTF8\r\n');
  // Commands are answered in order: once UTF8 is answered, every earlier answer is out.
  const out = await t.waitFor('+OK UTF8 enabled\r\n');
  assert.equal(out.match(/Capability list follows/g)?.length, 1, 'the pipelined CAPA got no reply');
  t.send('CAPA\r\n');
  const [, body] = await multi(t);
  const caps = body.split('\r\n');
  assert.ok(caps.includes('USER'));
  assert.ok(caps.includes('SASL PLAIN LOGIN'));
  assert.ok(!caps.includes('STLS'));
  assert.equal(await cmd(t, 'STLS'), '-ERR TLS is already active');
  assert.match(await cmd(t, 'USER alice@example.test'), /^\+OK/);
  assert.match(await cmd(t, 'PASS secret pw'), /^\+OK Logged in/);
  assert.match(await cmd(t, 'QUIT'), /^\+OK/);
});

test('STLS forgets a USER given before it', async () => {
  const fresh = await createPop3TestContext({ auth: { allow_plaintext: true } });
  try {
    const p = await fresh.connect();
    assert.match(await cmd(p, 'USER alice@example.test'), /^\+OK/);
    assert.match(await cmd(p, 'STLS'), /^\+OK/);
    assert.equal(await cmd(p, 'PASS secret pw'), '-ERR USER first');
  } finally {
    await fresh.close();
  }
});

test('a failed TLS handshake closes the session', async () => {
  class FailingTls extends PipeTransport {
    override async startTls(): Promise<TlsInfo> {
      throw new Error('handshake failed');
    }
  }
  const t = new FailingTls('pop3');
  t.attach((tr) => createPop3Session(c.ctx, tr));
  await t.waitFor(/^\+OK/);
  t.send('STLS\r\n');
  await t.waitFor('+OK Begin TLS negotiation\r\n');
  await t.waitClosed();
});

test('USER/PASS: unknown user and wrong password get the same answer', async () => {
  const t = await c.connect({ tls: true });
  assert.equal(await cmd(t, 'USER nobody@example.test'), '+OK Send your password');
  const unknown = await cmd(t, 'PASS whatever');
  assert.equal(await cmd(t, 'USER alice@example.test'), '+OK Send your password');
  const wrong = await cmd(t, 'PASS whatever');
  assert.equal(unknown, '-ERR [AUTH] Authentication failed');
  assert.equal(wrong, unknown);
  assert.equal(await cmd(t, 'PASS secret pw'), '-ERR USER first');
  assert.match(await cmd(t, 'USER'), /^-ERR USER needs a name/);
  t.close();
});

test('USER/PASS: a password with spaces, then TRANSACTION', async () => {
  await c.deliver(c.alice, MSG1);
  const t = await c.connect({ tls: true });
  await cmd(t, 'USER alice@example.test');
  assert.equal(await cmd(t, 'PASS secret pw'), '+OK Logged in, maildrop has 1 message (' + Buffer.byteLength(MSG1) + ' octets)');
  assert.match(await cmd(t, 'USER bob@example.test'), /^-ERR USER is not valid in the TRANSACTION state/);
  assert.match(await cmd(t, 'QUIT'), /^\+OK .*\(0 messages deleted\)/);
  // Leave the maildrop as it was for the next tests.
  const inbox = (await c.store.getMailbox(c.alice.id, 'INBOX'))!;
  await c.store.expunge(inbox.id, (await c.store.listMessages(inbox.id)).map((m) => m.uid));
});

test('AUTH PLAIN with and without an initial response, AUTH LOGIN both ways', async () => {
  const plain = Buffer.from('\0alice@example.test\0secret pw').toString('base64');
  let t = await c.connect({ tls: true });
  assert.match(await cmd(t, `AUTH PLAIN ${plain}`), /^\+OK Logged in/);
  await cmd(t, 'QUIT');

  t = await c.connect({ tls: true });
  assert.equal(await cmd(t, 'AUTH PLAIN'), '+');
  assert.match(await cmd(t, plain), /^\+OK Logged in/);
  await cmd(t, 'QUIT');

  t = await c.connect({ tls: true });
  assert.equal(await cmd(t, `auth login ${Buffer.from('alice@example.test').toString('base64')}`), '+ ' + Buffer.from('Password:').toString('base64'));
  assert.match(await cmd(t, Buffer.from('secret pw').toString('base64')), /^\+OK Logged in/);
  await cmd(t, 'QUIT');

  t = await c.connect({ tls: true });
  assert.equal(await cmd(t, 'AUTH LOGIN'), '+ ' + Buffer.from('Username:').toString('base64'));
  assert.equal(await cmd(t, Buffer.from('alice@example.test').toString('base64')), '+ ' + Buffer.from('Password:').toString('base64'));
  assert.equal(await cmd(t, Buffer.from('wrong').toString('base64')), '-ERR [AUTH] Authentication failed');
  await cmd(t, 'QUIT');
});

test('AUTH: cancel, bad base64, unknown mechanism, bare AUTH lists mechanisms, authzid', async () => {
  const t = await c.connect({ tls: true });
  assert.equal(await cmd(t, 'AUTH PLAIN'), '+');
  assert.equal(await cmd(t, '*'), '-ERR Authentication canceled');
  assert.equal(await cmd(t, 'AUTH PLAIN not*base64'), '-ERR Invalid base64 in initial response');
  assert.equal(await cmd(t, 'AUTH LOGIN'), '+ ' + Buffer.from('Username:').toString('base64'));
  assert.equal(await cmd(t, '%%%'), '-ERR Invalid base64 in authentication response');
  assert.equal(await cmd(t, 'AUTH CRAM-MD5'), '-ERR Unsupported authentication mechanism');
  t.send('AUTH\r\n');
  assert.deepEqual(await multi(t), ['+OK Mechanisms follow', 'PLAIN\r\nLOGIN']);
  // Another user's authorization identity is refused.
  const other = Buffer.from('bob@example.test\0alice@example.test\0secret pw').toString('base64');
  assert.match(await cmd(t, `AUTH PLAIN ${other}`), /^-ERR \[AUTH\]/);
  t.close();
});

test('plaintext login when the config allows it', async () => {
  const open = await createPop3TestContext({ auth: { allow_plaintext: true } });
  try {
    const t = await open.connect();
    t.send('CAPA\r\n');
    const [, caps] = await multi(t);
    assert.ok(caps.split('\r\n').includes('USER') && caps.includes('STLS'));
    await cmd(t, 'USER alice@example.test');
    assert.match(await cmd(t, 'PASS secret pw'), /^\+OK Logged in/);
    await cmd(t, 'QUIT');
  } finally {
    await open.close();
  }
});

test('failed logins are throttled: [SYS/TEMP] once the limit is reached, even with the right password', async () => {
  const strict = await createPop3TestContext({ auth: { throttle_free_failures: 1, throttle_max_failures: 2, throttle_delay: '1ms', throttle_max_delay: '5ms' } });
  try {
    const t = await strict.connect({ tls: true, remoteAddress: '127.0.0.9' });
    for (let i = 0; i < 2; i++) {
      await cmd(t, 'USER alice@example.test');
      assert.equal(await cmd(t, 'PASS wrong'), '-ERR [AUTH] Authentication failed');
    }
    await cmd(t, 'USER alice@example.test');
    assert.equal(await cmd(t, 'PASS secret pw'), '-ERR [SYS/TEMP] Too many failed logins, try again later');
    t.close();
  } finally {
    await strict.close();
  }
});
