import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyScanner, InputBuffer, type LineEvent } from './framer.js';

/** Runs a DATA scan over the input split into pieces; returns body, leftover and flags. */
function scanData(input: string, pieces: 'whole' | 'bytes'): { body: string; rest: string; done: boolean; flags: BodyScanner['flags'] } {
  const s = new BodyScanner(true);
  const buf = Buffer.from(input, 'latin1');
  const chunks = pieces === 'whole' ? [buf] : [...buf].map((b) => Buffer.from([b]));
  const out: Buffer[] = [];
  let rest = '';
  let done = false;
  for (let k = 0; k < chunks.length; k++) {
    const c = chunks[k]!;
    if (done) {
      rest += c.toString('latin1');
      continue;
    }
    const r = s.scan(c);
    out.push(...r.body);
    if (r.done) {
      done = true;
      rest += c.subarray(r.consumed).toString('latin1');
    }
  }
  return { body: Buffer.concat(out).toString('latin1'), rest, done, flags: s.flags };
}

for (const pieces of ['whole', 'bytes'] as const) {
  test(`DATA: dot-unstuffing and end of data (${pieces})`, () => {
    const r = scanData('Subject: x\r\n\r\n..leading dot\r\n.\r\nMAIL FROM:<a@b>\r\n', pieces);
    assert.equal(r.done, true);
    assert.equal(r.body, 'Subject: x\r\n\r\n.leading dot\r\n');
    assert.equal(r.rest, 'MAIL FROM:<a@b>\r\n');
    assert.deepEqual(r.flags, { bareCr: false, bareLf: false, longLine: false, flood: false, nul: false, tooManyHeaderLines: false, longHeaderField: false });
  });

  test(`DATA: empty message (${pieces})`, () => {
    const r = scanData('.\r\nQUIT\r\n', pieces);
    assert.equal(r.done, true);
    assert.equal(r.body, '');
    assert.equal(r.rest, 'QUIT\r\n');
  });

  test(`DATA: smuggling sequences never end data (${pieces})`, () => {
    const fakes = ['\n.\n', '\r.\r', '\r.\n', '\n.\r', '\n.\r\n', '\r\n.\n', '\r.\r\n', '\r\n.\r', '\r\n\x00.\r\n'];
    for (const fake of fakes) {
      const inner = 'MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@a.test>\r\nDATA\r\nSmuggled\r\n';
      const r = scanData(`Subject: a\r\n\r\nbody${fake}${inner}.\r\nNEXT\r\n`, pieces);
      assert.equal(r.done, true, JSON.stringify(fake));
      assert.equal(r.rest, 'NEXT\r\n', JSON.stringify(fake));
      assert.ok(r.body.includes('MAIL FROM:<evil@x.test>'), 'the inner commands are message content');
      if (fake.includes('\x00')) assert.ok(r.flags.nul);
      else assert.ok(r.flags.bareCr || r.flags.bareLf, JSON.stringify(fake));
    }
  });

  test(`DATA: CR CR LF . CR LF is a real end after a bare CR (${pieces})`, () => {
    const r = scanData('x\r\r\n.\r\nRSET\r\n', pieces);
    assert.equal(r.done, true);
    assert.equal(r.flags.bareCr, true);
    assert.equal(r.rest, 'RSET\r\n');
  });

  test(`DATA: over-long line flagged (${pieces})`, () => {
    assert.equal(scanData('a'.repeat(998) + '\r\n.\r\n', pieces).flags.longLine, false);
    assert.equal(scanData('a'.repeat(999) + '\r\n.\r\n', pieces).flags.longLine, true);
  });

  test(`DATA: dot followed by bare CR keeps the CR (${pieces})`, () => {
    const r = scanData('.\rx\r\n.\r\n', pieces);
    assert.equal(r.body, '\rx\r\n');
    assert.equal(r.flags.bareCr, true);
  });
}

test('DATA: 1 MB without newline is a flood', () => {
  const s = new BodyScanner(true, { maxLineLength: 1000, floodLimit: 1024 * 1024 });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < 17; i++) s.scan(chunk);
  assert.equal(s.flags.flood, true);
});

test('BDAT mode: no dot handling, bare LF flagged, trailing CR flagged at end', () => {
  const s = new BodyScanner(false);
  const r = s.scan(Buffer.from('.\r\n.\r\nx\ny\r'));
  assert.equal(r.done, false);
  assert.equal(Buffer.concat(r.body).toString(), '.\r\n.\r\nx\ny\r');
  assert.equal(s.flags.bareLf, true);
  s.end();
  assert.equal(s.flags.bareCr, true);
});

function lines(input: string, pieces: 'whole' | 'bytes', max = 512): LineEvent[] {
  const b = new InputBuffer(4096);
  const out: LineEvent[] = [];
  const buf = Buffer.from(input, 'latin1');
  const chunks = pieces === 'whole' ? [buf] : [...buf].map((x) => Buffer.from([x]));
  for (const c of chunks) {
    b.push(c);
    for (let e = b.takeLine(max); e; e = b.takeLine(max)) {
      out.push(e);
      if (e.type === 'flood') return out;
    }
  }
  return out;
}

for (const pieces of ['whole', 'bytes'] as const) {
  test(`command lines (${pieces})`, () => {
    const ev = lines(`EHLO a\r\nNOOP\nQUIT\r\n`, pieces);
    assert.deepEqual(
      ev.map((e) => (e.type === 'line' ? [e.line.toString(), e.crlf] : e.type)),
      [
        ['EHLO a', true],
        ['NOOP', false],
        ['QUIT', true],
      ],
    );
  });

  test(`command line over 512 octets is skipped (${pieces})`, () => {
    const ok = 'N'.repeat(510);
    const ev = lines(`${ok}\r\n${'X'.repeat(511)}\r\nQUIT\r\n`, pieces);
    assert.deepEqual(
      ev.map((e) => (e.type === 'line' ? e.line.toString() : e.type)),
      [ok, 'too-long', 'QUIT'],
    );
  });

  test(`flood without newline (${pieces})`, () => {
    const ev = lines('A'.repeat(5000), pieces);
    assert.equal(ev.at(-1)?.type, 'flood');
  });
}

/** A small deterministic PRNG (tests must not be flaky). */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
}

test('property: DATA scanning gives the same result however the input is split', () => {
  const rand = rng(42);
  const alphabet = ['\r', '\n', '.', 'a', '\x00', '\r\n', '\r\n.', '\r\n.\r\n'];
  for (let round = 0; round < 300; round++) {
    let input = '';
    const len = 1 + Math.floor(rand() * 40);
    for (let i = 0; i < len; i++) input += alphabet[Math.floor(rand() * alphabet.length)];
    input += '\r\n.\r\nTAIL';
    const whole = scanData(input, 'whole');
    // random split
    const s = new BodyScanner(true);
    const buf = Buffer.from(input, 'latin1');
    const body: Buffer[] = [];
    let pos = 0;
    let done = false;
    let rest = '';
    while (pos < buf.length) {
      const n = 1 + Math.floor(rand() * 5);
      const piece = buf.subarray(pos, pos + n);
      pos += n;
      if (done) {
        rest += piece.toString('latin1');
        continue;
      }
      const r = s.scan(piece);
      body.push(...r.body);
      if (r.done) {
        done = true;
        rest += piece.subarray(r.consumed).toString('latin1');
      }
    }
    assert.equal(Buffer.concat(body).toString('latin1'), whole.body, JSON.stringify(input));
    assert.equal(rest, whole.rest, JSON.stringify(input));
    assert.deepEqual(s.flags, whole.flags, JSON.stringify(input));
    // The end of data is the first CR LF "." CR LF at a line start, and nothing else.
    const end = ('\r\n' + input).indexOf('\r\n.\r\n');
    assert.equal(whole.rest, input.slice(end + 3), JSON.stringify(input));
  }
});

/** Scans `input` (BDAT mode, or DATA with its end) in the given pieces with the given limits. */
function scanWith(input: Buffer, limits: ConstructorParameters<typeof BodyScanner>[1], mode: 'data' | 'bdat', pieces: 'whole' | 'bytes'): BodyScanner['flags'] {
  const s = new BodyScanner(mode === 'data', limits);
  const chunks = pieces === 'whole' ? [input] : [...input].map((b) => Buffer.from([b]));
  for (const c of chunks) if (s.scan(c).done) break;
  if (mode === 'bdat') s.end();
  return s.flags;
}

for (const pieces of ['whole', 'bytes'] as const) {
  test(`long lines: the limit is configurable and counts the CR LF (${pieces})`, () => {
    const at = Buffer.from(`Subject: x\r\n\r\n${'a'.repeat(4998)}\r\n.\r\n`);
    const over = Buffer.from(`Subject: x\r\n\r\n${'a'.repeat(4999)}\r\n.\r\n`);
    assert.equal(scanWith(at, { maxLineLength: 5000 }, 'data', pieces).longLine, false);
    assert.equal(scanWith(over, { maxLineLength: 5000 }, 'data', pieces).longLine, true);
    // the last line of a BDAT message, without CR LF, is measured at the end
    assert.equal(scanWith(Buffer.from(`S: x\r\n\r\n${'a'.repeat(5001)}`), { maxLineLength: 5000 }, 'bdat', pieces).longLine, true);
    assert.equal(scanWith(Buffer.from(`S: x\r\n\r\n${'a'.repeat(5000)}`), { maxLineLength: 5000 }, 'bdat', pieces).longLine, false);
  });
}

/** A header with `fields` fields of `lines` lines each (the first line and continuations), then a body. */
function header(fields: number, lines: number): string {
  let h = '';
  for (let f = 0; f < fields; f++) {
    h += `X-F${f}: v\r\n`;
    for (let l = 1; l < lines; l++) h += ' c\r\n';
  }
  return h;
}

for (const mode of ['data', 'bdat'] as const) {
  test(`header structure: lines per field and lines in the header are counted (${mode})`, () => {
    const end = mode === 'data' ? '.\r\n' : '';
    const limits = { maxHeaderLines: 20, maxHeaderFieldLines: 5 };
    const flags = (h: string): BodyScanner['flags'] => scanWith(Buffer.from(h + end), limits, mode, 'bytes');
    // exactly at the limits: 4 fields of 5 lines = 20 lines
    let f = flags(header(4, 5) + '\r\nbody\r\n');
    assert.equal(f.longHeaderField, false);
    assert.equal(f.tooManyHeaderLines, false);
    f = flags(header(1, 6) + '\r\nbody\r\n');
    assert.equal(f.longHeaderField, true, 'a field of 6 lines');
    assert.equal(f.tooManyHeaderLines, false);
    f = flags(header(21, 1) + '\r\nbody\r\n');
    assert.equal(f.tooManyHeaderLines, true, '21 header lines');
    assert.equal(f.longHeaderField, false);
    // body lines are not header lines, however many and however they start
    f = flags('Subject: x\r\n\r\n' + ' c\r\n'.repeat(100) + 'x\r\n'.repeat(100));
    assert.equal(f.tooManyHeaderLines || f.longHeaderField, false);
    // a dot-stuffed or empty-looking line in the header is a header line; WSP continuation runs reset per field
    f = flags('A: 1\r\n c\r\n c\r\n c\r\n c\r\nB: 2\r\n c\r\n c\r\n c\r\n c\r\n\r\n');
    assert.equal(f.longHeaderField, false);
    // a header without an empty line (no body): every line is a header line, the last one too
    assert.equal(flags(header(1, 6).slice(0, -2) + (mode === 'data' ? '\r\n' : '')).longHeaderField, true);
  });
}

test('header structure: 40,000 continuation lines are flagged at the default limits, quickly', () => {
  const input = Buffer.from('Subject: x\r\n' + ' a\r\n'.repeat(40_000) + '\r\nbody\r\n.\r\n');
  const started = performance.now();
  const f = scanWith(input, {}, 'data', 'whole');
  assert.equal(f.longHeaderField, true);
  assert.equal(f.tooManyHeaderLines, true);
  assert.ok(performance.now() - started < 2000);
});

test('property: the flags match their definitions on random input (long runs inside lines, any split)', () => {
  const rand = rng(7);
  const limits = { maxLineLength: 20, floodLimit: 50 };
  const pieces = ['\r', '\n', '\r\n', '\x00', 'a', 'word ', 'x'.repeat(15), 'y'.repeat(40)];
  for (let round = 0; round < 500; round++) {
    let input = '';
    const len = 1 + Math.floor(rand() * 12);
    for (let i = 0; i < len; i++) input += pieces[Math.floor(rand() * pieces.length)];
    const s = new BodyScanner(false, limits);
    const buf = Buffer.from(input, 'latin1');
    for (let pos = 0; pos < buf.length; ) {
      const n = 1 + Math.floor(rand() * 30);
      s.scan(buf.subarray(pos, pos + n));
      pos += n;
    }
    s.end();
    const lines = input.split('\r\n');
    const want = {
      nul: input.includes('\x00'),
      bareLf: /(^|[^\r])\n/.test(input),
      bareCr: /\r(?!\n)/.test(input),
      // RFC 5321 §4.5.3.1.6: a line counts its CR LF; the last one (no CR LF) counts what it has
      longLine: lines.some((l, i) => (i < lines.length - 1 ? l.length + 2 : l.length) > limits.maxLineLength),
      flood: input.split('\n').some((l) => l.length > limits.floodLimit),
    };
    const f = s.flags;
    assert.deepEqual({ nul: f.nul, bareLf: f.bareLf, bareCr: f.bareCr, longLine: f.longLine, flood: f.flood }, want, JSON.stringify(input));
  }
});
