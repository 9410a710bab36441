// METADATA and METADATA-SERVER (RFC 5464): the grammar of GETMETADATA and SETMETADATA from
// tables, entry names (§3.2), and transcripts: private and shared entries of a mailbox and of the
// server, DEPTH, MAXSIZE with LONGENTRIES, NIL deletes, the limits (MAXSIZE, TOOMANY), entries
// going with DELETE and moving with RENAME, literal and literal8 values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGrammar, useImapContext } from '../../../test/helpers/imap-context.js';
import { checkEntryName, parseGetMetadata, parseSetMetadata } from './metadata.js';

const t = useImapContext({ config: { imap: { metadata_max_entry_size: 16, metadata_max_entries: 3, metadata_max_total: 300 } } });

test('entry names (RFC 5464 §3.2)', () => {
  const bad = (m: string): never => {
    throw new Error(m);
  };
  assert.equal(checkEntryName('/Private/Comment', false, bad), '/private/comment', 'compared without case: kept lower case');
  assert.equal(checkEntryName('/shared/vendor/x-y.z_1', false, bad), '/shared/vendor/x-y.z_1');
  assert.equal(checkEntryName('/shared', true, bad), '/shared');
  for (const n of ['/shared', '/private', 'private/x', '/privatex', '/public/x', '/shared/', '/shared//x', '/shared/a*', '/shared/a%', '/shared/a b', '/shared/é', '/shared/\x01']) {
    assert.throws(() => checkEntryName(n, false, bad), Error, n);
  }
});

test('GETMETADATA grammar (RFC 5464 §5)', () => {
  checkGrammar(parseGetMetadata, [
    ['INBOX /private/comment', { maxSize: null, depth: 0, target: 'INBOX', entries: ['/private/comment'] }],
    ['"" (/shared/comment /Shared/Admin)', { maxSize: null, depth: 0, target: null, entries: ['/shared/comment', '/shared/admin'] }],
    ['(MAXSIZE 1024) INBOX /private/comment', { maxSize: 1024, depth: 0, target: 'INBOX', entries: ['/private/comment'] }],
    ['(DEPTH 1) INBOX /private', { maxSize: null, depth: 1, target: 'INBOX', entries: ['/private'] }],
    ['(depth INFINITY maxsize 0) "" "/shared"', { maxSize: 0, depth: 'infinity', target: null, entries: ['/shared'] }],
    ['(DEPTH 2) INBOX /private', 'BAD'],
    ['(DEPTH 1 DEPTH 0) INBOX /private', 'BAD'],
    ['(MAXSIZE -1) INBOX /private', 'BAD'],
    ['(MAXSIZE) INBOX /private', 'BAD'],
    ['(FOO 1) INBOX /private', 'BAD'],
    ['() INBOX /private', 'BAD'],
    ['INBOX', 'BAD'],
    ['INBOX ()', 'BAD'],
    ['INBOX /private/a /private/b', 'BAD'],
    ['INBOX /other', 'BAD'],
    ['INBOX (/private/a*)', 'BAD'],
  ]);
});

test('SETMETADATA grammar (RFC 5464 §5)', () => {
  const show = (p: ReturnType<typeof parseSetMetadata>) => ({ target: p.target, entries: p.entries.map((e) => [e.name, e.value === null ? null : e.value.toString()]) });
  checkGrammar(
    parseSetMetadata,
    [
      ['INBOX (/private/comment "My comment")', { target: 'INBOX', entries: [['/private/comment', 'My comment']] }],
      ['"" (/shared/admin "mailto:a@a.test" /private/Vendor/x NIL)', { target: null, entries: [['/shared/admin', 'mailto:a@a.test'], ['/private/vendor/x', null]] }],
      ['INBOX (/private/comment "")', { target: 'INBOX', entries: [['/private/comment', '']] }],
      ['INBOX ()', 'BAD'],
      ['INBOX (/private/comment)', 'BAD'],
      ['INBOX (/private/comment value)', 'BAD'],
      ['INBOX (/private "x")', 'BAD'],
      ['INBOX (/private/a* "x")', 'BAD'],
      ['INBOX /private/comment "x"', 'BAD'],
      ['INBOX (/private/comment "x") extra', 'BAD'],
    ],
    { map: show },
  );
});

test('capabilities; SETMETADATA and GETMETADATA on a mailbox and the server, NIL deletes, DEPTH', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CAPABILITY')).ok().has(/ METADATA METADATA-SERVER[ \r]/);
  const s = c.transcript();
  s.send('a1 SETMETADATA INBOX (/private/comment "My comment" /shared/comment "Shared" /private/vendor/yubin/a "1")');
  await s.expectTagged('a1', [], 'a1 OK SETMETADATA completed');
  s.send('a2 GETMETADATA INBOX (/PRIVATE/Comment /shared/comment /shared/none)');
  await s.expectTagged('a2', ['* METADATA INBOX (/private/comment "My comment" /shared/comment "Shared" /shared/none NIL)'], 'a2 OK GETMETADATA completed');
  // RFC 5464 §4.2.2: DEPTH 0 is the entry alone, 1 adds its children, infinity everything below
  s.send('a3 GETMETADATA (DEPTH 1) INBOX /private');
  await s.expectTagged('a3', ['* METADATA INBOX (/private/comment "My comment")'], 'a3 OK GETMETADATA completed');
  s.send('a4 GETMETADATA (DEPTH infinity) INBOX /private');
  await s.expectTagged('a4', ['* METADATA INBOX (/private/comment "My comment" /private/vendor/yubin/a "1")'], 'a4 OK GETMETADATA completed');
  s.send('a5 GETMETADATA INBOX /private');
  await s.expectTagged('a5', [], 'a5 OK GETMETADATA completed');
  // METADATA-SERVER: the mailbox name "" is the server
  s.send('b1 SETMETADATA "" (/shared/comment "Server note")');
  await s.expectTagged('b1', [], 'b1 OK SETMETADATA completed');
  s.send('b2 GETMETADATA "" /shared/comment');
  await s.expectTagged('b2', ['* METADATA "" (/shared/comment "Server note")'], 'b2 OK GETMETADATA completed');
  s.send('b3 SETMETADATA "" (/shared/comment NIL)');
  await s.expectTagged('b3', [], 'b3 OK SETMETADATA completed');
  s.send('b4 GETMETADATA "" /shared/comment');
  await s.expectTagged('b4', ['* METADATA "" (/shared/comment NIL)'], 'b4 OK GETMETADATA completed');
  s.send('b5 GETMETADATA INBOX /shared/comment');
  await s.expectTagged('b5', ['* METADATA INBOX (/shared/comment "Shared")'], 'b5 OK GETMETADATA completed');
  s.send('c1 GETMETADATA Nope /private/comment');
  await s.expectTagged('c1', [], 'c1 NO [NONEXISTENT] No such mailbox');
  s.send('c2 SETMETADATA Nope (/private/comment "x")');
  await s.expectTagged('c2', [], 'c2 NO [NONEXISTENT] No such mailbox');
  s.send('c3 GETMETADATA INBOX /other/x');
  await s.expectTagged('c3', [], 'c3 BAD Entry names begin with /private or /shared');
  // clean up for the other tests (the account's limits are shared)
  s.send('z SETMETADATA INBOX (/private/comment NIL /shared/comment NIL /private/vendor/yubin/a NIL)');
  await s.expectTagged('z', [], 'z OK SETMETADATA completed');
});

test('MAXSIZE and LONGENTRIES; values as literal and literal8', async () => {
  const c = await t.connect();
  await c.login();
  const s = c.transcript();
  s.send('a1 SETMETADATA INBOX (/private/a "short" /private/b {12+}\r\nline1\r\nline2 /private/c ~{3+}\r\na\x00b)');
  await s.expectTagged('a1', [], 'a1 OK SETMETADATA completed');
  s.send('a2 GETMETADATA (DEPTH 1) INBOX /private');
  await s.expectTagged('a2', ['* METADATA INBOX (/private/a "short" /private/b {12}\r\nline1\r\nline2 /private/c ~{3}\r\na\x00b)'], 'a2 OK GETMETADATA completed');
  // RFC 5464 §4.2.1: larger entries are left out, the largest size in LONGENTRIES
  s.send('a3 GETMETADATA (MAXSIZE 5 DEPTH 1) INBOX /private');
  await s.expectTagged('a3', ['* METADATA INBOX (/private/a "short" /private/c ~{3}\r\na\x00b)'], 'a3 OK [METADATA LONGENTRIES 12] GETMETADATA completed; some entries were larger than MAXSIZE');
  s.send('a4 GETMETADATA (MAXSIZE 2) INBOX /private/a');
  await s.expectTagged('a4', [], 'a4 OK [METADATA LONGENTRIES 5] GETMETADATA completed; some entries were larger than MAXSIZE');
  s.send('z SETMETADATA INBOX (/private/a NIL /private/b NIL /private/c NIL)');
  await s.expectTagged('z', [], 'z OK SETMETADATA completed');
});

test('limits: MAXSIZE for a value, TOOMANY for entries and octets, nothing set', async () => {
  const c = await t.connect();
  await c.login();
  const s = c.transcript();
  // imap.metadata_max_entry_size = 16
  s.send('a1 SETMETADATA INBOX (/private/ok "fine" /private/big "12345678901234567")');
  await s.expectTagged('a1', [], 'a1 NO [METADATA MAXSIZE 16] Metadata value too large');
  s.send('a2 GETMETADATA INBOX /private/ok');
  await s.expectTagged('a2', ['* METADATA INBOX (/private/ok NIL)'], 'a2 OK GETMETADATA completed');
  // imap.metadata_max_entries = 3 per mailbox and for the server
  s.send('b1 SETMETADATA Sent (/private/1 "a" /private/2 "b" /private/3 "c" /private/4 "d")');
  await s.expectTagged('b1', [], 'b1 NO [METADATA TOOMANY] Too many metadata entries');
  s.send('b2 SETMETADATA Sent (/private/1 "a" /private/2 "b" /private/3 "c")');
  await s.expectTagged('b2', [], 'b2 OK SETMETADATA completed');
  s.send('b3 SETMETADATA Sent (/shared/4 "d")');
  await s.expectTagged('b3', [], 'b3 NO [METADATA TOOMANY] Too many metadata entries');
  s.send('b4 SETMETADATA Drafts (/shared/4 "d")');
  await s.expectTagged('b4', [], 'b4 OK SETMETADATA completed');
  // imap.metadata_max_total = 300 octets over the account: 4 entries of 11 octets now, each
  // vendor entry is 23 + 16: 44 + 117 (server) + 78 (Trash) = 239; Junk's 78 more would be 317
  const fill = 'x'.repeat(16);
  s.send(`c1 SETMETADATA "" (/shared/vendor/yubin/f1 "${fill}" /shared/vendor/yubin/f2 "${fill}" /shared/vendor/yubin/f3 "${fill}")`);
  await s.expectTagged('c1', [], 'c1 OK SETMETADATA completed');
  for (const box of ['Trash', 'Junk']) {
    s.send(`c2 SETMETADATA ${box} (/shared/vendor/yubin/f1 "${fill}" /shared/vendor/yubin/f2 "${fill}")`);
    await s.expectTagged('c2', [], box === 'Junk' ? 'c2 NO [METADATA TOOMANY] Too many metadata entries' : 'c2 OK SETMETADATA completed');
  }
  s.send('c3 GETMETADATA (DEPTH infinity) Junk /shared');
  await s.expectTagged('c3', [], 'c3 OK GETMETADATA completed');
  s.send('z1 SETMETADATA "" (/shared/vendor/yubin/f1 NIL /shared/vendor/yubin/f2 NIL /shared/vendor/yubin/f3 NIL)');
  await s.expectTagged('z1', [], 'z1 OK SETMETADATA completed');
  s.send('z2 SETMETADATA Trash (/shared/vendor/yubin/f1 NIL /shared/vendor/yubin/f2 NIL)');
  await s.expectTagged('z2', [], 'z2 OK SETMETADATA completed');
  s.send('z3 SETMETADATA Sent (/private/1 NIL /private/2 NIL /private/3 NIL)');
  await s.expectTagged('z3', [], 'z3 OK SETMETADATA completed');
  s.send('z4 SETMETADATA Drafts (/shared/4 NIL)');
  await s.expectTagged('z4', [], 'z4 OK SETMETADATA completed');
});

test('entries move with RENAME and go with DELETE', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Proj/Sub')).ok();
  const s = c.transcript();
  s.send('a1 SETMETADATA Proj/Sub (/private/comment "sub")');
  await s.expectTagged('a1', [], 'a1 OK SETMETADATA completed');
  s.send('a2 RENAME Proj Work');
  await s.expectTagged('a2', [], 'a2 OK RENAME completed');
  s.send('a3 GETMETADATA Work/Sub /private/comment');
  await s.expectTagged('a3', ['* METADATA Work/Sub (/private/comment "sub")'], 'a3 OK GETMETADATA completed');
  s.send('a4 DELETE Work/Sub');
  await s.expectTagged('a4', [], 'a4 OK DELETE completed');
  s.send('a5 CREATE Work/Sub');
  await s.expectTagged('a5', [], /^a5 OK /);
  s.send('a6 GETMETADATA Work/Sub /private/comment');
  await s.expectTagged('a6', ['* METADATA Work/Sub (/private/comment NIL)'], 'a6 OK GETMETADATA completed');
});
