// Table tests for the RFC 5322 §3.4 address-list parser (address.ts): what parses and to what,
// and what is a failure (never a best guess), with the recovery ENVELOPE shows for those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressOf, mailboxesOf, parseAddresses, type Address, type Mailbox } from './address.js';
import { parseAddressList } from './headers.js';

const M = (local: string, domain: string, name: string | null = null, route: string | null = null): Mailbox => ({ kind: 'mailbox', name, route, local, domain });
const G = (name: string, ...members: Mailbox[]): Address => ({ kind: 'group', name, members });

const VALID: Array<[string, Address[]]> = [
  ['alice@a.test', [M('alice', 'a.test')]],
  ['Alice <alice@a.test>', [M('alice', 'a.test', 'Alice')]],
  ['<alice@a.test>', [M('alice', 'a.test')]],
  ['"Last, First (Dept)" <first.last@example.net> (a comment)', [M('first.last', 'example.net', 'Last, First (Dept)')]],
  // RFC 2047 encoded words stay as written (ENVELOPE shows them raw, RFC 9051 §7.5.2).
  ['=?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>', [M('andre', 'example.fr', '=?ISO-8859-1?Q?Andr=E9?=')]],
  ['=?utf-8?b?w6lsb2k=?= =?utf-8?q?x?= <e@x.test>', [M('e', 'x.test', '=?utf-8?b?w6lsb2k=?= =?utf-8?q?x?=')]],
  // The old form: the name in a comment; comments nest and take quoted-pairs.
  ['joe@example.com (Joe Public)', [M('joe', 'example.com', 'Joe Public')]],
  ['(Joe) joe@example.com', [M('joe', 'example.com', 'Joe')]],
  ['joe@example.com ((nested) and \\) escaped)', [M('joe', 'example.com', '(nested) and ) escaped')]],
  ['joe(c)@(d)example.com', [M('joe', 'example.com', 'd')]],
  // Quoted local parts (RFC 5322 §3.4.1) and quoted-pairs in them.
  ['"quoted local"@example.org', [M('quoted local', 'example.org')]],
  ['"alice"@a.test', [M('alice', 'a.test')]],
  ['"a\\"b"@x.test', [M('a"b', 'x.test')]],
  ['"alice@a.test"@bank.example', [M('alice@a.test', 'bank.example')]],
  ['"a \\"b\\"" <x@y>', [M('x', 'y', 'a "b"')]],
  // RFC 5322 §4.4 obsolete forms: a phrase with ".", CFWS around dots, a route, empty elements.
  ['Joe Q. Public <john.q.public@example.com>', [M('john.q.public', 'example.com', 'Joe Q. Public')]],
  ['alice @ a . test', [M('alice', 'a.test')]],
  ['Joe Q. Public <@relay.one,@relay.two:joe@example.com>', [M('joe', 'example.com', 'Joe Q. Public', '@relay.one,@relay.two')]],
  [', a@b.test,, c@d.test ,', [M('a', 'b.test'), M('c', 'd.test')]],
  ['user@[192.0.2.1]', [M('user', '[192.0.2.1]')]],
  ['a..b@docomo.ne.jp', [M('a..b', 'docomo.ne.jp')]],
  // Groups (RFC 5322 §3.4).
  ['undisclosed-recipients:;', [G('undisclosed-recipients')]],
  ['team: one@example.net, two@example.net;, solo@example.net', [G('team', M('one', 'example.net'), M('two', 'example.net')), M('solo', 'example.net')]],
  ['"The Team" : (empty) ;', [G('The Team')]],
  ['g: a@b.test,, ;', [G('g', M('a', 'b.test'))]],
  // RFC 6532: UTF-8 in names and addresses.
  ['J\u00f6rg <j\u00f6rg@b\u00fccher.example>', [M('j\u00f6rg', 'b\u00fccher.example', 'J\u00f6rg')]],
  ['"\u5c71\u7530" <taro@example.jp>', [M('taro', 'example.jp', '\u5c71\u7530')]],
  ['', []],
  [' , (only a comment) ', []],
];

test('well-formed address lists parse (RFC 5322 §3.4, §4.4; RFC 6532)', () => {
  for (const [value, expected] of VALID) {
    const r = parseAddresses(value);
    assert.ok(r.ok, `${value}: ${r.ok ? '' : r.error}`);
    assert.deepEqual(r.addresses, expected, value);
  }
});

const INVALID: string[] = [
  // Issue 10 item 5: each of these passed nodemailer's addressparser as alice@a.test.
  'alice@a.test (x) ceo@bank.example',
  'ceo@bank.example:;, alice@a.test',
  'ceo@bank.example <alice@a.test',
  // Other malformed shapes: no closing quote, comment or bracket; stray specials; two addresses
  // in one angle; text after ">"; a missing domain; nested groups; control characters.
  '"alice@a.test',
  'alice@a.test (x',
  'alice@[1.2.3.4',
  'alice@a.test)',
  'a\\b@x.test',
  '<alice@a.test> ceo@bank.example',
  '<alice@a.test ceo@bank.example>',
  '<alice@a.test>>',
  '<>',
  'alice',
  'alice@',
  '@a.test',
  'alice@a..test',
  'alice@.a.test',
  'Alice alice@a.test',
  'a: b: c@d.test;;',
  'g: a@b.test',
  'alice@a.test\x00',
  'Al\x07ice <alice@a.test>',
  '"a\rb" <alice@a.test>',
  ': alice@a.test;',
  '<@bank.example alice@a.test>',
  'alice@a.test;',
];

test('malformed address lists are failures, with the first error and its offset', () => {
  for (const value of INVALID) {
    const r = parseAddresses(value);
    assert.equal(r.ok, false, `${JSON.stringify(value)} must not parse`);
    if (!r.ok) {
      assert.ok(r.error.length > 0);
      assert.ok(r.offset >= 0 && r.offset <= value.length, `${value}: offset ${r.offset}`);
    }
  }
  const r = parseAddresses('Alice <alice@a.test');
  assert.ok(!r.ok);
  assert.equal(r.error, 'expected ">" but found the end');
  assert.equal(r.offset, 19);
});

test('ENVELOPE of malformed lists: what parses as it is, the rest as written without an address', () => {
  const E = (name: string | null, mailbox: string | null, host: string | null, adl: string | null = null) => ({ name, adl, mailbox, host });
  // The three attack strings never show bank.example as a mailbox host.
  assert.deepEqual(parseAddressList('alice@a.test (x) ceo@bank.example'), [E('alice@a.test (x) ceo@bank.example', '', '')]);
  assert.deepEqual(parseAddressList('ceo@bank.example:;, alice@a.test'), [E('ceo@bank.example:;', '', ''), E(null, 'alice', 'a.test')]);
  assert.deepEqual(parseAddressList('ceo@bank.example <alice@a.test'), [E('ceo@bank.example <alice@a.test', '', '')]);
  // A lone local part keeps its mailbox (host "", not NIL, which would mean a group).
  assert.deepEqual(parseAddressList('root (Cron Daemon)'), [E('Cron Daemon', 'root', '')]);
  // An unclosed group at the end is closed; a bad member is shown as written.
  assert.deepEqual(parseAddressList('g: a@b, x y;'), [E(null, 'g', null), E(null, 'a', 'b'), E('x y', '', ''), E(null, null, null)]);
  assert.deepEqual(parseAddressList('g: a@b'), [E(null, 'g', null), E(null, 'a', 'b'), E(null, null, null)]);
  // A bad element does not take the good ones after it.
  assert.deepEqual(parseAddressList('"unclosed <a@b>, c@d'), [E('"unclosed <a@b>, c@d', '', '')]);
  assert.deepEqual(parseAddressList('x <a@b, c@d>, e@f'), [E('x <a@b, c@d>', '', ''), E(null, 'e', 'f')]);
});

test('addressOf and mailboxesOf', () => {
  const r = parseAddresses('g: "a b"@x.test;, c@[1.2.3.4]');
  assert.ok(r.ok);
  assert.deepEqual(mailboxesOf(r.addresses).map(addressOf), ['a b@x.test', 'c@[1.2.3.4]']);
});

test('the parser is linear: a long hostile value parses quickly (regression guard, generous bound)', () => {
  const value = '('.repeat(20_000) + '<'.repeat(20_000) + 'a@b,'.repeat(20_000) + ':;'.repeat(20_000);
  const start = process.hrtime.bigint();
  parseAddresses(value);
  parseAddressList(value);
  assert.ok(Number(process.hrtime.bigint() - start) / 1e6 < 2000);
});
