import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createImapTestContext, message, USER, type ImapTestContext } from '../../../test/helpers/imap-context.js';
import { openSpamPrefs } from '../../checks/index.js';

let t: ImapTestContext;
before(async () => {
  t = await createImapTestContext();
});
after(async () => {
  await t.close();
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

test('mailboxes: CREATE, LIST, RENAME, DELETE, SUBSCRIBE, names', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('LIST "" *')).ok().has('* LIST (\\HasNoChildren) "/" INBOX').has('* LIST (\\HasNoChildren \\Sent) "/" Sent');
  (await c.cmd('CREATE Projects/2026/Q1')).ok();
  (await c.cmd('LIST "" Projects/%')).ok().has('* LIST (\\HasChildren) "/" Projects/2026').lacks('Q1');
  (await c.cmd('CREATE Projects')).no('ALREADYEXISTS');
  (await c.cmd('DELETE Projects')).no('HASCHILDREN');
  (await c.cmd('RENAME Projects/2026 Archive2026')).ok();
  (await c.cmd('LIST "" *')).ok().has('"/" Archive2026/Q1').lacks('Projects/2026');
  (await c.cmd('SUBSCRIBE Archive2026')).ok();
  (await c.cmd('LIST (SUBSCRIBED) "" *')).ok().has('(\\HasChildren \\Subscribed) "/" Archive2026');
  (await c.cmd('LSUB "" *')).ok().has('* LSUB (\\HasChildren) "/" Archive2026');
  (await c.cmd('LIST "" * RETURN (STATUS (MESSAGES))')).ok().has('* STATUS INBOX (MESSAGES');
  (await c.cmd('LIST (SPECIAL-USE) "" *')).ok().has('\\Trash').lacks('Archive2026');
  (await c.cmd('CREATE "Entw&APw-rfe"')).ok();
  (await c.cmd('LIST "" Entw*')).ok().has('"/" Entw&APw-rfe\r\n');
  (await c.cmd('ENABLE UTF8=ACCEPT')).ok().has('* ENABLED UTF8=ACCEPT');
  (await c.cmd('LIST "" Entw*')).ok().has('"/" "Entwürfe"');
  (await c.cmd('DELETE inbox')).no('CANNOT');
  (await c.cmd('SELECT inbox')).ok();
  (await c.cmd('DELETE Nope')).no('NONEXISTENT');
  (await c.cmd('LIST "" ""')).ok().has('* LIST (\\Noselect) "/" ""');
  (await c.cmd('NAMESPACE')).ok().has('* NAMESPACE (("" "/")) NIL NIL');
});

test('bad mailbox names are refused and nothing is created', async () => {
  const c = await t.connect();
  await c.login();
  for (const name of ['"a/../b"', '".."', '"a//b"', '"/etc"', '"~root"', '&', '&Jjo', '&AGE-', '&Jjo-&-', '"x*"']) {
    const r = await c.cmd(`CREATE ${name}`);
    assert.ok(/ (NO|BAD) /.test(r.tagged), `${name}: ${r.tagged}`);
  }
  (await c.cmd('CREATE {3}\r\na\x01b', 'lit')).no();
  const all = await t.store.listMailboxes(t.accountId);
  assert.ok(!all.some((m) => /\.\.|^\/|^~|\x01|&|\*/.test(m.name)), all.map((m) => m.name).join(','));
});

test('COPY and MOVE with COPYUID; TRYCREATE', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Moved')).ok();
  (await c.cmd('SELECT INBOX')).ok();
  const u = await c.append('INBOX', message('ToMove'));
  (await c.cmd('NOOP')).ok();
  (await c.cmd(`UID COPY ${u} Nowhere`)).no('TRYCREATE');
  const cp = (await c.cmd(`UID COPY ${u} Moved`)).ok();
  cp.has(/\[COPYUID \d+ \d+ 1\]/);
  const mv = (await c.cmd(`UID MOVE ${u} Moved`)).ok();
  mv.has(/\* OK \[COPYUID \d+ \d+ 2\]/).has(/\* \d+ EXPUNGE/);
  (await c.cmd('STATUS Moved (MESSAGES)')).ok().has('MESSAGES 2');
});

test('IDLE sees another session\'s delivery, flag change and expunge', async () => {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd('CREATE Shared')).ok();
  (await a.cmd('SELECT Shared')).ok();
  (await b.cmd('SELECT Shared')).ok();
  a.send('i1 IDLE\r\n');
  await a.pipe.waitFor('+ idling');
  const u = await b.append('Shared', message('Pushed'));
  await a.pipe.waitFor('* 1 EXISTS');
  (await b.cmd(`UID STORE ${u} +FLAGS (\\Flagged)`)).ok();
  await a.pipe.waitFor(`* 1 FETCH (UID ${u} FLAGS (\\Flagged \\Recent))`);
  (await b.cmd(`UID STORE ${u} +FLAGS.SILENT (\\Deleted)`)).ok();
  (await b.cmd('EXPUNGE')).ok().has('* 1 EXPUNGE');
  await a.pipe.waitFor('* 1 EXPUNGE');
  a.send('DONE\r\n');
  (await a.reply('i1')).ok();
});

test('no EXPUNGE during FETCH/STORE/SEARCH by sequence number; sent on NOOP', async () => {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd('CREATE Seq')).ok();
  await b.append('Seq', message('one'));
  await b.append('Seq', message('two'));
  (await a.cmd('SELECT Seq')).ok().has('* 2 EXISTS');
  (await b.cmd('SELECT Seq')).ok();
  (await b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')).ok();
  (await b.cmd('EXPUNGE')).ok();
  (await a.cmd('FETCH 1:2 FLAGS')).ok().lacks(/\* \d+ EXPUNGE/).has('* 2 FETCH');
  (await a.cmd('SEARCH ALL')).ok().lacks(/\* \d+ EXPUNGE/);
  (await a.cmd('STORE 2 +FLAGS (\\Seen)')).ok().lacks(/\* \d+ EXPUNGE/);
  (await a.cmd('UID FETCH 1:* FLAGS')).ok().has('* 1 EXPUNGE');
  (await a.cmd('FETCH 1 UID')).ok().has('* 1 FETCH');
  (await a.cmd('NOOP')).ok().lacks('EXPUNGE');
});

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

test('quota: GETQUOTAROOT, OVERQUOTA on APPEND, SETQUOTA refused', async () => {
  const q = await createImapTestContext({ quota: 2048 });
  try {
    const c = await q.connect();
    await c.login();
    (await c.cmd('GETQUOTAROOT INBOX')).ok().has('* QUOTAROOT INBOX ""').has('* QUOTA "" (STORAGE 0 2)');
    await c.append('INBOX', message('fits'));
    const big = message('big', 'x'.repeat(3000));
    c.send(`q1 APPEND INBOX {${big.length}}\r\n`);
    await c.pipe.waitFor('+ ');
    c.send(big + '\r\n');
    (await c.reply('q1')).no('OVERQUOTA');
    (await c.cmd('SETQUOTA "" (STORAGE 100)')).no('NOPERM');
  } finally {
    await q.close();
  }
});

test('rev1 \\Recent: one session claims new messages', async () => {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd('CREATE Rec')).ok();
  await a.append('Rec', message('r1'));
  (await a.cmd('SELECT Rec')).ok().has('* 1 RECENT');
  (await b.cmd('SELECT Rec')).ok().has('* 0 RECENT');
  (await a.cmd('FETCH 1 FLAGS')).ok().has('\\Recent');
  const c = await t.connect();
  await c.login();
  (await c.cmd('ENABLE IMAP4rev2')).ok().has('* ENABLED IMAP4rev2');
  (await c.cmd('SELECT Rec')).ok().lacks('RECENT').has('* LIST (\\HasNoChildren) "/" Rec');
  (await c.cmd('SEARCH ALL')).ok().has(/\* ESEARCH \(TAG "t\d+"\) ALL 1/);
});

test('FETCH BODY[] sets \\Seen, BINARY decodes, partial, RFC822 items', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Bin')).ok();
  const mime =
    'From: a@b.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nplain part\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--XX--\r\n';
  const u = await c.append('Bin', mime);
  (await c.cmd('SELECT Bin')).ok();
  (await c.cmd(`UID FETCH ${u} (BINARY.PEEK[2] BINARY.SIZE[2])`)).ok().has('BINARY[2] ~{4}\r\n\x00\x01\x02\x03').has('BINARY.SIZE[2] 4');
  (await c.cmd('FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME])')).ok().has('BODY[1] {10}\r\nplain part').has('BODY[2.MIME] {');
  (await c.cmd('FETCH 1 BODY.PEEK[]<0.4>')).ok().has('BODY[]<0> {4}\r\nFrom');
  (await c.cmd('FETCH 1 FLAGS')).ok().has('FLAGS (\\Recent)');
  (await c.cmd('FETCH 1 BODY[]')).ok().has('FLAGS (\\Seen \\Recent)');
  (await c.cmd('FETCH 1 (RFC822.HEADER RFC822.SIZE)')).ok().has('RFC822.HEADER {').has(`RFC822.SIZE ${Buffer.byteLength(mime)}`);
  (await c.cmd('FETCH 1 (BODY[9])')).ok().has('BODY[9] ""');
  (await c.cmd('FETCH 1 (BOGUS)')).bad();
});

test('SEARCHRES: SAVE and $', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Res')).ok();
  await c.append('Res', message('alpha'));
  await c.append('Res', message('beta'));
  (await c.cmd('SELECT Res')).ok();
  (await c.cmd('SEARCH RETURN (SAVE) SUBJECT beta')).ok().lacks('ESEARCH');
  (await c.cmd('FETCH $ (UID)')).ok().has('* 2 FETCH').lacks('* 1 FETCH');
  (await c.cmd('UID SEARCH UID $')).ok().has('* SEARCH 2');
  (await c.cmd('SEARCH CHARSET KOI8-R ALL')).no('BADCHARSET');
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

test('two sessions: MOVE and a new delivery seen by the other on NOOP', async () => {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd('CREATE Two')).ok();
  (await a.cmd('CREATE Two/Dest')).ok();
  await a.append('Two', message('m1'));
  await a.append('Two', message('m2'));
  (await a.cmd('SELECT Two')).ok().has('* 2 EXISTS');
  (await b.cmd('SELECT Two')).ok().has('* 2 EXISTS');
  (await b.cmd('MOVE 1 Two/Dest')).ok().has('* 1 EXPUNGE');
  (await a.cmd('NOOP')).ok().has('* 1 EXPUNGE');
  const mb = await t.store.getMailbox(t.accountId, 'Two');
  const staged = await t.store.blobs.stage(Buffer.from(message('delivered')));
  const [res] = await t.store.deliver(staged, [{ accountId: t.accountId, mailbox: 'Two' }]);
  assert.ok(res && res.ok && res.mailboxId === mb!.id);
  (await a.cmd('NOOP')).ok().has('* 2 EXISTS');
  (await b.cmd('UID FETCH 1:* (UID)')).ok().has('* 2 EXISTS');
  (await b.cmd('UID FETCH 1:* (UID)')).ok().has(`UID ${res.uid}`);
  (await a.cmd('STATUS Two/Dest (MESSAGES)')).ok().has('MESSAGES 1');
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

test('quota: COPY over quota is refused with OVERQUOTA and nothing copied', async () => {
  const q = await createImapTestContext({ quota: 1500 });
  try {
    const c = await q.connect();
    await c.login();
    await c.append('INBOX', message('one', 'y'.repeat(900)));
    (await c.cmd('SELECT INBOX')).ok();
    (await c.cmd('COPY 1 Archive')).no('OVERQUOTA');
    (await c.cmd('STATUS Archive (MESSAGES)')).ok().has('MESSAGES 0');
  } finally {
    await q.close();
  }
});

test('LIST (SUBSCRIBED RECURSIVEMATCH) reports CHILDINFO for an unsubscribed parent', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Club/Chess')).ok();
  (await c.cmd('SUBSCRIBE Club/Chess')).ok();
  const r = (await c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" Club')).ok();
  r.has('"/" Club ("CHILDINFO" ("SUBSCRIBED"))');
  (await c.cmd('LIST (RECURSIVEMATCH) "" *')).bad();
  (await c.cmd('LIST "" * RETURN (BOGUS)')).bad();
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

test('a session that falls far behind is resynchronised from the store', async () => {
  const { SelectedView } = await import('./view.js');
  const saved = SelectedView.maxPending;
  SelectedView.maxPending = 3;
  try {
    const a = await t.connect();
    const b = await t.connect();
    await a.login();
    await b.login();
    (await a.cmd('CREATE Behind')).ok();
    const u1 = await a.append('Behind', message('b1'));
    const u2 = await a.append('Behind', message('b2'));
    (await a.cmd('ENABLE IMAP4rev2')).ok();
    (await a.cmd('SELECT Behind')).ok().has('* 2 EXISTS');
    (await b.cmd('SELECT Behind')).ok();
    (await b.cmd(`UID STORE ${u2} +FLAGS (\\Flagged)`)).ok();
    (await b.cmd(`UID STORE ${u1} +FLAGS.SILENT (\\Deleted)`)).ok();
    (await b.cmd('EXPUNGE')).ok();
    const u3 = await b.append('Behind', message('b3'));
    const u4 = await b.append('Behind', message('b4'));
    (await a.cmd('FETCH 1:2 UID')).ok().lacks(/\* \d+ EXPUNGE/);
    const r = (await a.cmd('NOOP')).ok();
    r.has('* 1 EXPUNGE').has(`* 1 FETCH (UID ${u2} FLAGS (\\Flagged))`).has('* 3 EXISTS');
    (await a.cmd('UID SEARCH ALL')).ok().has(`ALL ${u2}:${u4}`);
    assert.equal(u3, u2 + 1);
  } finally {
    SelectedView.maxPending = saved;
  }
});

test('moving mail into and out of Junk is remembered as the user\'s verdict', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('SELECT INBOX')).ok();
  const u = await c.append('INBOX', message('Verdict'));
  (await c.cmd('NOOP')).ok();
  const mv = (await c.cmd(`UID MOVE ${u} Junk`)).ok();
  const junkUid = Number(/COPYUID \d+ \d+ (\d+)/.exec(mv.text)![1]);
  const prefs = openSpamPrefs(t.ctx.config.data_dir);
  const [blob] = (await t.store.getMessages((await t.store.getMailbox(t.accountId, 'Junk'))!.id, [junkUid])).map((m) => m.blobId);
  assert.deepEqual(prefs.listVerdicts(USER).map((v) => [v.blobId, v.verdict]), [[blob, 'spam']]);
  (await c.cmd('SELECT Junk')).ok();
  (await c.cmd(`UID COPY ${junkUid} Archive`)).ok();
  assert.deepEqual(prefs.listVerdicts(USER).map((v) => v.verdict).sort(), ['ham', 'spam']);
  (await c.cmd(`UID COPY ${junkUid} Trash`)).ok();
  assert.equal(prefs.listVerdicts(USER).length, 2, 'into Trash says nothing');
});
