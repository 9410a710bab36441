import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeXtext, encodeXtext, parseNotify, parseOrcpt, parsePathArgs, splitCommand } from './command.js';
import { formatReply, SmtpError } from './reply.js';

const code = (fn: () => unknown): number => {
  try {
    fn();
  } catch (e) {
    if (e instanceof SmtpError) return e.code;
    throw e;
  }
  return 0;
};

test('splitCommand: verb upper-cased, args kept', () => {
  assert.deepEqual(splitCommand('mail FROM:<a@b.test> SIZE=10'), { verb: 'MAIL', args: 'FROM:<a@b.test> SIZE=10' });
  assert.deepEqual(splitCommand('QUIT'), { verb: 'QUIT', args: '' });
});

test('MAIL FROM paths and parameters', () => {
  const r = parsePathArgs('FROM:<Alice@A.test> SIZE=1000 BODY=8BITMIME SMTPUTF8', 'mail');
  assert.equal(r.path.address, 'Alice@A.test');
  assert.equal(r.path.mailbox?.domain, 'A.test');
  assert.deepEqual([...r.params], [['SIZE', '1000'], ['BODY', '8BITMIME'], ['SMTPUTF8', null]]);
  assert.equal(parsePathArgs('FROM:<>', 'mail').path.address, '');
  assert.equal(parsePathArgs('from: <a@b.test>', 'mail').path.address, 'a@b.test');
  assert.equal(parsePathArgs('FROM:<"john doe"@b.test>', 'mail').path.mailbox?.localPartValue, 'john doe');
  assert.equal(parsePathArgs('FROM:<a@[127.0.0.1]>', 'mail').path.mailbox?.literal, true);
  assert.equal(parsePathArgs('FROM:<jöran@b.test>', 'mail').path.utf8, true);
  assert.equal(code(() => parsePathArgs('FROM:a@b.test', 'mail')), 501);
  assert.equal(code(() => parsePathArgs('FROM:<a@b.test> SIZE=1 SIZE=2', 'mail')), 501);
  assert.equal(code(() => parsePathArgs('FROM:<a@b.test>X', 'mail')), 501);
  assert.equal(code(() => parsePathArgs('TO:<a@b.test>', 'mail')), 501);
});

test('RCPT TO: the relay tricks parse as what they are', () => {
  assert.equal(parsePathArgs('TO:<postmaster>', 'rcpt').path.address, 'postmaster');
  assert.equal(code(() => parsePathArgs('TO:<>', 'rcpt')), 501);
  assert.equal(code(() => parsePathArgs('TO:<x@remote.test@a.test>', 'rcpt')), 501);
  const sr = parsePathArgs('TO:<@a.test:x@remote.test>', 'rcpt').path;
  assert.equal(sr.sourceRoute, '@a.test');
  assert.equal(sr.mailbox?.domain, 'remote.test');
  assert.equal(parsePathArgs('TO:<"x@remote.test"@a.test>', 'rcpt').path.mailbox?.localPartValue, 'x@remote.test');
  assert.equal(parsePathArgs('TO:<x%remote.test@a.test>', 'rcpt').path.mailbox?.localPart, 'x%remote.test');
  assert.equal(parsePathArgs('TO:<remote.test!x@a.test>', 'rcpt').path.mailbox?.localPart, 'remote.test!x');
  assert.equal(code(() => parsePathArgs('TO:<a..b@a.test>', 'rcpt')), 501);
  assert.equal(code(() => parsePathArgs('TO:<a@-a.test>', 'rcpt')), 501);
  assert.equal(code(() => parsePathArgs(`TO:<${'x'.repeat(65)}@a.test>`, 'rcpt')), 501);
});

test('control characters in MAIL/RCPT are 501', () => {
  for (const c of ['\r', '\n', '\x00', '\x1b', '\x7f']) {
    assert.equal(code(() => parsePathArgs(`FROM:<a${c}b@b.test>`, 'mail')), 501);
    assert.equal(code(() => parsePathArgs(`TO:<"a${c}b"@b.test>`, 'rcpt')), 501);
  }
});

test('xtext (RFC 3461 §4)', () => {
  assert.equal(decodeXtext('a+2Bb+3Dc'), 'a+b=c');
  assert.equal(encodeXtext('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(decodeXtext(encodeXtext('jöran@b.test')), 'jöran@b.test');
  assert.equal(code(() => decodeXtext('a+2b')), 501, 'lower-case hex');
  assert.equal(code(() => decodeXtext('a+0Db')), 501, 'encoded CR');
  assert.equal(code(() => decodeXtext('a+00b')), 501, 'encoded NUL');
  assert.equal(code(() => decodeXtext('a=b')), 501);
});

test('DSN NOTIFY and ORCPT', () => {
  assert.deepEqual(parseNotify('success,failure'), ['SUCCESS', 'FAILURE']);
  assert.equal(code(() => parseNotify('NEVER,SUCCESS')), 501);
  assert.equal(code(() => parseNotify('SOMETIMES')), 501);
  assert.deepEqual(parseOrcpt('rfc822;bob+2Bx@b.test'), { type: 'rfc822', address: 'bob+x@b.test' });
  assert.deepEqual(parseOrcpt('utf-8;j\\x{F6}ran@b.test'), { type: 'utf-8', address: 'jöran@b.test' });
  assert.equal(code(() => parseOrcpt('rfc822;a+0Ab@b.test')), 501);
  assert.equal(code(() => parseOrcpt('bob@b.test')), 501);
});

test('utf-8-addr-xtext (RFC 6533 §3): an escape that is no Unicode scalar value is 501, never another error', () => {
  assert.deepEqual(parseOrcpt('utf-8;\\x{10FFFF}x@b.test'), { type: 'utf-8', address: '\u{10FFFF}x@b.test' });
  assert.deepEqual(parseOrcpt('utf-8;\\x{1F600}@b.test'), { type: 'utf-8', address: '\u{1F600}@b.test' });
  for (const hex of ['110000', 'FFFFFF', 'D800', 'DFFF', 'dabc']) {
    const e = (() => {
      try {
        parseOrcpt(`utf-8;\\x{${hex}}@b.test`);
      } catch (err) {
        return err;
      }
      return null;
    })();
    assert.ok(e instanceof SmtpError, `\\x{${hex}}: ${String(e)}`);
    assert.equal(e.code, 501);
    assert.equal(e.enhanced, '5.5.4');
  }
  // Every escape of one to six hex digits: a decoded address or a 501
  for (let cp = 0; cp <= 0xffffff; cp += cp < 0x20000 ? 1 : 0x1111) {
    const hex = cp.toString(16);
    const c = code(() => parseOrcpt(`utf-8;a\\x{${hex}}@b.test`));
    assert.ok(c === 0 || c === 501, hex);
  }
});

test('replies: single and multi-line, never split by text', () => {
  assert.equal(formatReply(250, '2.1.0', 'Ok'), '250 2.1.0 Ok\r\n');
  assert.equal(formatReply(250, null, ['a', 'b', 'c']), '250-a\r\n250-b\r\n250 c\r\n');
  assert.equal(formatReply(550, '5.1.1', 'x\r\n250 fake'), '550 5.1.1 x??250 fake\r\n');
});
