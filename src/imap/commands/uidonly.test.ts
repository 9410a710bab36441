// UIDONLY (RFC 9586): ENABLE UIDONLY; then every command that names messages by sequence number
// is BAD [UIDREQUIRED] (also a sequence-set key inside UID SEARCH), message data comes as
// "* uid UIDFETCH (...)" (own FETCH and STORE, another session's flag change), and expunges as
// VANISHED (own EXPUNGE and UID EXPUNGE, another session's expunge). A session without it is
// unchanged.
import { test } from 'node:test';
import { message, useImapContext } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('ENABLE UIDONLY: sequence numbers refused with BAD [UIDREQUIRED]', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CAPABILITY')).ok().has(/ UIDONLY[ \r]/);
  (await c.cmd('CREATE U1')).ok();
  const u1 = await c.append('U1', message('u-1'));
  const u2 = await c.append('U1', message('u-2'));
  const s = c.transcript();
  s.send('e ENABLE UIDONLY');
  await s.expectTagged('e', ['* ENABLED UIDONLY'], 'e OK ENABLE completed');
  s.send('s SELECT U1');
  await s.until(/^s OK /);
  for (const cmd of ['FETCH 1 (FLAGS)', 'STORE 1 +FLAGS (\\Seen)', 'COPY 1 INBOX', 'MOVE 1 INBOX', 'SEARCH ALL', 'SORT (ARRIVAL) UTF-8 ALL', 'THREAD REFERENCES UTF-8 ALL']) {
    s.send(`b ${cmd}`);
    await s.expectTagged('b', [], /^b BAD \[UIDREQUIRED\] /);
  }
  for (const key of ['1:2', 'NOT 1', 'OR 1 SEEN', '(ALL 2)']) {
    s.send(`k UID SEARCH ${key}`);
    await s.expectTagged('k', [], 'k BAD [UIDREQUIRED] Message sequence numbers cannot be searched after ENABLE UIDONLY');
  }
  s.send(`k2 UID SEARCH UID ${u1}:${u2}`);
  await s.expectTagged('k2', [`* SEARCH ${u1} ${u2}`], 'k2 OK UID SEARCH completed');
  s.send('k3 UID SORT (ARRIVAL) UTF-8 ALL');
  await s.expectTagged('k3', [`* SORT ${u1} ${u2}`], 'k3 OK UID SORT completed');
});

test('UIDFETCH instead of FETCH, VANISHED instead of EXPUNGE (own commands and another session)', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE U2')).ok();
  const u1 = await c.append('U2', message('v-1'));
  const u2 = await c.append('U2', message('v-2'));
  const u3 = await c.append('U2', message('v-3'));
  (await c.cmd('ENABLE UIDONLY')).ok();
  (await c.cmd('SELECT U2')).ok();
  const s = c.transcript();
  s.send(`f UID FETCH ${u1}:${u2} (FLAGS RFC822.SIZE)`);
  await s.expectTagged('f', [/^\* \d+ UIDFETCH \(UID \d+ FLAGS \(\\Recent\) RFC822\.SIZE \d+\)$/, /^\* \d+ UIDFETCH /], 'f OK UID FETCH completed');
  s.send(`f2 UID FETCH ${u1} (BODY.PEEK[HEADER.FIELDS (Subject)])`);
  await s.expectTagged('f2', [`* ${u1} UIDFETCH (UID ${u1} BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: v-1\r\n\r\n)`], 'f2 OK UID FETCH completed');
  s.send(`st UID STORE ${u2} +FLAGS (\\Seen)`);
  await s.expectTagged('st', [`* ${u2} UIDFETCH (UID ${u2} FLAGS (\\Seen \\Recent))`], 'st OK UID STORE completed');
  // another session changes flags and expunges
  const o = await t.connect();
  await o.login();
  (await o.cmd('SELECT U2')).ok();
  (await o.cmd(`UID STORE ${u3} +FLAGS (\\Flagged)`)).ok();
  (await o.cmd(`UID STORE ${u1} +FLAGS (\\Deleted)`)).ok();
  (await o.cmd('EXPUNGE')).ok();
  s.send('n NOOP');
  await s.expectTagged('n', [`* ${u3} UIDFETCH (UID ${u3} FLAGS (\\Flagged \\Recent))`, `* ${u1} UIDFETCH (UID ${u1} FLAGS (\\Deleted \\Recent))`, `* VANISHED ${u1}`], 'n OK NOOP completed');
  // own expunges: EXPUNGE (no sequence numbers in it) and UID EXPUNGE
  s.send(`d UID STORE ${u2}:${u3} +FLAGS.SILENT (\\Deleted)`);
  await s.expectTagged('d', [], 'd OK UID STORE completed');
  s.send(`x UID EXPUNGE ${u2}`);
  await s.expectTagged('x', [`* VANISHED ${u2}`], 'x OK UID EXPUNGE completed');
  s.send('x2 EXPUNGE');
  await s.expectTagged('x2', [`* VANISHED ${u3}`], 'x2 OK EXPUNGE completed');
  // a session without UIDONLY still gets sequence numbers
  const p = o.transcript();
  p.send('p NOOP');
  await p.expectTagged('p', [`* 1 FETCH (UID ${u2} FLAGS (\\Seen \\Deleted))`, `* 2 FETCH (UID ${u3} FLAGS (\\Flagged \\Deleted))`, '* 1 EXPUNGE', '* 1 EXPUNGE'], 'p OK NOOP completed');
});
