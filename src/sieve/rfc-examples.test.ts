// The examples of the Sieve RFCs as fixtures: each example script is taken from the RFC text
// (section named in the comment), parsed, and where the RFC states an outcome, run with a message
// and its actions checked; where sieve-test is installed, the same runs are compared with Pigeonhole.
// Only RFCs whose text could be read are here (see docs/rfc-sections/skipped.txt for the others).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PIGEONHOLE_MISSING, SIEVE_TEST, actions, compareWithPigeonhole, compileErrors, type PigeonholeCase } from '../../test/helpers/sieve.js';

const MESSAGE = [
  'Date: Tue, 1 Apr 2025 10:00:00 +0200',
  'Message-ID: <m1@example.net>',
  'From: partner@example.net',
  'To: ken@example.org',
  'Subject: our contract',
  '',
  'Hello.',
  '',
].join('\r\n');

// RFC 5490 §3.1 (mailboxexists), verbatim.
const RFC5490_3_1 = [
  'require ["fileinto", "reject", "mailbox"];',
  'if mailboxexists "Partners" {',
  '   fileinto "Partners";',
  '} else {',
  '   reject "This message was not accepted by the Mailstore";',
  '}',
  '',
].join('\n');

// RFC 5490 §3.3 (metadata), verbatim: the text ends the multi-line string with "." and no ";",
// which is not valid Sieve (RFC 5228 §8.1: a command ends in ";" or a block); RFC5490_3_3_FIXED adds it.
const RFC5490_3_3 = [
  'require ["mboxmetadata", "vacation"];',
  '',
  'if metadata :is "INBOX"',
  '   "/private/vendor/vendor.isode/auto-replies" "on" {',
  '',
  '   vacation text:',
  "I'm away on holidays till March 2009.",
  'Expect a delay.',
  '.',
  '}',
  '',
].join('\n');
const RFC5490_3_3_FIXED = RFC5490_3_3.replace('\n.\n}', '\n.\n;\n}');

// RFC 5490 §4.1 (servermetadata), verbatim.
const RFC5490_4_1 = [
  'require ["enotify", "servermetadata", "variables", "envelope"];',
  '',
  'if servermetadata :matches',
  '   "/private/vendor/vendor.isode/notification-uri" "*" {',
  '   set "notif_uri" "${0}";',
  '}',
  '',
  'if not string :is "${notif_uri}" "none" {',
  '   # :matches is used to get the MAIL FROM address',
  '   if envelope :all :matches "from" "*" {',
  '       set "env_from" " [really: ${1}]";',
  '   }',
  '',
  '   # :matches is used to get the value of the Subject header',
  '   if header :matches "Subject" "*" {',
  '       set "subject" "${1}";',
  '   }',
  '',
  '   # :matches is used to get the address from the From header',
  '   if address :matches :all "from" "*" {',
  '       set "from_addr" "${1}";',
  '   }',
  '',
  '   notify :message "${from_addr}${env_from}: ${subject}"',
  '           "${notif_uri}";',
  '}',
  '',
].join('\n');

test('RFC 5490 §3.1: mailboxexists files into an existing mailbox, else the example rejects', async () => {
  assert.deepEqual(compileErrors(RFC5490_3_1), []);
  const exists = { mailboxExists: async (n: string) => ['inbox', 'partners'].includes(n.toLowerCase()) };
  assert.deepEqual(await actions(RFC5490_3_1, { msg: MESSAGE, env: exists }), ['fileinto "Partners"']);
  const missing = { mailboxExists: async (n: string) => n.toLowerCase() === 'inbox' };
  assert.deepEqual(await actions(RFC5490_3_1, { msg: MESSAGE, env: missing }), ['reject "This message was not accepted by the Mailstore"']);
});

test('RFC 5490 §3.3: as printed, a parse error at the "}" (the ";" is missing); with it, metadata on an absent annotation is false, so no vacation', async () => {
  assert.deepEqual(compileErrors(RFC5490_3_3), ['10:1: expected ";" or "{" after vacation, found "}"']);
  assert.deepEqual(compileErrors(RFC5490_3_3_FIXED), []);
  // Yubin keeps no METADATA store (RFC 5464): the annotation is absent and the test false.
  assert.deepEqual(await actions(RFC5490_3_3_FIXED, { msg: MESSAGE }), ['keep']);
});

test('RFC 5490 §4.1: the example needs enotify, which Yubin does not offer: a clear error at require', () => {
  const errors = compileErrors(RFC5490_4_1);
  assert.equal(errors.length > 0, true);
  assert.match(errors[0]!, /^1:\d+: .*enotify/);
  // Without enotify and notify, the servermetadata part of the example compiles.
  const rest = RFC5490_4_1.replace('"enotify", ', '').replace(/ {3}notify :message [^;]*;\n/, '');
  assert.deepEqual(compileErrors(rest), []);
});

const PIGEONHOLE_CASES: PigeonholeCase[] = [
  { name: 'RFC 5490 §3.1 (Partners exists)', script: RFC5490_3_1, message: MESSAGE, mailboxes: ['Partners'] },
  { name: 'RFC 5490 §3.1 (no Partners)', script: RFC5490_3_1, message: MESSAGE, mailboxes: [] },
  { name: 'RFC 5490 §3.3 (with the missing ";")', script: RFC5490_3_3_FIXED, message: MESSAGE, mailboxes: [] },
];

test('the RFC examples: Yubin and Pigeonhole take the same actions', { skip: SIEVE_TEST ? false : PIGEONHOLE_MISSING }, async (t) => {
  await compareWithPigeonhole(t, PIGEONHOLE_CASES);
});
