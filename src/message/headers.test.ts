import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildEnvelope,
  decodeEncodedWords,
  headerBytesToString,
  parseAddressList,
  parseContentDisposition,
  parseContentLanguage,
  parseContentType,
  parseHeaderFields,
  unfold,
} from './headers.js';

const A = (name: string | null, mailbox: string | null, host: string | null, adl: string | null = null) => ({ name, adl, mailbox, host });

test('header fields: folding, LF-only, obsolete WSP before the colon, junk lines', () => {
  const f = parseHeaderFields('Subject: a\r\n b\r\n\tc\r\nX-A : 1\nnot a field\r\nTo: x@y\r\n\r\nBody: no\r\n');
  assert.deepEqual(
    f.map((x) => [x.key, x.value]),
    [
      ['subject', 'a b\tc'],
      ['x-a', '1'],
      ['to', 'x@y'],
    ],
  );
  assert.equal(unfold('a\r\n b\n\tc'), 'a b\tc');
  assert.deepEqual(headerBytesToString(Buffer.from('caf\xe9', 'latin1')), { text: 'café', encoding: 'latin1' });
  assert.deepEqual(headerBytesToString(Buffer.from('café')), { text: 'café', encoding: 'utf8' });
});

test('addresses: groups, routes, quoted names and local parts, comments (RFC 5322 §3.4, §4.4)', () => {
  assert.deepEqual(parseAddressList('"Last, First (Dept)" <first.last@example.net> (a comment)'), [A('Last, First (Dept)', 'first.last', 'example.net')]);
  assert.deepEqual(parseAddressList('team: one@example.net, two@example.net;, solo@example.net'), [
    A(null, 'team', null),
    A(null, 'one', 'example.net'),
    A(null, 'two', 'example.net'),
    A(null, null, null),
    A(null, 'solo', 'example.net'),
  ]);
  assert.deepEqual(parseAddressList('undisclosed-recipients:;'), [A(null, 'undisclosed-recipients', null), A(null, null, null)]);
  assert.deepEqual(parseAddressList('"quoted local"@example.org'), [A(null, 'quoted local', 'example.org')]);
  assert.deepEqual(parseAddressList('Joe Q. Public <@relay.one,@relay.two:joe@example.com>'), [A('Joe Q. Public', 'joe', 'example.com', '@relay.one,@relay.two')]);
  // ENVELOPE keeps encoded words raw (RFC 9051 §7.5.2).
  assert.deepEqual(parseAddressList('=?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>'), [A('=?ISO-8859-1?Q?Andr=E9?=', 'andre', 'example.fr')]);
  // Old style: the name in a comment after the address.
  assert.deepEqual(parseAddressList('joe@example.com (Joe Public)'), [A('Joe Public', 'joe', 'example.com')]);
  assert.deepEqual(parseAddressList('user@[192.0.2.1]'), [A(null, 'user', '[192.0.2.1]')]);
  assert.deepEqual(parseAddressList('no-domain'), [A(null, 'no-domain', '')]);
  assert.deepEqual(parseAddressList('"a \\"b\\"" <x@y>'), [A('a "b"', 'x', 'y')]);
  assert.equal(parseAddressList(''), null);
  assert.equal(parseAddressList(' , '), null);
  // An unclosed group still gets its end marker.
  assert.deepEqual(parseAddressList('g: a@b'), [A(null, 'g', null), A(null, 'a', 'b'), A(null, null, null)]);
});

test('envelope: Sender and Reply-To default to From (RFC 9051 §7.5.2)', () => {
  const env = buildEnvelope(parseHeaderFields('From: a@b\r\nSubject: =?utf-8?q?x?=\r\nMessage-ID: <1@b>\r\n\r\n'));
  assert.deepEqual(env.sender, env.from);
  assert.deepEqual(env.replyTo, env.from);
  assert.equal(env.subject, '=?utf-8?q?x?=');
  assert.equal(env.to, null);
  assert.equal(env.date, null);
  assert.equal(env.messageId, '<1@b>');
});

test('Content-Type: defaults, case, quoting, invalid values (RFC 2045 §5.1, §5.2)', () => {
  assert.deepEqual(parseContentType('TEXT/HTML; CHARSET="Windows-1252"; Format=Flowed'), {
    type: 'text',
    subtype: 'html',
    params: { charset: 'Windows-1252', format: 'Flowed' },
  });
  assert.deepEqual(parseContentType('multipart/mixed; boundary="a;b=c"').params, { boundary: 'a;b=c' });
  assert.deepEqual(parseContentType('multipart/mixed;\r\n boundary=----=_Part_1').params, { boundary: '----=_Part_1' });
  assert.deepEqual(parseContentType('text/plain (comment); charset=utf-8 (c)').params, { charset: 'utf-8' });
  assert.equal(parseContentType('garbage').type, '');
  assert.equal(parseContentType('').type, '');
  assert.equal(parseContentType('text/').type, '');
});

test('RFC 2231 parameters: continuations, charsets, mixed sections', () => {
  const ct = parseContentType(
    "application/octet-stream;\r\n name*0*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E;\r\n name*1*=%E3%81%AE%E5%90%8D%E5%89%8D.txt",
  );
  assert.equal(ct.params['name'], '日本語の名前.txt');
  assert.equal(parseContentDisposition("attachment; filename*=iso-8859-1'fr'caf%E9.txt")!.params['filename'], 'café.txt');
  // Sections out of order, an unencoded section, a plain name replaced by the extended one.
  assert.equal(parseContentType('text/plain; title*1=" world"; title*0="hello"').params['title'], 'hello world');
  assert.equal(parseContentType("text/plain; name=old.txt; name*=utf-8''new%20name.txt").params['name'], 'new name.txt');
  assert.equal(parseContentType("text/plain; a*0*=us-ascii'en'x%41; a*1=%42").params['a'], 'xA%42');
});

test('Content-Disposition and Content-Language', () => {
  assert.deepEqual(parseContentDisposition('inline'), { type: 'inline', params: {} });
  assert.deepEqual(parseContentDisposition('ATTACHMENT; filename=a.txt; size=10'), { type: 'attachment', params: { filename: 'a.txt', size: '10' } });
  assert.equal(parseContentDisposition('; filename=a'), null);
  assert.deepEqual(parseContentLanguage('en-GB, fr (French)'), ['en-GB', 'fr']);
  assert.equal(parseContentLanguage(''), null);
});

test('encoded words (RFC 2047) for SEARCH', () => {
  assert.equal(decodeEncodedWords('=?iso-2022-jp?b?GyRCTTlKWBsoQiAbJEJCQE86GyhC?='), '郵便 太郎');
  assert.equal(decodeEncodedWords('=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?='), 'Jürgen Müller');
  // RFC 2047 §6.2: whitespace between adjacent encoded words is dropped.
  assert.equal(decodeEncodedWords('=?utf-8?q?a?= =?utf-8?q?b?= c'), 'ab c');
  assert.equal(decodeEncodedWords('plain'), 'plain');
});

test('structured-value parsers never throw on garbage', () => {
  let seed = 11;
  const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const pieces = ['"', '\\', '(', ')', '<', '>', '@', ',', ';', ':', '[', ']', '=', '*', "'", '%', ' ', 'a', 'é', '=?', '?=', '\r\n ', 'name*0*', 'x'];
  for (let i = 0; i < 2000; i++) {
    let v = '';
    const n = rnd(30);
    for (let j = 0; j < n; j++) v += pieces[rnd(pieces.length)];
    const list = parseAddressList(v);
    if (list) for (const a of list) assert.ok(a.host === null ? a.name === null : typeof a.mailbox === 'string');
    parseContentType(v);
    parseContentDisposition(v);
    parseContentLanguage(v);
    decodeEncodedWords(v);
  }
});
