import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyParser, parseEhlo, xtext, encodeData, DataEncoding, replyText } from './wire.js';

test('reply parser: single and multiline, enhanced codes', () => {
  const p = new ReplyParser();
  assert.equal(p.push('250-mx.b.test hello'), null);
  assert.equal(p.push('250-PIPELINING'), null);
  assert.equal(p.push('250-SIZE 1000'), null);
  const r = p.push('250 DSN')!;
  assert.equal(r.code, 250);
  assert.deepEqual(r.lines, ['mx.b.test hello', 'PIPELINING', 'SIZE 1000', 'DSN']);
  const ext = parseEhlo(r);
  assert.equal(ext.get('SIZE'), '1000');
  assert.ok(ext.has('PIPELINING') && ext.has('DSN'));
  const r2 = p.push('550 5.1.1 <nobody@b.test>: no such user')!;
  assert.equal(r2.enhanced, '5.1.1');
  assert.equal(replyText(r2), '550 5.1.1 <nobody@b.test>: no such user');
  assert.deepEqual(r2.lines, ['<nobody@b.test>: no such user']);
  assert.equal(p.push('421')!.code, 421);
  // an enhanced code of another class is not taken
  assert.equal(p.push('250 5.1.1 odd')!.enhanced, null);
  assert.throws(() => p.push('hello'));
});

test('xtext (RFC 3461 §4)', () => {
  assert.equal(xtext('bob@b.test'), 'bob@b.test');
  assert.equal(xtext('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(xtext('ü'), '+C3+BC');
});

test('DATA encoding: CRLF only and dot-stuffing, also with bare CR and LF', () => {
  const enc = (s: string) => encodeData(Buffer.from(s, 'latin1')).toString('latin1');
  assert.equal(enc('a\r\n.b\r\n'), 'a\r\n..b\r\n.\r\n');
  assert.equal(enc('.\nx\ry\r\n'), '..\r\nx\r\ny\r\n.\r\n');
  assert.equal(enc('no end'), 'no end\r\n.\r\n');
  assert.equal(enc('ends in cr\r'), 'ends in cr\r\n.\r\n');
  assert.equal(enc(''), '.\r\n');
  assert.equal(encodeData(Buffer.from('.a\n'), { terminate: false }).toString(), '.a\r\n');
});

test('DATA encoding fed one byte at a time gives the same bytes', () => {
  const input = Buffer.from('.x\r\n\r.\n..\r\r\nz.\n.', 'latin1');
  const whole = encodeData(input);
  const e = new DataEncoding();
  const parts: Buffer[] = [];
  for (const b of input) parts.push(e.encode(Buffer.from([b])));
  parts.push(e.finish());
  assert.deepEqual(Buffer.concat(parts), whole);
  // the only "CRLF.CRLF" is the terminator, and no bare CR or LF remain
  const s = whole.toString('latin1');
  assert.equal(s.indexOf('\r\n.\r\n'), s.length - 5);
  assert.equal(s.replace(/\r\n/g, '').includes('\r') || s.replace(/\r\n/g, '').includes('\n'), false);
});

test('DATA encoding, random inputs: CRLF only, the terminator only at the end, and un-stuffing gives the normalised input back', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const alphabet = [0x2e, 0x0d, 0x0a, 0x41, 0x20, 0xc3, 0xbc];
  for (let n = 0; n < 500; n++) {
    const input = Buffer.from(Array.from({ length: Math.floor(rnd() * 60) }, () => alphabet[Math.floor(rnd() * alphabet.length)]!));
    // fed in random pieces
    const e = new DataEncoding();
    const parts: Buffer[] = [];
    for (let i = 0; i < input.length; ) {
      const k = 1 + Math.floor(rnd() * 5);
      parts.push(e.encode(input.subarray(i, i + k)));
      i += k;
    }
    parts.push(e.finish());
    const out = Buffer.concat(parts).toString('latin1');
    assert.deepEqual(Buffer.concat(parts), encodeData(input));
    assert.ok(out.endsWith('\r\n.\r\n') || out === '.\r\n', JSON.stringify(out));
    const body = out.slice(0, out.length - 3); // without ".\r\n"
    assert.equal(body.replace(/\r\n/g, '').includes('\r') || body.replace(/\r\n/g, '').includes('\n'), false);
    const lines = body === '' ? [] : body.slice(0, -2).split('\r\n');
    assert.ok(lines.every((l) => l !== '.'), 'no line is a lone dot before the end');
    const unstuffed = lines.map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n') + (lines.length ? '\r\n' : '');
    const normalised = input.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');
    assert.equal(unstuffed, normalised.length && !normalised.endsWith('\r\n') ? normalised + '\r\n' : normalised);
  }
});
