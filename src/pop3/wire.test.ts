import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DotStuffer,
  LineReader,
  challengeLine,
  errLine,
  multiLine,
  okLine,
  parseCommand,
  parseCount,
  parseMessageNumber,
    uniqueId,
  type FramedLine,
} from './wire.js';

function drain(r: LineReader): FramedLine[] {
  const out: FramedLine[] = [];
  for (let l = r.next(); l; l = r.next()) out.push(l);
  return out;
}

function show(lines: FramedLine[]): string[] {
  return lines.map((l) => (l.kind === 'line' ? l.line.toString('latin1') : '<too-long>'));
}

test('LineReader splits CRLF lines, accepts bare LF, keeps a partial line', () => {
  const r = new LineReader(100);
  r.push(Buffer.from('USER a\r\nPASS b c\nLI'));
  assert.deepEqual(show(drain(r)), ['USER a', 'PASS b c']);
  assert.equal(r.pendingBytes, 2);
  r.push(Buffer.from('ST\r\n'));
  assert.deepEqual(show(drain(r)), ['LIST']);
  assert.equal(r.pendingBytes, 0);
});

test('LineReader gives the same lines when fed one byte at a time', () => {
  const input = 'CAPA\r\nUSER x@y.test\r\n\r\nRETR 1\nTOP 1 0\r\n';
  const whole = new LineReader(100);
  whole.push(Buffer.from(input));
  const expected = show(drain(whole));
  const r = new LineReader(100);
  const got: FramedLine[] = [];
  for (const b of Buffer.from(input)) {
    r.push(Buffer.from([b]));
    got.push(...drain(r));
  }
  assert.deepEqual(show(got), expected);
  assert.deepEqual(expected, ['CAPA', 'USER x@y.test', '', 'RETR 1', 'TOP 1 0']);
});

test('LineReader refuses an oversized line once, without keeping it, and goes on', () => {
  const r = new LineReader(16);
  r.push(Buffer.from('NOOP\r\n'));
  for (let i = 0; i < 1000; i++) {
    r.push(Buffer.alloc(1024, 0x41));
    assert.deepEqual(drain(r), i === 0 ? [{ kind: 'line', line: Buffer.from('NOOP') }] : []);
    // Memory stays bounded: nothing of the long line is kept.
    assert.ok(r.pendingBytes <= 16, `pending ${r.pendingBytes}`);
  }
  r.push(Buffer.from('AAAA\r\nSTAT\r\n'));
  assert.deepEqual(show(drain(r)), ['<too-long>', 'STAT']);
});

test('LineReader: a line of exactly the limit passes, one more octet does not', () => {
  const r = new LineReader(8);
  r.push(Buffer.from('ABCDEF\r\nABCDEFG\r\n'));
  assert.deepEqual(show(drain(r)), ['ABCDEF', '<too-long>']);
});

test('LineReader.clear drops pipelined input', () => {
  const r = new LineReader(100);
  r.push(Buffer.from('STLS\r\nCAPA\r\nUSER'));
  assert.deepEqual(show([r.next()!]), ['STLS']);
  r.clear();
  assert.equal(r.next(), null);
  assert.equal(r.pendingBytes, 0);
  r.push(Buffer.from('CAPA\r\n'));
  assert.deepEqual(show(drain(r)), ['CAPA']);
});

test('parseCommand: keyword case-insensitive, arguments, rest kept for PASS', () => {
  assert.deepEqual(parseCommand(Buffer.from('retr 1')), { name: 'RETR', args: ['1'], rest: '1' });
  assert.deepEqual(parseCommand(Buffer.from('PASS two  words ')), { name: 'PASS', args: ['two', 'words'], rest: 'two  words ' });
  assert.deepEqual(parseCommand(Buffer.from('STAT')), { name: 'STAT', args: [], rest: '' });
  assert.equal(parseCommand(Buffer.from('')), null);
  assert.equal(parseCommand(Buffer.from('AB')), null);
  assert.equal(parseCommand(Buffer.from('ABCDE x')), null);
  assert.equal(parseCommand(Buffer.from('1234')), null);
  assert.deepEqual(parseCommand(Buffer.from('utf8')), { name: 'UTF8', args: [], rest: '' });
  assert.equal(parseCommand(Buffer.from('USER j\u00f6rg@example.test'))?.args[0], 'j\u00f6rg@example.test');
  // Not UTF-8: no command (never U+FFFD in a user name or password)
  assert.equal(parseCommand(Buffer.from('PASS \xff\xfe', 'latin1')), null);
  assert.equal(parseCommand(Buffer.from('USER j\xf6rg@example.test', 'latin1')), null);
  assert.equal(parseCommand(Buffer.from([0x55, 0x53, 0x45, 0x52, 0x20, 0xed, 0xa0, 0x80])), null, 'encoded surrogate');
  assert.equal(parseCommand(Buffer.from([0x55, 0x53, 0x45, 0x52, 0x20, 0xc0, 0xaf])), null, 'overlong');
});

test('message numbers and counts', () => {
  assert.equal(parseMessageNumber('1'), 1);
  assert.equal(parseMessageNumber('042'), 42);
  for (const bad of [undefined, '', '0', '-1', '+1', '1.5', 'x', '1234567890']) assert.equal(parseMessageNumber(bad), null, String(bad));
  assert.equal(parseCount('0'), 0);
  assert.equal(parseCount('-1'), null);
});

test('reply lines', () => {
  assert.equal(okLine(), '+OK\r\n');
  assert.equal(okLine('2 320'), '+OK 2 320\r\n');
  assert.equal(errLine('no such message'), '-ERR no such message\r\n');
  assert.equal(errLine('locked', 'IN-USE'), '-ERR [IN-USE] locked\r\n');
  assert.equal(errLine('a\r\nb'), '-ERR a b\r\n');
  assert.ok(errLine('x'.repeat(2000)).length <= 512);
  assert.equal(challengeLine(Buffer.alloc(0)), '+ \r\n');
  assert.equal(challengeLine(Buffer.from('Username:')), '+ VXNlcm5hbWU6\r\n');
  assert.equal(multiLine('+OK\r\n', ['TOP', '.hidden']), '+OK\r\nTOP\r\n..hidden\r\n.\r\n');
});

test('uniqueId is printable and at most 70 characters', () => {
  const id = uniqueId(4294967295, 4294967295);
  assert.match(id, /^[\x21-\x7e]{1,70}$/);
  assert.notEqual(uniqueId(1, 23), uniqueId(12, 3));
});

/** The reference: whole-message encoding, written the obvious way (lines end at LF). */
function reference(msg: Buffer, bodyStart: number | null, lines: number): Buffer {
  let s = msg.toString('latin1');
  if (bodyStart !== null) {
    const head = msg.subarray(0, bodyStart).toString('latin1');
    const body = msg.subarray(bodyStart).toString('latin1');
    s = head + body.split(/(?<=\n)/).slice(0, lines).join('');
  }
  const stuffed = s.replace(/(^|\n)\./g, '$1..');
  return Buffer.from(stuffed + (s === '' || s.endsWith('\r\n') ? '' : '\r\n') + '.\r\n', 'latin1');
}

function encode(msg: Buffer, chunkSize: number, bodyStart: number | null = null, lines = 0): { out: Buffer; unstuffed: number } {
  const d = new DotStuffer();
  const parts: Buffer[] = [];
  const feed = (bytes: Buffer): boolean => {
    for (let i = 0; i < bytes.length; i += chunkSize) {
      const r = d.push(bytes.subarray(i, i + chunkSize));
      parts.push(r.out);
      if (r.done) return true;
    }
    return false;
  };
  if (bodyStart === null) feed(msg);
  else {
    feed(msg.subarray(0, bodyStart));
    d.lineBudget = lines;
    if (lines > 0) feed(msg.subarray(bodyStart));
  }
  parts.push(d.finish());
  return { out: Buffer.concat(parts), unstuffed: d.unstuffedOctets };
}

const samples = [
  'Subject: a\r\n\r\nbody\r\n',
  'Subject: a\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n',
  '.starts with dot\r\nx\r\n',
  'no final newline\r\n.last',
  'bare\nLF lines\n.dot after bare LF\n',
  'mixed\r\nends\ncr\r',
  '',
  '.',
  '\r\n.\r\n',
];

test('DotStuffer matches the reference at every chunk size; the bytes sent before stuffing are the stored bytes', () => {
  for (const s of samples) {
    const msg = Buffer.from(s, 'latin1');
    const want = reference(msg, null, 0);
    for (const size of [1, 2, 3, 7, 1000]) {
      const { out, unstuffed } = encode(msg, size);
      assert.equal(out.toString('latin1'), want.toString('latin1'), `${JSON.stringify(s)} @${size}`);
      assert.equal(unstuffed, msg.length, `count ${JSON.stringify(s)} @${size}`);
    }
  }
});

test('DotStuffer with a line budget (TOP) matches the reference', () => {
  const msg = Buffer.from('From: a\r\nSubject: b\r\n\r\n.one\r\ntwo\r\nthree\n.four\r\n', 'latin1');
  const bodyStart = msg.indexOf('\r\n\r\n') + 4;
  for (const lines of [0, 1, 2, 3, 4, 10]) {
    for (const size of [1, 3, 1000]) {
      const { out } = encode(msg, size, bodyStart, lines);
      assert.equal(out.toString('latin1'), reference(msg, bodyStart, lines).toString('latin1'), `lines ${lines} @${size}`);
    }
  }
});

test('DotStuffer: random messages, random chunking', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = ['.', '\r\n', '\n', '\r', 'a', ' ', '..'];
  for (let k = 0; k < 300; k++) {
    let s = '';
    const len = rnd(40);
    for (let i = 0; i < len; i++) s += alphabet[rnd(alphabet.length)];
    const msg = Buffer.from(s, 'latin1');
    const { out, unstuffed } = encode(msg, 1 + rnd(5));
    assert.equal(out.toString('latin1'), reference(msg, null, 0).toString('latin1'), JSON.stringify(s));
    assert.equal(unstuffed, msg.length);
  }
});

test('DotStuffer without a line budget: every "." at the start of a line doubled, whatever the chunks (random inputs against a reference)', () => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const alphabet = ['.', '\r', '\n', 'a', '\r\n', '\r\n.'];
  for (let round = 0; round < 500; round++) {
    let text = '';
    for (let k = rand(60); k > 0; k--) text += alphabet[rand(alphabet.length)];
    // RFC 1939 §3: a line that starts with "." gets one more "." (a line starts at the beginning and after every LF)
    const want = text.replace(/(^|\n)\./g, '$1..');
    const st = new DotStuffer();
    const out: Buffer[] = [];
    for (let at = 0; at < text.length; ) {
      const n = 1 + rand(8);
      out.push(st.push(Buffer.from(text.slice(at, at + n), 'latin1')).out);
      at += n;
    }
    assert.equal(Buffer.concat(out).toString('latin1'), want, JSON.stringify(text));
  }
});
