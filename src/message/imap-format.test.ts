import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBodyStructure, formatEnvelope, imapAString, imapNString, imapString } from './imap-format.js';
import { parseMessage } from './parser.js';
import type { Envelope } from './types.js';

test('imapString: quoted when it can be, literal otherwise (RFC 9051 §4.3)', () => {
  assert.equal(imapString('abc'), '"abc"');
  assert.equal(imapString(''), '""');
  assert.equal(imapString('a "b" \\ c'), '"a \\"b\\" \\\\ c"');
  assert.equal(imapString('tab\tok'), '"tab\tok"');
  assert.equal(imapString('two\r\nlines'), '{10}\r\ntwo\r\nlines');
  // The count is in octets: "é" is two octets in UTF-8.
  assert.equal(imapString('café'), '{5}\r\ncafé');
  assert.equal(imapString('café', { utf8: true }), '"café"');
  assert.equal(imapNString(null), 'NIL');
  assert.equal(imapNString('NIL'), '"NIL"');
});

test('imapAString: atoms where the grammar allows (RFC 9051 §9 astring)', () => {
  assert.equal(imapAString('INBOX'), 'INBOX');
  assert.equal(imapAString('a]b'), 'a]b');
  assert.equal(imapAString('a b'), '"a b"');
  assert.equal(imapAString('a*'), '"a*"');
  assert.equal(imapAString('a{1}'), '"a{1}"');
  assert.equal(imapAString(''), '""');
  assert.equal(imapAString('nil'), '"nil"');
  assert.equal(imapAString('Entwürfe'), '{9}\r\nEntwürfe');
});

test('formatEnvelope: NIL fields, groups, literals', () => {
  const env: Envelope = {
    date: null,
    subject: 'line\r\nbreak',
    from: [{ name: 'Zoë', adl: null, mailbox: 'z', host: 'example.org' }],
    sender: null,
    replyTo: [],
    to: [
      { name: null, adl: null, mailbox: 'g', host: null },
      { name: null, adl: null, mailbox: null, host: null },
    ],
    cc: null,
    bcc: null,
    inReplyTo: null,
    messageId: '<a@b>',
  };
  assert.equal(
    formatEnvelope(env),
    '(NIL {11}\r\nline\r\nbreak (({4}\r\nZoë NIL "z" "example.org")) NIL NIL ((NIL NIL "g" NIL)(NIL NIL NIL NIL)) NIL NIL NIL "<a@b>")',
  );
});

test('formatBodyStructure: multipart without parts shows one empty text/plain (RFC 9051 §9: 1*body)', () => {
  const s = parseMessage(Buffer.from('Content-Type: multipart/mixed\r\n\r\nno boundary\r\n'));
  assert.equal(formatBodyStructure(s.root, false), '(("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0) "mixed")');
  assert.equal(formatBodyStructure(s.root, true), '(("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL) "mixed" NIL NIL NIL NIL)');
});

test('formatBodyStructure: extension data, languages, non-ASCII parameters', () => {
  const raw = Buffer.from(
    [
      'Content-Type: application/pdf; name="r\xc3\xa9sum\xc3\xa9.pdf"',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="x.pdf"',
      'Content-Language: en, de',
      'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
      'Content-Location: http://e.org/x',
      'Content-ID: <id@x>',
      'Content-Description: a "quoted" file',
      '',
      'AAAA',
    ].join('\r\n'),
    'latin1',
  );
  const s = parseMessage(raw);
  // RFC 2231 §4: a non-ASCII value goes out as name*=UTF-8''..., keeping BODYSTRUCTURE 7-bit.
  assert.equal(
    formatBodyStructure(s.root, true),
    '("application" "pdf" ("name*" "UTF-8\'\'r%C3%A9sum%C3%A9.pdf") "<id@x>" "a \\"quoted\\" file" "BASE64" 4 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("attachment" ("filename" "x.pdf")) ("en" "de") "http://e.org/x")',
  );
  assert.equal(formatBodyStructure(s.root, false), '("application" "pdf" ("name*" "UTF-8\'\'r%C3%A9sum%C3%A9.pdf") "<id@x>" "a \\"quoted\\" file" "BASE64" 4)');
  // With UTF8=ACCEPT the value goes as it is.
  assert.match(formatBodyStructure(s.root, false, { utf8: true }), /\("name" "résumé.pdf"\)/);
});

test('formatBodyStructure: message/rfc822 with envelope, message/global per IMAP version', () => {
  const inner = 'Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n';
  const s = parseMessage(Buffer.from('Content-Type: message/rfc822\r\n\r\n' + inner));
  assert.equal(
    formatBodyStructure(s.root, false),
    `("message" "rfc822" NIL NIL NIL "7BIT" ${inner.length} (NIL "hi" ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 6 1) 4)`,
  );
  const g = parseMessage(Buffer.from('Content-Type: message/global\r\n\r\n' + inner));
  assert.equal(formatBodyStructure(g.root, false), `("message" "global" NIL NIL NIL "7BIT" ${inner.length})`);
  assert.match(formatBodyStructure(g.root, false, { imap4rev2: true }), /^\("message" "global" NIL NIL NIL "7BIT" \d+ \(NIL "hi"/);
});

test('formatBodyStructure: a message/rfc822 cut by the limits still follows the grammar', () => {
  const s = parseMessage(Buffer.from('Content-Type: message/rfc822\r\n\r\n'.repeat(3) + 'x'), { maxDepth: 1 });
  assert.equal(s.truncated, true);
  const out = formatBodyStructure(s.root, true);
  assert.match(out, /\("message" "rfc822" NIL NIL NIL "7BIT" \d+ \(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL\) \("text" "plain" \("charset" "us-ascii"\) NIL NIL "7BIT" 0 0 NIL NIL NIL NIL\) \d+ NIL NIL NIL NIL\)/);
});

test('formatBodyStructure handles the deepest structure the parser makes', () => {
  let head = '';
  for (let i = 0; i < 300; i++) head += `Content-Type: multipart/mixed; boundary="d${i}"\r\n\r\n--d${i}\r\n`;
  const s = parseMessage(Buffer.from(head + '\r\nx\r\n'));
  const out = formatBodyStructure(s.root, true);
  assert.equal(out.split('(').length, out.split(')').length);
  assert.ok(out.startsWith('('.repeat(101)));
});
