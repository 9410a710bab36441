import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFramer, parseLiteralAnnouncement, type FramerEvent, type LiteralDecision, type LiteralInfo } from './framer.js';
import { tokenizeCommand, tokenizeArgs, ImapParseError, ArgReader, type Token } from './tokenizer.js';
import { decodeMutf7, encodeMutf7 } from './mutf7.js';
import { astring, compressSet, imapString } from './compose.js';
import { parseSequenceSet, resolveRanges, selectSeqs } from './sequence.js';

function run(input: string | Buffer, opts: { max?: number; decide?: (i: LiteralInfo) => LiteralDecision; byteAtATime?: boolean } = {}): FramerEvent[] {
  const f = new ImapFramer({ maxCommandLength: opts.max ?? 1000, decide: opts.decide ?? (() => ({ action: 'buffer' })) });
  const buf = typeof input === 'string' ? Buffer.from(input, 'binary') : input;
  const events: FramerEvent[] = [];
  const feed = (b: Buffer) => {
    f.push(b);
    for (let e = f.next(); e; e = f.next()) events.push(e);
  };
  if (opts.byteAtATime) for (let i = 0; i < buf.length; i++) feed(buf.subarray(i, i + 1));
  else feed(buf);
  return events;
}

/** Joins literal-data chunks so that whole and byte-at-a-time runs compare equal. */
function normalize(events: FramerEvent[]): unknown[] {
  const out: unknown[] = [];
  let data: Buffer[] = [];
  for (const e of events) {
    if (e.type === 'literal-data') {
      data.push(e.chunk);
      if (e.last) {
        out.push({ type: 'literal-data', data: Buffer.concat(data).toString('binary') });
        data = [];
      }
      continue;
    }
    if (e.type === 'command') out.push({ type: 'command', parts: e.parts.map((p) => (p.kind === 'stream' ? { kind: 'stream', size: p.size } : { kind: p.kind, s: p.bytes.toString('binary') })) });
    else out.push(e);
  }
  return out;
}

function both(input: string, opts: Parameters<typeof run>[1] = {}): unknown[] {
  const whole = normalize(run(input, opts));
  const bytes = normalize(run(input, { ...opts, byteAtATime: true }));
  assert.deepEqual(bytes, whole, 'byte-at-a-time gives the same events');
  return whole;
}

test('framer: plain lines, CRLF and bare LF', () => {
  const ev = both('a NOOP\r\nb CAPABILITY\n');
  assert.deepEqual(ev, [
    { type: 'command', parts: [{ kind: 'text', s: 'a NOOP' }] },
    { type: 'command', parts: [{ kind: 'text', s: 'b CAPABILITY' }] },
  ]);
});

test('framer: synchronising literal asks for continuation, then continues the line', () => {
  const ev = both('a LOGIN {5}\r\nalice {3}\r\npw!\r\n');
  assert.deepEqual(ev, [
    { type: 'continue' },
    { type: 'continue' },
    {
      type: 'command',
      parts: [
        { kind: 'text', s: 'a LOGIN ' },
        { kind: 'literal', s: 'alice' },
        { kind: 'text', s: ' ' },
        { kind: 'literal', s: 'pw!' },
        { kind: 'text', s: '' },
      ],
    },
  ]);
});

test('framer: LITERAL+ sends no continuation; zero-length literal', () => {
  const ev = both('a LOGIN {5+}\r\nalice {0+}\r\n\r\n');
  assert.deepEqual(ev, [
    {
      type: 'command',
      parts: [
        { kind: 'text', s: 'a LOGIN ' },
        { kind: 'literal', s: 'alice' },
        { kind: 'text', s: ' ' },
        { kind: 'literal', s: '' },
        { kind: 'text', s: '' },
      ],
    },
  ]);
});

test('framer: literals hold CRLF and braces', () => {
  const ev = both('a X {7}\r\n{1}\r\n\r\n\r\n');
  assert.deepEqual(ev, [{ type: 'continue' }, { type: 'command', parts: [{ kind: 'text', s: 'a X ' }, { kind: 'literal', s: '{1}\r\n\r\n' }, { kind: 'text', s: '' }] }]);
});

test('framer: streamed literal and decision sees the command so far', () => {
  const seen: string[] = [];
  const ev = both('a APPEND INBOX {10}\r\n0123456789\r\n', {
    decide: (i) => {
      seen.push(i.parts.map((p) => (p.kind === 'text' ? p.bytes.toString() : '')).join(''));
      return { action: 'stream', handle: 'H' };
    },
  });
  assert.deepEqual(ev, [{ type: 'continue' }, { type: 'literal-data', data: '0123456789' }, { type: 'command', parts: [{ kind: 'text', s: 'a APPEND INBOX ' }, { kind: 'stream', size: 10 }, { kind: 'text', s: '' }] }]);
  assert.equal(seen[0], 'a APPEND INBOX ');
});

test('framer: refused synchronising literal drops the command; the next one is read', () => {
  const ev = both('a APPEND INBOX {999999}\r\nb NOOP\r\n', { decide: () => ({ action: 'reject', response: 'NO [TOOBIG] no' }) });
  assert.deepEqual(ev, [{ type: 'rejected', response: 'NO [TOOBIG] no', close: false }, { type: 'command', parts: [{ kind: 'text', s: 'b NOOP' }] }]);
});

test('framer: refused non-synchronising literal closes', () => {
  const ev = both('a APPEND INBOX {999999+}\r\nxxxx', { decide: () => ({ action: 'reject', response: 'NO [TOOBIG] no' }) });
  assert.deepEqual(ev, [{ type: 'rejected', response: 'NO [TOOBIG] no', close: true }]);
});

test('framer: buffered literal over the command limit is refused before "+"', () => {
  const ev = both('a LOGIN {5000}\r\n', { max: 1000 });
  assert.equal((ev[0] as { type: string }).type, 'rejected');
  assert.equal(ev.length, 1);
});

test('framer: over-long line gives too-long once and stops', () => {
  const ev = both('a ' + 'x'.repeat(2000) + '\r\nb NOOP\r\n', { max: 1000 });
  assert.deepEqual(ev, [{ type: 'too-long' }]);
});

test('framer: literal announcement parsing', () => {
  assert.deepEqual(parseLiteralAnnouncement(Buffer.from('a {12}')), { size: 12, nonSync: false, binary: false, start: 2 });
  assert.deepEqual(parseLiteralAnnouncement(Buffer.from('a ~{12+}')), { size: 12, nonSync: true, binary: true, start: 2 });
  assert.equal(parseLiteralAnnouncement(Buffer.from('a {}')), null);
  assert.equal(parseLiteralAnnouncement(Buffer.from('a {1a}')), null);
  assert.equal(parseLiteralAnnouncement(Buffer.from('a 12}')), null);
});

test('tokenizer: tag, name, atoms, strings, lists, sections', () => {
  const c = tokenizeCommand([{ kind: 'text', bytes: Buffer.from('A1 uid fetch 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>) "a \\"q\\" \\\\"') }]);
  assert.equal(c.tag, 'A1');
  assert.equal(c.name, 'UID');
  assert.deepEqual(c.args, [
    { t: 'atom', v: 'fetch' },
    { t: 'atom', v: '1:*' },
    { t: 'list', items: [{ t: 'atom', v: 'FLAGS' }, { t: 'atom', v: 'BODY.PEEK[HEADER.FIELDS (From To)]<0.100>' }] },
    { t: 'string', v: Buffer.from('a "q" \\'), literal: false },
  ]);
});

test('tokenizer: errors are BAD with the tag when known', () => {
  const bad = (s: string) => {
    try {
      tokenizeCommand([{ kind: 'text', bytes: Buffer.from(s, 'binary') }]);
    } catch (e) {
      assert.ok(e instanceof ImapParseError);
      return e.tag;
    }
    assert.fail('expected an error for ' + JSON.stringify(s));
  };
  assert.equal(bad('a LOGIN "x\0y" z'), 'a');
  assert.equal(bad('a LOGIN "x\ry" z'), 'a');
  assert.equal(bad('a LOGIN "x'), 'a');
  assert.equal(bad('a LOGIN "\\a"'), 'a');
  assert.equal(bad('a X (()'), 'a');
  assert.equal(bad('a X )'), 'a');
  assert.equal(bad('a+ NOOP'), null);
  assert.equal(bad(''), null);
  assert.equal(bad('a'), 'a');
  assert.equal(bad('a X ' + '('.repeat(4000) + ')'.repeat(4000)), 'a');
});

test('tokenizer: nesting below the limit is fine', () => {
  const t = tokenizeArgs([{ kind: 'text', bytes: Buffer.from('((((a))))') }]);
  let depth = 0;
  let cur: Token = t[0]!;
  while (cur.t === 'list') {
    depth++;
    cur = cur.items[0]!;
  }
  assert.equal(depth, 4);
});

test('ArgReader reads typed arguments', () => {
  const r = new ArgReader(tokenizeArgs([{ kind: 'text', bytes: Buffer.from('INBOX "x y" (a b) 42 ') }, { kind: 'literal', bytes: Buffer.from('lit'), binary: false }]), 't');
  assert.equal(r.astring(), 'INBOX');
  assert.equal(r.astring(), 'x y');
  assert.equal(r.list().length, 2);
  assert.equal(r.number(), 42);
  assert.equal(r.string(), 'lit');
  r.end();
  assert.throws(() => r.next(), ImapParseError);
});

test('modified UTF-7 round trip and RFC examples', () => {
  assert.equal(encodeMutf7('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
  assert.equal(decodeMutf7('~peter/mail/&U,BTFw-/&ZeVnLIqe-'), '~peter/mail/台北/日本語');
  assert.equal(encodeMutf7('A&B'), 'A&-B');
  assert.equal(decodeMutf7('A&-B'), 'A&B');
  assert.equal(decodeMutf7('Entw&APw-rfe'), 'Entwürfe');
  assert.equal(encodeMutf7('Entwürfe'), 'Entw&APw-rfe');
  assert.equal(decodeMutf7(encodeMutf7('😀 x')), '😀 x');
  for (const bad of ['&', '&Jjo', '&AGE-', '&Jjo-&-', '&U,BTFw-&ZeVnLIqe-', '&Jj!-', 'ü']) assert.equal(decodeMutf7(bad), null, bad);
});

test('compose: strings, astrings, sets', () => {
  assert.equal(imapString('a"b'), '"a\\"b"');
  assert.equal(imapString('a\r\nb'), '{4}\r\na\r\nb');
  assert.equal(imapString('ü'), '{2}\r\nü');
  assert.equal(imapString('ü', true), '"ü"');
  assert.equal(astring('INBOX'), 'INBOX');
  assert.equal(astring('a b'), '"a b"');
  assert.equal(astring('NIL'), '"NIL"');
  assert.equal(astring(''), '""');
  assert.equal(compressSet([1, 2, 3, 5, 7, 8]), '1:3,5,7:8');
});

test('sequence sets', () => {
  assert.equal(parseSequenceSet('0'), null);
  assert.equal(parseSequenceSet('1:'), null);
  assert.equal(parseSequenceSet('a'), null);
  assert.deepEqual(parseSequenceSet('$'), { saved: true });
  const s = parseSequenceSet('5:3,*,9:*')!;
  assert.ok('ranges' in s);
  assert.deepEqual(resolveRanges(s, 10), [[3, 5], [10, 10], [9, 10]]);
  assert.deepEqual(selectSeqs(10, resolveRanges(s, 10)), [3, 4, 5, 9, 10]);
  assert.deepEqual(selectSeqs(0, resolveRanges(s, 0)), []);
});
