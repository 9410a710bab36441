// APPEND (RFC 9051 §6.3.12): APPENDLIMIT (RFC 7889), flags, INTERNALDATE, literals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useImapContext, createImapTestContext, message } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('APPENDLIMIT: NO [TOOBIG] before "+", {N+} over the limit closes', async () => {
  const small = await createImapTestContext({ config: { imap: { append_limit: 1000 } } });
  try {
    const c = await small.connect();
    await c.login();
    c.send('a1 APPEND INBOX {5000}\r\n');
    const r = await c.reply('a1');
    r.no('TOOBIG').lacks('+ ');
    (await c.cmd('NOOP')).ok();
    c.send('a2 APPEND INBOX {5000+}\r\n' + 'x'.repeat(100));
    await c.pipe.waitClosed();
    assert.match(c.pipe.take(), /a2 NO \[TOOBIG\][\s\S]*\* BYE/);
  } finally {
    await small.close();
  }
});

test('APPEND with flags and INTERNALDATE; TRYCREATE; empty message refused', async () => {
  const c = await t.connect();
  await c.login();
  c.send('d1 APPEND Drafts (\\Draft $Label) "05-Mar-2024 14:15:16 +0200" {' + message('dated').length + '+}\r\n' + message('dated') + '\r\n');
  (await c.reply('d1')).ok().has(/\[APPENDUID \d+ \d+\]/);
  (await c.cmd('EXAMINE Drafts')).ok();
  (await c.cmd('FETCH * (FLAGS INTERNALDATE)')).ok().has('FLAGS (\\Draft $Label').has('INTERNALDATE "05-Mar-2024 12:15:16 +0000"');
  c.send('d2 APPEND NoSuchBox {5+}\r\nhello\r\n');
  (await c.reply('d2')).no('TRYCREATE');
  c.send('d4 APPEND {6+}\r\nDrafts (\\Seen) {5+}\r\nhello\r\n');
  (await c.reply('d4')).ok().has('APPENDUID');
  c.send('d3 APPEND Drafts {0+}\r\n\r\n');
  (await c.reply('d3')).no();
  (await c.cmd('APPEND Drafts "bad date" {1+}\r\nx')).bad();
});
