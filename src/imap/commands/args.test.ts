// Grammar tables (RFC 9051 §9) for the productions commands share: sequence-set, mailbox,
// astring/atom, flags, date-time; and the small commands (LOGIN, AUTHENTICATE, ID, ENABLE,
// COPY, EXPUNGE). Each row: argument text as it follows the command name -> parsed value, or
// BAD (syntax) / NO (a well-formed value refused).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGrammar } from '../../../test/helpers/imap-context.js';
import type { ArgReader } from '../wire/tokenizer.js';
import { parseDateTime, sequenceSetArg } from './args.js';
import { parseMailboxOnly } from './mailbox.js';
import { parseAuthenticate, parseLogin } from './auth.js';
import { parseEnable, parseId } from './any.js';
import { parseCopy } from './copy.js';
import { parseExpunge } from './selected.js';
import { parseStore } from './fetch.js';

function setOnly(a: ArgReader): unknown {
  const s = sequenceSetArg(a);
  a.end();
  return s.set;
}

test('sequence-set (RFC 9051 §9; "$" from RFC 5182)', () => {
  checkGrammar(setOnly, [
    ['1', { ranges: [[1, 1]] }],
    ['1:4,7,9:*', { ranges: [[1, 4], [7, 7], [9, -1]] }],
    ['*', { ranges: [[-1, -1]] }],
    ['*:3', { ranges: [[-1, 3]] }],
    ['4:2', { ranges: [[4, 2]] }],
    ['4294967295', { ranges: [[4294967295, 4294967295]] }],
    ['$', { saved: true }],
    ['0', 'BAD'],
    ['1:0', 'BAD'],
    ['4294967296', 'BAD'],
    ['1,', 'BAD'],
    [',1', 'BAD'],
    ['1::2', 'BAD'],
    ['1:*:2', 'BAD'],
    ['-1', 'BAD'],
    ['a', 'BAD'],
    ['$,1', 'BAD'],
    ['"1"', 'BAD'],
    ['(1)', 'BAD'],
    ['1 2', 'BAD'],
    ['', 'BAD'],
  ]);
});

test('mailbox: INBOX in any case, modified UTF-7 or UTF-8 by context, "[" and "]" in atoms', () => {
  checkGrammar(parseMailboxOnly, [
    ['INBOX', 'INBOX'],
    ['inbox', 'INBOX'],
    ['"InBoX/Sub"', 'INBOX/Sub'],
    ['InboxFoo', 'InboxFoo'],
    ['"Entw&APw-rfe"', 'Entwürfe'],
    ['"a b"', 'a b'],
    ['a[b', 'a[b'],
    ['a]b', 'a]b'],
    ['[Gmail]/Sent', '[Gmail]/Sent'],
    ['"&"', 'NO'],
    ['&Jjo', 'NO'],
    ['"Entwürfe"', 'NO'],
    ['(INBOX)', 'BAD'],
    ['a b', 'BAD'],
    ['', 'BAD'],
    ['a{b', 'BAD'],
  ]);
  checkGrammar(parseMailboxOnly, [
    ['"Entwürfe"', 'Entwürfe'],
    ['"Entw&APw-rfe"', 'Entwürfe'],
    ['inbox/x', 'INBOX/x'],
  ], { ctx: { utf8: true } });
});

test('astring and atom (LOGIN): quoted strings, escapes, ATOM-CHARs', () => {
  checkGrammar(parseLogin, [
    ['alice pw', { user: 'alice', pass: 'pw' }],
    ['"alice@a.test" "secret pw"', { user: 'alice@a.test', pass: 'secret pw' }],
    ['a[b] pw', { user: 'a[b]', pass: 'pw' }],
    ['"a\\"b" "c\\\\d"', { user: 'a"b', pass: 'c\\d' }],
    ['"" ""', { user: '', pass: '' }],
    ['a%b* x', { user: 'a%b*', pass: 'x' }],
    ['"a\\x" y', 'BAD'],
    ['"unterminated y', 'BAD'],
    ['alice', 'BAD'],
    ['alice pw extra', 'BAD'],
    ['(a) b', 'BAD'],
    ['a{b c', 'BAD'],
    ['a) b', 'BAD'],
  ]);
});

test('AUTHENTICATE mechanism [initial-response] (RFC 4959 §3), ID (RFC 2971), ENABLE (RFC 5161)', () => {
  checkGrammar(parseAuthenticate, [
    ['plain', { mech: 'PLAIN', ir: null }],
    ['PLAIN =', { mech: 'PLAIN', ir: Buffer.alloc(0) }],
    ['PLAIN AGEAYg==', { mech: 'PLAIN', ir: Buffer.from('\0a\0b') }],
    ['PLAIN *', 'BAD'],
    ['PLAIN !!!', 'BAD'],
    ['', 'BAD'],
    ['PLAIN a b', 'BAD'],
  ]);
  checkGrammar(parseId, [
    ['NIL', null],
    ['("name" "x" "version" NIL)', { name: 'x', version: '' }],
    ['()', {}],
    ['("name")', 'BAD'],
    ['(name "x")', 'BAD'],
    ['("a" ("b"))', 'BAD'],
    ['x', 'BAD'],
    ['NIL NIL', 'BAD'],
  ]);
  checkGrammar(parseEnable, [
    ['IMAP4rev2', ['IMAP4REV2']],
    ['utf8=accept CONDSTORE', ['UTF8=ACCEPT', 'CONDSTORE']],
    ['', 'BAD'],
    ['"IMAP4rev2"', 'BAD'],
  ]);
});

test('COPY/MOVE sequence-set mailbox; EXPUNGE and UID EXPUNGE (RFC 4315 §2.1)', () => {
  checkGrammar(parseCopy, [
    ['1:2 Archive', { set: { text: '1:2', set: { ranges: [[1, 2]] } }, mailbox: 'Archive' }],
    ['$ inbox', { set: { text: '$', set: { saved: true } }, mailbox: 'INBOX' }],
    ['1:2', 'BAD'],
    ['x Archive', 'BAD'],
    ['1 "&"', 'NO'],
  ]);
  checkGrammar(parseExpunge, [['', null], ['1', 'BAD']]);
  checkGrammar(parseExpunge, [['1:3', { text: '1:3', set: { ranges: [[1, 3]] } }], ['', 'BAD'], ['1 2', 'BAD']], { ctx: { uid: true } });
});

test('flags (STORE): system flags normalised, keywords are atoms, \\Recent and unknown \\-flags refused', () => {
  checkGrammar(
    parseStore,
    [
      ['1 FLAGS (\\Seen)', { mode: 'set', silent: false, flags: ['\\Seen'] }],
      ['1 +FLAGS.SILENT (\\seen \\DELETED $Work)', { mode: 'add', silent: true, flags: ['\\Seen', '\\Deleted', '$Work'] }],
      ['1 -flags \\Flagged', { mode: 'remove', silent: false, flags: ['\\Flagged'] }],
      ['1 +FLAGS \\Seen \\Draft', { mode: 'add', silent: false, flags: ['\\Seen', '\\Draft'] }],
      ['1 FLAGS ()', { mode: 'set', silent: false, flags: [] }],
      ['1 FLAGS (Work work WORK)', { mode: 'set', silent: false, flags: ['Work'] }],
      ['1 FLAGS (a[b)', { mode: 'set', silent: false, flags: ['a[b'] }],
      ['1 FLAGS (\\Recent)', 'BAD'],
      ['1 FLAGS (\\Bogus)', 'BAD'],
      ['1 FLAGS (a]b)', 'BAD'],
      ['1 FLAGS (a%b)', 'BAD'],
      ['1 FLAGS (a*)', 'BAD'],
      ['1 FLAGS ("quoted")', 'BAD'],
      ['1 XFLAGS (\\Seen)', 'BAD'],
      ['1 +FLAGS', 'BAD'],
      ['1 FLAGS (\\Seen) (\\Draft)', 'BAD'],
      ['1 (UNCHANGEDSINCE 5) FLAGS (\\Seen)', { mode: 'set', silent: false, flags: ['\\Seen'], unchangedSince: 5 }],
      ['1 (unchangedsince 0) +FLAGS.SILENT x', { mode: 'add', silent: true, flags: ['x'], unchangedSince: 0 }],
      ['1 (UNCHANGEDSINCE) FLAGS (\\Seen)', 'BAD'],
      ['1 (UNCHANGEDSINCE x) FLAGS (\\Seen)', 'BAD'],
      ['1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS (\\Seen)', 'BAD'],
      ['1 () FLAGS (\\Seen)', 'BAD'],
      ['1 (BOGUS 5) FLAGS (\\Seen)', 'BAD'],
      // RFC 9051 §9: NIL is the nil token, never a flag-keyword
      ['1 +FLAGS (NIL)', 'BAD'],
      ['1 +FLAGS nil', 'BAD'],
      ['1 FLAGS (Nil2)', { mode: 'set', silent: false, flags: ['Nil2'] }],
      ['x FLAGS (\\Seen)', 'BAD'],
      [`1 FLAGS (${Array.from({ length: 101 }, (_, i) => `k${i}`).join(' ')})`, 'BAD'],
    ],
    { map: (p) => ({ mode: p.mode, silent: p.silent, flags: p.flags, ...(p.unchangedSince !== undefined ? { unchangedSince: p.unchangedSince } : {}) }) },
  );
});

test('date-time (RFC 9051 §9): "dd-Mon-yyyy hh:mm:ss +zzzz"', () => {
  const rows: Array<[string, string | null]> = [
    ['05-Mar-2024 14:15:16 +0200', '2024-03-05T12:15:16.000Z'],
    [' 5-Mar-2024 14:15:16 -0130', '2024-03-05T15:45:16.000Z'],
    ['29-feb-2024 00:00:00 +0000', '2024-02-29T00:00:00.000Z'],
    ['29-Feb-2023 00:00:00 +0000', null],
    ['31-Apr-2024 00:00:00 +0000', null],
    ['00-Mar-2024 00:00:00 +0000', null],
    ['05-Foo-2024 14:15:16 +0000', null],
    ['05-Mar-2024 24:00:00 +0000', null],
    ['05-Mar-2024 14:60:00 +0000', null],
    ['05-Mar-2024 14:15 +0000', null],
    ['05-Mar-2024 14:15:16 +0260', null],
    ['05-Mar-2024 14:15:16 0200', null],
    ['05-Mar-2024', null],
    ['2024-03-05T14:15:16Z', null],
  ];
  for (const [s, want] of rows) assert.equal(parseDateTime(s)?.toISOString() ?? null, want, s);
});
