// Issue 10 transcripts: LIST patterns that used to freeze the event loop, sequence numbers in
// an empty mailbox, and client input that does not decode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createImapTestContext, message, type ImapTestContext } from '../../../test/helpers/imap-context.js';
import { MAX_PATTERN_LENGTH } from './names.js';

let t: ImapTestContext;
before(async () => {
  t = await createImapTestContext();
});
after(async () => {
  await t.close();
});

test('LIST with 200 wildcards answers at once; an over-long pattern is BAD', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')).ok();
  const started = Date.now();
  (await c.cmd(`LIST "" "${'%*'.repeat(100)}q"`)).ok().lacks('* LIST');
  (await c.cmd(`LIST "" "${'%'.repeat(200)}"`)).ok().has('* LIST (\\HasChildren) "/" aaaa').lacks('bbbb');
  (await c.cmd(`LIST "" "${'*'.repeat(200)}b"`)).ok().has('/bbbb');
  assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
  (await c.cmd(`LIST "" "${'%'.repeat(MAX_PATTERN_LENGTH + 1)}"`)).bad().has('too long');
  (await c.cmd(`LIST "${'r'.repeat(MAX_PATTERN_LENGTH)}" "%"`)).bad().has('too long');
  // The session goes on
  (await c.cmd('LIST "" INBOX')).ok().has('* LIST (\\HasNoChildren) "/" INBOX');
});

test('RFC 9051 §9: in an empty mailbox every message sequence number is BAD, "*" included', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Empty')).ok();
  (await c.cmd('SELECT Empty')).ok().has('* 0 EXISTS');
  for (const command of ['FETCH 1:* FLAGS', 'FETCH * FLAGS', 'FETCH 1 FLAGS', 'STORE 1:* +FLAGS (\\Seen)', 'COPY 1:* INBOX', 'MOVE * INBOX']) {
    (await c.cmd(command)).bad().has('out of range');
  }
  // UIDs are not sequence numbers: UIDs not in the mailbox are ignored (RFC 9051 §6.4.9)
  (await c.cmd('UID FETCH 1:* FLAGS')).ok().lacks('FETCH (');
  (await c.cmd('SEARCH ALL')).ok();
  await c.append('Empty', message('One'));
  (await c.cmd('FETCH 1:* FLAGS')).ok().has('* 1 FETCH');
  (await c.cmd('FETCH 2 FLAGS')).bad().has('out of range');
});

test('mailbox names and patterns that are not modified UTF-7 or UTF-8: NO or no match, never an internal error', async () => {
  const c = await t.connect();
  await c.login();
  for (const name of ['a&b', '&AGE-', '&2D0-', '&Jjo-&-', '"x&"']) {
    (await c.cmd(`CREATE ${name}`)).no('CANNOT');
  }
  (await c.cmd('LIST "" "&"')).ok().lacks('* LIST');
  (await c.cmd('ENABLE UTF8=ACCEPT')).ok();
  c.send(Buffer.concat([Buffer.from('u1 CREATE "bad'), Buffer.from([0xff, 0xfe]), Buffer.from('"\r\n')]));
  const r = await c.reply('u1');
  assert.ok(!/SERVERBUG|Internal/i.test(r.text), r.text);
  assert.match(r.text, /^u1 (NO|BAD) /m);
});
