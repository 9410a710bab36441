// Grammar table for FETCH (RFC 9051 §9 fetch, fetch-att, section, partial; RFC 3516 BINARY):
// argument text -> the data items, or BAD; then FETCH transcripts.
import { test } from 'node:test';
import { checkGrammar, useImapContext } from '../../../test/helpers/imap-context.js';
import { parseFetch } from './fetch.js';

const section = (o: { binary?: boolean; peek?: boolean; spec: object; partial?: { start: number; length: number } }) => ({
  kind: 'section',
  binary: o.binary ?? false,
  peek: o.peek ?? false,
  spec: o.spec,
  partial: o.partial ?? null,
});
const simple = (...k: string[]) => k.map((kind) => ({ kind }));

test('FETCH items: macros, simple items, sections, partials, BINARY', () => {
  checkGrammar(
    parseFetch,
    [
      ['1 FLAGS', simple('FLAGS')],
      ['1:* (UID FLAGS rfc822.size)', simple('UID', 'FLAGS', 'RFC822.SIZE')],
      ['1 ALL', simple('FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE')],
      ['1 fast', simple('FLAGS', 'INTERNALDATE', 'RFC822.SIZE')],
      ['1 FULL', simple('FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY')],
      ['1 (ALL)', 'BAD'],
      ['1 (BODY BODYSTRUCTURE ENVELOPE INTERNALDATE RFC822 RFC822.HEADER RFC822.TEXT)', simple('BODY', 'BODYSTRUCTURE', 'ENVELOPE', 'INTERNALDATE', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT')],
      ['1 BODY[]', [section({ spec: { part: [] } })]],
      ['1 body.peek[]', [section({ peek: true, spec: { part: [] } })]],
      ['1 BODY[HEADER]', [section({ spec: { part: [], text: 'HEADER' } })]],
      ['1 BODY.PEEK[HEADER.FIELDS (Subject From)]', [section({ peek: true, spec: { part: [], text: 'HEADER.FIELDS', fields: ['Subject', 'From'] } })]],
      ['1 (BODY[HEADER.FIELDS.NOT (X-A)] RFC822.SIZE)', [section({ spec: { part: [], text: 'HEADER.FIELDS.NOT', fields: ['X-A'] } }), { kind: 'RFC822.SIZE' }]],
      ['1 BODY[1.2.MIME]', [section({ spec: { part: [1, 2], text: 'MIME' } })]],
      ['1 BODY[2.TEXT]', [section({ spec: { part: [2], text: 'TEXT' } })]],
      ['1 BODY[TEXT]<0.100>', [section({ spec: { part: [], text: 'TEXT' }, partial: { start: 0, length: 100 } })]],
      ['1 BINARY[2]<5.10>', [section({ binary: true, spec: { part: [2] }, partial: { start: 5, length: 10 } })]],
      ['1 BINARY.PEEK[1]', [section({ binary: true, peek: true, spec: { part: [1] } })]],
      ['1 BINARY.SIZE[2]', [{ kind: 'BINARY.SIZE', spec: { part: [2] } }]],
      ['1 BOGUS', 'BAD'],
      ['1 MODSEQ', simple('MODSEQ')],
      ['1 (FLAGS MODSEQ)', simple('FLAGS', 'MODSEQ')],
      ['1 BODY[MIME]', 'BAD'],
      ['1 BODY[0]', 'BAD'],
      ['1 BODY[1.TEXT.X]', 'BAD'],
      ['1 BODY[HEADER.FIELDS]', 'BAD'],
      ['1 BODY[HEADER.FIELDS ()]', 'BAD'],
      ['1 BODY[TEXT (x)]', 'BAD'],
      ['1 BINARY[HEADER]', 'BAD'],
      ['1 BINARY.SIZE[1]<0.1>', 'BAD'],
      ['1 BODY[]<0.0>', 'BAD'],
      ['1 BODY[]<0>', 'BAD'],
      ['1 BODY[]<a.1>', 'BAD'],
      ['1 BODY[', 'BAD'],
      ['1 BODY[1', 'BAD'],
      ['1 BODY [1]', 'BAD'],
      ['1 ()', 'BAD'],
      ['1 "FLAGS"', 'BAD'],
      ['x FLAGS', 'BAD'],
      ['0 FLAGS', 'BAD'],
      ['1', 'BAD'],
    ],
    { map: (p) => p.items },
  );
});

test('FETCH modifiers (RFC 7162 §7): CHANGEDSINCE mod-sequence-valzer, VANISHED only in UID FETCH with CHANGEDSINCE', () => {
  const mods = (p: { changedSince?: number; vanished?: boolean }) => ({ changedSince: p.changedSince, vanished: p.vanished ?? false });
  checkGrammar(
    parseFetch,
    [
      ['1 FLAGS (CHANGEDSINCE 1)', { changedSince: 1, vanished: false }],
      ['1:* (FLAGS) (changedsince 0)', { changedSince: 0, vanished: false }],
      ['1 FLAGS (CHANGEDSINCE 9007199254740991)', { changedSince: 9007199254740991, vanished: false }],
      ['1 FLAGS (CHANGEDSINCE 9223372036854775807)', { changedSince: Number.MAX_SAFE_INTEGER, vanished: false }],
      ['1 FLAGS (CHANGEDSINCE 9223372036854775808)', 'BAD'],
      ['1 FLAGS (CHANGEDSINCE)', 'BAD'],
      ['1 FLAGS (CHANGEDSINCE -1)', 'BAD'],
      ['1 FLAGS (CHANGEDSINCE x)', 'BAD'],
      ['1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)', 'BAD'],
      ['1 FLAGS ()', 'BAD'],
      ['1 FLAGS (BOGUS 1)', 'BAD'],
      ['1 FLAGS (CHANGEDSINCE 1 VANISHED)', 'BAD'],
      ['1 FLAGS (CHANGEDSINCE 1) x', 'BAD'],
    ],
    { map: mods },
  );
  checkGrammar(
    parseFetch,
    [
      ['1:* FLAGS (CHANGEDSINCE 5 VANISHED)', { changedSince: 5, vanished: true }],
      ['1:* FLAGS (VANISHED CHANGEDSINCE 5)', { changedSince: 5, vanished: true }],
      ['1:* FLAGS (VANISHED)', 'BAD'],
    ],
    { map: mods, ctx: { uid: true } },
  );
});

test('FETCH keeps the sequence set for resolving in the selected mailbox', () => {
  checkGrammar(parseFetch, [['1:3,* UID', { text: '1:3,*', set: { ranges: [[1, 3], [-1, -1]] } }], ['$ UID', { text: '$', set: { saved: true } }]], { map: (p) => p.set });
});

// ---- transcripts ----

const t = useImapContext();

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
  (await c.cmd('FETCH 1 (BODY[9])')).ok().has('BODY[9] {0}\r\n)');
  (await c.cmd('FETCH 1 (BOGUS)')).bad();
});

// Copied from the MIME corpus (../shared/corpus/mime: 09-empty-body, 10-header-only) with the answers
// Dovecot 2.3.19 recorded: an empty part, a part that does not exist and an empty TEXT are "{0}"
// followed by nothing (RFC 9051 §6.4.5: a section that does not exist is an empty string).
const EMPTY_BODY = 'From: a@example.net\r\nTo: b@example.org\r\nSubject: empty body\r\nDate: Tue, 10 Nov 2026 08:00:00 +0000\r\nMessage-ID: <09@example.net>\r\n\r\n';
const HEADER_ONLY = 'From: a@example.net\r\nTo: b@example.org\r\nSubject: header only\r\nDate: Tue, 10 Nov 2026 08:00:00 +0000\r\nMessage-ID: <10@example.net>\r\n';

test('empty body parts (corpus 09, 10): {0} with nothing, as the reference server answers', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Empty')).ok();
  const u1 = await c.append('Empty', EMPTY_BODY);
  const u2 = await c.append('Empty', HEADER_ONLY);
  (await c.cmd('EXAMINE Empty')).ok();
  const s = c.transcript();
  for (const [u, raw, subject] of [
    [u1, EMPTY_BODY, 'empty body'],
    [u2, HEADER_ONLY, 'header only'],
  ] as const) {
    const seq = u === u1 ? 1 : 2;
    s.send(`a UID FETCH ${u} (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] BODY.PEEK[TEXT]<0.40>)`);
    // Where we differ from the recording: RFC 9051 §6.4.5 "the blank line is included in all header
    // fetches, except in the case of a message that has no body and no blank line" (10-header-only);
    // Dovecot adds one there.
    const hdr = `From: a@example.net\r\nSubject: ${subject}\r\n${raw === HEADER_ONLY ? '' : '\r\n'}`;
    await s.expectTagged('a', [`* ${seq} FETCH (UID ${u} BODY[HEADER.FIELDS (FROM SUBJECT)] {${hdr.length}}\r\n${hdr} BODY[TEXT]<0> {0}\r\n)`], 'a OK UID FETCH completed');
    s.send(`b UID FETCH ${u} (BODY.PEEK[1] BODY.PEEK[1.MIME])`);
    await s.expectTagged('b', [`* ${seq} FETCH (UID ${u} BODY[1] {0}\r\n BODY[1.MIME] {${raw.length}}\r\n${raw})`], 'b OK UID FETCH completed');
    s.send(`c UID FETCH ${u} (BINARY.SIZE[1])`);
    await s.expectTagged('c', [`* ${seq} FETCH (UID ${u} BINARY.SIZE[1] 0)`], 'c OK UID FETCH completed');
    s.send(`d UID FETCH ${u} (BODY.PEEK[2] BODY.PEEK[2.MIME])`);
    await s.expectTagged('d', [`* ${seq} FETCH (UID ${u} BODY[2] {0}\r\n BODY[2.MIME] {0}\r\n)`], 'd OK UID FETCH completed');
    s.send(`e UID FETCH ${u} (BODY.PEEK[2.HEADER])`);
    await s.expectTagged('e', [`* ${seq} FETCH (UID ${u} BODY[2.HEADER] {0}\r\n)`], 'e OK UID FETCH completed');
    s.send(`f UID FETCH ${u} (BODY.PEEK[1.1])`);
    await s.expectTagged('f', [`* ${seq} FETCH (UID ${u} BODY[1.1] {0}\r\n)`], 'f OK UID FETCH completed');
  }
});
