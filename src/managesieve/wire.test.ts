// The ManageSieve framer and composers (RFC 5804 §4), fed whole and one byte at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManageSieveFramer, no, ok, str, tokenize, type FramedItem } from './wire.js';

function frame(input: string | Buffer, byByte: boolean, limits = { maxLine: 1000, maxLiteral: 100 }): FramedItem[] {
  const f = new ManageSieveFramer(limits);
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input, 'utf8');
  const out: FramedItem[] = [];
  const drain = () => {
    for (let it = f.next(); it; it = f.next()) out.push(it);
  };
  if (byByte) for (const b of bytes) (f.push(Buffer.from([b])), drain());
  else (f.push(bytes), drain());
  return out;
}

const show = (items: FramedItem[]) =>
  items.map((i) => (i.kind === 'error' ? `error:${i.code}` : i.tokens.map((t) => (t.kind === 'string' ? `${t.literal ? 'L' : 'Q'}:${t.value.toString()}` : `${t.kind}:${t.value}`)).join(' ')));

for (const byByte of [false, true]) {
  const how = byByte ? 'one byte at a time' : 'whole';
  test(`framer (${how}): atoms, quoted strings, numbers, literals {n+} and {n}, bare LF`, () => {
    assert.deepEqual(show(frame('NOOP\r\nHAVESPACE "a b" 100\r\nPUTSCRIPT "x" {5+}\r\nkeep;\r\nputscript "y" {3}\r\nabc\nCHECKSCRIPT {0+}\r\n\r\n', byByte)), [
      'atom:NOOP',
      'atom:HAVESPACE Q:a b number:100',
      'atom:PUTSCRIPT Q:x L:keep;',
      'atom:putscript Q:y L:abc',
      'atom:CHECKSCRIPT L:',
    ]);
  });

  test(`framer (${how}): literal bytes are never read as commands; CRLF inside a literal stays`, () => {
    assert.deepEqual(show(frame('PUTSCRIPT "x" {12+}\r\nLOGOUT\r\nab\r\n\r\nNOOP\r\n', byByte)), ['atom:PUTSCRIPT Q:x L:LOGOUT\r\nab\r\n', 'atom:NOOP']);
    // A literal followed by more arguments on the continued line.
    assert.deepEqual(show(frame('RENAMESCRIPT {1+}\r\na "b"\r\n', byByte)), ['atom:RENAMESCRIPT L:a Q:b']);
    // "{5+}" inside a quoted string is not a literal.
    assert.deepEqual(show(frame('NOOP "{5+}"\r\n', byByte)), ['atom:NOOP Q:{5+}']);
  });

  test(`framer (${how}): a literal over maxLiteral and a line over maxLine are skipped whole`, () => {
    assert.deepEqual(show(frame(`PUTSCRIPT "x" {150+}\r\n${'LOGOUT\r\n'.repeat(18)}abcdef\r\nNOOP\r\n`, byByte)), ['error:literal-too-big', 'atom:NOOP']);
    assert.deepEqual(show(frame(`NOOP "${'a'.repeat(2000)}"\r\nNOOP\r\n`, byByte)), ['error:too-long', 'atom:NOOP']);
    assert.deepEqual(show(frame(`NOOP ${'a'.repeat(2000)} {6+}\r\nNOOP\r\n\r\nNOOP\r\n`, byByte)), ['error:too-long', 'atom:NOOP']);
    assert.deepEqual(show(frame('NOOP "x" junk" {3+}\r\nabc\r\nNOOP\r\n', byByte)), ['error:syntax', 'atom:NOOP']);
  });
}

test('tokenize: escapes, limits, bad input', () => {
  assert.deepEqual(tokenize(Buffer.from('"a\\"b\\\\c"')), { ok: true, tokens: [{ kind: 'string', value: Buffer.from('a"b\\c'), literal: false }] });
  assert.equal(tokenize(Buffer.from('"a\\nb"')).ok, false);
  assert.equal(tokenize(Buffer.from('"open')).ok, false);
  assert.equal(tokenize(Buffer.from('"a"b')).ok, false);
  assert.equal(tokenize(Buffer.from('4294967296')).ok, false);
  assert.equal(tokenize(Buffer.from('4294967295')).ok, true);
  assert.equal(tokenize(Buffer.from(`"${'x'.repeat(1025)}"`)).ok, false);
  assert.equal(tokenize(Buffer.from('a(b')).ok, false);
});

test('composers: quoted strings escape, long or multi-line text becomes a literal', () => {
  assert.equal(str('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(str('two\r\nlines'), '{10}\r\ntwo\r\nlines');
  assert.equal(str('é'), '"é"');
  assert.equal(ok(), 'OK\r\n');
  assert.equal(ok('Done', 'TAG', 'x'), 'OK (TAG "x") "Done"\r\n');
  assert.equal(no('gone', 'NONEXISTENT'), 'NO (NONEXISTENT) "gone"\r\n');
});
