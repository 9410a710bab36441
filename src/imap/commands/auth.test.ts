// STARTTLS, LOGIN, AUTHENTICATE (RFC 9051 §6.2; SASL-IR RFC 4959): grammar in args.test.ts, transcripts here.
import { test } from 'node:test';
import { useImapContext } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('AUTHENTICATE PLAIN with and without initial response; LOGIN mechanism; throttling', async () => {
  const c = await t.connect();
  (await c.cmd('AUTHENTICATE PLAIN ' + Buffer.from('\0alice@a.test\0secret pw').toString('base64'))).ok();
  const d = await t.connect();
  d.send('x AUTHENTICATE LOGIN\r\n');
  await d.pipe.waitFor('+ VXNlcm5hbWU6');
  d.send(Buffer.from('alice@a.test').toString('base64') + '\r\n');
  await d.pipe.waitFor('+ UGFzc3dvcmQ6');
  d.send(Buffer.from('secret pw').toString('base64') + '\r\n');
  (await d.reply('x')).ok();
  const e = await t.connect({ remoteAddress: '10.9.9.9' });
  for (let i = 0; i < 5; i++) (await e.cmd('LOGIN alice@a.test nope')).no('AUTHENTICATIONFAILED');
  (await e.cmd('LOGIN alice@a.test "secret pw"')).no('UNAVAILABLE');
});

test('AUTHENTICATE: PLAIN with a continuation, "*" cancels, unknown mechanism', async () => {
  const c = await t.connect();
  c.send('a1 AUTHENTICATE PLAIN\r\n');
  await c.pipe.waitFor('+ \r\n');
  c.send('*\r\n');
  (await c.reply('a1')).bad();
  (await c.cmd('AUTHENTICATE CRAM-MD5')).no();
  c.send('a2 AUTHENTICATE PLAIN\r\n');
  await c.pipe.waitFor('+ ');
  c.send(Buffer.from('\0alice@a.test\0secret pw').toString('base64') + '\r\n');
  (await c.reply('a2')).ok().has('[CAPABILITY');
});

test('AUTHENTICATE continuations read through the session core: exact transcript, a literal is BAD, then the session goes on', async () => {
  const c = await t.connect();
  const s = c.transcript();
  s.send('a1 AUTHENTICATE LOGIN');
  await s.expect(['+ VXNlcm5hbWU6']);
  // A continuation line is one line: a literal in it is refused for the AUTHENTICATE tag.
  s.send('abc {5}');
  await s.expect(['a1 BAD Literal not expected here']);
  s.send('a2 AUTHENTICATE PLAIN');
  await s.expect(['+ ']);
  s.send('!!!');
  await s.expect(['a2 BAD Invalid base64']);
  s.send('a3 AUTHENTICATE PLAIN');
  await s.expect(['+ ']);
  s.send(Buffer.from('\0alice@a.test\0secret pw').toString('base64'));
  await s.expect([/^a3 OK \[CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL\+ .*\] Logged in$/]);
  s.send('a4 NOOP');
  await s.expectTagged('a4', [], 'a4 OK NOOP completed');
  s.expectQuiet();
});

test('AUTHENTICATE: a FIN in the middle of the exchange ends the session without an answer', async () => {
  const c = await t.connect();
  const s = c.transcript();
  s.send('a1 AUTHENTICATE PLAIN');
  await s.expect(['+ ']);
  c.pipe.end();
  await s.expectClosed();
  s.expectQuiet();
});
