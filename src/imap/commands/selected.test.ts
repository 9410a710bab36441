// Selected-state commands (RFC 9051 §6.4): SELECT/EXAMINE, STORE, EXPUNGE, UID EXPUNGE, CLOSE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useImapContext, message } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('SELECT, APPEND, FETCH, STORE, SEARCH, EXPUNGE', async () => {
  const c = await t.connect();
  await c.login();
  const sel = (await c.cmd('SELECT INBOX')).ok().has('[READ-WRITE]').has('* 0 EXISTS').has('UIDVALIDITY');
  void sel;
  const uid1 = await c.append('INBOX', message('First'));
  const uid2 = await c.append('INBOX', message('Second', 'Body two'), '\\Flagged');
  assert.equal(uid2, uid1 + 1);
  (await c.cmd('NOOP')).ok();
  const f = (await c.cmd('FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)')).ok();
  f.has(`* 1 FETCH (UID ${uid1} FLAGS (\\Recent) RFC822.SIZE`).has(`* 2 FETCH (UID ${uid2} FLAGS (\\Flagged \\Recent)`).has('"First"').has('(("Bob" NIL "bob" "b.test"))');
  const body = (await c.cmd('UID FETCH ' + uid1 + ' (BODY.PEEK[HEADER.FIELDS (Subject)] BODY[TEXT])')).ok();
  body.has('BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: First\r\n\r\n').has('BODY[TEXT] {13}\r\nHello world\r\n').has('FLAGS (\\Seen \\Recent)');
  (await c.cmd('FETCH 2 BODYSTRUCTURE')).ok().has('BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 1');
  (await c.cmd('SEARCH SUBJECT second')).ok().has('* SEARCH 2\r\n');
  (await c.cmd('SEARCH BODY "body two"')).ok().has('* SEARCH 2\r\n');
  (await c.cmd('UID SEARCH SEEN')).ok().has(`* SEARCH ${uid1}\r\n`);
  (await c.cmd('SEARCH RETURN (MIN MAX COUNT) ALL')).ok().has(/\* ESEARCH \(TAG "t\d+"\) MIN 1 MAX 2 COUNT 2/);
  (await c.cmd('SEARCH OR FLAGGED SEEN NOT SMALLER 1')).ok().has('* SEARCH 1 2\r\n');
  (await c.cmd('STORE 1 +FLAGS (\\Deleted)')).ok().has('* 1 FETCH (FLAGS (\\Seen \\Deleted \\Recent))');
  (await c.cmd('STORE 2 +FLAGS.SILENT ($Work)')).ok().lacks('FETCH');
  (await c.cmd('EXPUNGE')).ok().has('* 1 EXPUNGE');
  (await c.cmd('FETCH 1 (UID FLAGS)')).ok().has(`* 1 FETCH (UID ${uid2} FLAGS (\\Flagged $Work \\Recent))`);
  (await c.cmd('STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE)')).ok().has(`* STATUS INBOX (MESSAGES 1 UIDNEXT ${uid2 + 1} UNSEEN 1 SIZE`);
});

test('CLOSE expunges silently; EXAMINE is read-only', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Cl')).ok();
  await c.append('Cl', message('x'), '\\Deleted');
  (await c.cmd('EXAMINE Cl')).ok().has('[READ-ONLY]');
  (await c.cmd('STORE 1 +FLAGS (\\Seen)')).no();
  (await c.cmd('SELECT Cl')).ok().has('[CLOSED]');
  (await c.cmd('CLOSE')).ok().lacks('EXPUNGE');
  (await c.cmd('STATUS Cl (MESSAGES)')).ok().has('MESSAGES 0');
  (await c.cmd('UNSELECT')).bad();
});

test('UID EXPUNGE removes only the named \\Deleted messages', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Ux')).ok();
  const u1 = await c.append('Ux', message('u1'), '\\Deleted');
  const u2 = await c.append('Ux', message('u2'), '\\Deleted');
  (await c.cmd('SELECT Ux')).ok();
  (await c.cmd(`UID EXPUNGE ${u2}`)).ok().has('* 2 EXPUNGE').lacks('* 1 EXPUNGE');
  (await c.cmd('UID SEARCH ALL')).ok().has(`* SEARCH ${u1}\r\n`);
});

test('EXAMINE: every command that writes is refused with NO [READ-ONLY] (the dispatcher\'s writes flag); reading and COPY work', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Ro')).ok();
  await c.append('Ro', message('ro'), '\\Deleted');
  (await c.cmd('EXAMINE Ro')).ok().has('[READ-ONLY]');
  const s = c.transcript();
  for (const [tag, command] of [['w1', 'STORE 1 +FLAGS (\\Seen)'], ['w2', 'UID STORE 1:* FLAGS ()'], ['w3', 'EXPUNGE'], ['w4', 'UID EXPUNGE 1:*'], ['w5', 'MOVE 1 INBOX'], ['w6', 'UID MOVE 1:* INBOX']]) {
    s.send(`${tag} ${command}`);
    await s.expectTagged(tag!, [], `${tag} NO [READ-ONLY] Mailbox is read-only`);
  }
  // Syntax comes first: a bad STORE is BAD, not NO.
  s.send('w7 STORE 1 XFLAGS (\\Seen)');
  await s.expectTagged('w7', [], 'w7 BAD Expected FLAGS, +FLAGS or -FLAGS');
  s.send('r1 FETCH 1 (FLAGS BODY[TEXT])');
  await s.expectTagged('r1', [/^\* 1 FETCH \(FLAGS \(\\Deleted \\Recent\) BODY\[TEXT\] \{\d+\}\r\n/], 'r1 OK FETCH completed');
  s.send('r2 COPY 1 INBOX');
  await s.expectTagged('r2', [], /^r2 OK \[COPYUID \d+ 1 \d+\] COPY completed$/);
  (await c.cmd('STATUS Ro (MESSAGES UNSEEN)')).ok().has('* STATUS Ro (MESSAGES 1 UNSEEN 1)');
});
