import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createMessageParser, parseMessage } from './parser.js';
import type { MessageStructure, MimePart } from './types.js';

const CORPUS = join(import.meta.dirname, 'testdata', 'mime');
const names = readdirSync(join(CORPUS, 'eml')).filter((n) => n.endsWith('.eml')).sort();
const load = (name: string): Buffer => readFileSync(join(CORPUS, 'eml', name));

function parseChunks(bytes: Uint8Array, sizes: (i: number) => number): MessageStructure {
  const p = createMessageParser();
  let off = 0;
  let i = 0;
  while (off < bytes.length) {
    const n = Math.max(1, sizes(i++));
    p.write(bytes.subarray(off, off + n));
    off += n;
  }
  return p.end();
}

function allParts(root: MimePart): MimePart[] {
  const out: MimePart[] = [];
  const work = [root];
  while (work.length) {
    const p = work.pop()!;
    out.push(p);
    if (p.message) work.push(p.message.root);
    if (p.children) work.push(...p.children);
  }
  return out;
}

test('corpus: whole, one byte at a time and in odd chunks give the same structure', () => {
  for (const name of names) {
    const raw = load(name);
    const whole = parseMessage(raw);
    assert.deepEqual(parseChunks(raw, () => 1), whole, `${name}: one byte at a time`);
    assert.deepEqual(parseChunks(raw, (i) => [2, 3, 5, 7, 11, 13][i % 6]!), whole, `${name}: odd chunks`);
    assert.equal(whole.size, raw.length, name);
    for (const p of allParts(whole.root)) {
      assert.ok(p.headerStart <= p.bodyStart && p.bodyStart <= p.bodyEnd && p.bodyEnd <= raw.length, `${name} ${p.partNumber}: offsets in order`);
      assert.equal(p.size, p.bodyEnd - p.bodyStart);
    }
  }
});

test('LF-only input gives the same tree, with offsets of the LF form', () => {
  for (const name of names) {
    const crlf = load(name);
    const lf = Buffer.from(crlf.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    const a = parseMessage(crlf);
    const b = parseChunks(lf, () => 1);
    assert.deepEqual(b, parseMessage(lf), name);
    const pa = allParts(a.root);
    const pb = allParts(b.root);
    assert.equal(pb.length, pa.length, name);
    for (let i = 0; i < pa.length; i++) {
      assert.equal(pb[i]!.partNumber, pa[i]!.partNumber, name);
      assert.equal(pb[i]!.type + '/' + pb[i]!.subtype, pa[i]!.type + '/' + pa[i]!.subtype, name);
      assert.equal(pb[i]!.lines, pa[i]!.lines, `${name} ${pa[i]!.partNumber}: lines`);
      const bodyA = crlf.subarray(pa[i]!.bodyStart, pa[i]!.bodyEnd).toString('latin1').replace(/\r\n/g, '\n');
      assert.equal(lf.subarray(pb[i]!.bodyStart, pb[i]!.bodyEnd).toString('latin1'), bodyA, `${name} ${pa[i]!.partNumber}: body`);
    }
    assert.deepEqual(b.envelope, a.envelope, name);
  }
});

test('offsets: header and body ranges of a multipart', () => {
  const raw = Buffer.from(
    'Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\n\r\ntwo\r\n\r\n--b--\r\nepilogue\r\n',
  );
  const s = parseMessage(raw);
  const [c1, c2] = s.root.children!;
  const text = (a: number, b: number): string => raw.subarray(a, b).toString();
  assert.equal(text(s.root.headerStart, s.root.bodyStart), 'Content-Type: multipart/mixed; boundary=b\r\n\r\n');
  assert.equal(text(s.root.bodyStart, s.root.bodyEnd), raw.subarray(s.root.bodyStart).toString());
  assert.equal(text(c1!.headerStart, c1!.bodyStart), 'Content-Type: text/plain\r\n\r\n');
  // RFC 2046 §5.1.1: the CRLF before the delimiter belongs to the delimiter.
  assert.equal(text(c1!.bodyStart, c1!.bodyEnd), 'one');
  assert.equal(text(c2!.headerStart, c2!.bodyStart), '\r\n');
  assert.equal(text(c2!.bodyStart, c2!.bodyEnd), 'two\r\n');
  assert.equal(c2!.lines, 1);
  assert.equal(c1!.partNumber, '1');
  assert.equal(c2!.partNumber, '2');
});

test('boundary delimiters: transport padding, prefixes of other boundaries, close delimiter without CRLF', () => {
  const raw = Buffer.from(
    'Content-Type: multipart/mixed; boundary="L1"\r\n\r\n--L1 \t\r\nContent-Type: multipart/alternative; boundary="L10"\r\n\r\n--L10\r\n\r\na\r\n--L1x\r\n--L10--\r\n--L1--',
  );
  const s = parseMessage(raw);
  const outer = s.root.children!;
  assert.equal(outer.length, 1);
  const inner = outer[0]!.children!;
  assert.equal(inner.length, 1);
  // "--L1x" is not a delimiter of L1 (RFC 2046 §5.1.1: only LWSP may follow the boundary).
  assert.equal(raw.subarray(inner[0]!.bodyStart, inner[0]!.bodyEnd).toString(), 'a\r\n--L1x');
  assert.equal(outer[0]!.bodyEnd, raw.length - '\r\n--L1--'.length);
  assert.equal(s.root.bodyEnd, raw.length);
});

test('an outer boundary closes the inner parts (RFC 2046 §5.1.2)', () => {
  const raw = Buffer.from(
    'Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\ninner, never closed\r\n--o\r\n\r\nsecond\r\n--o--\r\n',
  );
  const s = parseMessage(raw);
  const [a, b] = s.root.children!;
  assert.equal(a!.children!.length, 1);
  assert.equal(raw.subarray(a!.children![0]!.bodyStart, a!.children![0]!.bodyEnd).toString(), 'inner, never closed');
  assert.equal(raw.subarray(b!.bodyStart, b!.bodyEnd).toString(), 'second');
});

test('message/rfc822: enclosed envelope and structure, part numbers (RFC 9051 §6.4.5)', () => {
  const s = parseMessage(load('06-forwarded-rfc822.eml'));
  const fwd = s.root.children![1]!;
  assert.equal(fwd.type + '/' + fwd.subtype, 'message/rfc822');
  assert.equal(fwd.message!.envelope.subject, 'original');
  const inner = fwd.message!.root;
  assert.equal(inner.headerStart, fwd.bodyStart);
  assert.deepEqual(inner.children!.map((c) => c.partNumber), ['2.1', '2.2']);
  const top = parseMessage(load('22-8bit-rfc822-inside.eml'));
  assert.equal(top.root.message!.root.partNumber, '1.1');
  assert.equal(top.root.message!.root.encoding, '8BIT');
  assert.equal(top.has8bit, true);
  assert.equal(top.hasUtf8Headers, false);
});

test('message/global is parsed like message/rfc822 (RFC 6532 §3.7)', () => {
  const raw = Buffer.from('Content-Type: message/global\r\n\r\nSubject: caf\xc3\xa9\r\n\r\nbody\r\n', 'latin1');
  const s = parseMessage(raw);
  assert.equal(s.root.message!.envelope.subject, 'café');
  assert.equal(s.hasUtf8Headers, true);
});

test('missing and empty boundaries, header without body, garbage', () => {
  const noBoundary = parseMessage(load('17-no-boundary-param.eml'));
  assert.deepEqual(noBoundary.root.children, []);
  const headerOnly = parseMessage(load('10-header-only.eml'));
  assert.equal(headerOnly.root.bodyStart, headerOnly.size);
  assert.equal(headerOnly.root.size, 0);
  const empty = parseMessage(new Uint8Array(0));
  assert.equal(empty.size, 0);
  assert.equal(empty.root.type, 'text');
  // A part whose header runs into the next delimiter has an empty body.
  const raw = Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n--b\r\n\r\nx\r\n--b--\r\n');
  const s = parseMessage(raw);
  assert.equal(s.root.children!.length, 2);
  assert.equal(s.root.children![0]!.subtype, 'html');
  assert.equal(s.root.children![0]!.size, 0);
  // Random bytes never throw.
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = ['\r\n', '\n', '--b', '--b--', 'Content-Type: multipart/mixed; boundary=b', 'Content-Type: message/rfc822', ':', ' ', 'x', '\r'];
  for (let k = 0; k < 200; k++) {
    let m = '';
    for (let j = 0; j < 60; j++) m += alphabet[Math.floor(rnd() * alphabet.length)];
    const bytes = Buffer.from(m);
    const whole = parseMessage(bytes);
    assert.deepEqual(parseChunks(bytes, () => 1), whole);
  }
});

test('MIME bomb: 1,000-deep nesting parses fast, bounded and truncated', () => {
  let head = '';
  let tail = '';
  for (let i = 0; i < 1000; i++) {
    head += `Content-Type: multipart/mixed; boundary="d${i}"\r\n\r\n--d${i}\r\n`;
    tail = `\r\n--d${i}--` + tail;
  }
  const raw = Buffer.from(head + 'Content-Type: text/plain\r\n\r\nbottom' + tail + '\r\n');
  const t0 = performance.now();
  const s = parseMessage(raw);
  assert.ok(performance.now() - t0 < 10_000); // generous: CI is shared; quadratic behaviour would take minutes
  assert.equal(s.truncated, true);
  let depth = 0;
  let p: MimePart = s.root;
  while (p.children && p.children.length) {
    p = p.children[0]!;
    depth++;
  }
  assert.equal(depth, 100);
  assert.equal(p.truncated, true);
  // The cut part keeps its whole body, up to the delimiter of its parent.
  assert.equal(p.bodyEnd, raw.indexOf('\r\n--d99--'));
  assert.equal(s.root.bodyEnd, raw.length);
  // Same with enclosed messages instead of multiparts.
  const nested = Buffer.from('Content-Type: message/rfc822\r\n\r\n'.repeat(1000) + 'x\r\n');
  const m = parseMessage(nested);
  assert.equal(m.truncated, true);
  assert.deepEqual(parseChunks(nested, (i) => 1 + (i % 97)), m);
});

test('MIME bomb: 100,000 parts stop at the part limit', () => {
  const raw = Buffer.from('Content-Type: multipart/mixed; boundary=x\r\n\r\n' + '--x\r\n\r\n.\r\n'.repeat(100_000) + '--x--\r\n');
  const t0 = performance.now();
  const s = parseMessage(raw);
  assert.ok(performance.now() - t0 < 10_000);
  assert.equal(s.truncated, true);
  assert.equal(s.root.truncated, true);
  assert.equal(s.root.children!.length, 9_999);
  assert.equal(s.root.bodyEnd, raw.length);
});

test('header blocks are bounded', () => {
  const raw = Buffer.from('Subject: ' + 'x'.repeat(200_000) + '\r\nFrom: a@b\r\n\r\nbody\r\n');
  const s = parseMessage(raw);
  assert.equal(s.truncated, true);
  assert.equal(raw.subarray(s.root.bodyStart).toString(), 'body\r\n');
  assert.equal(s.envelope.subject!.length, 64 * 1024 - 'Subject: '.length);
});

test('a huge header keeps the fields the structure needs, wherever they are', () => {
  const received = ('Received: from relay.example by mx.example; ' + 'x'.repeat(1000) + '\r\n').repeat(200);
  const raw = Buffer.from(received + 'Subject: late\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\nin\r\n--z--\r\n');
  const s = parseMessage(raw);
  assert.equal(s.truncated, undefined);
  assert.equal(s.envelope.subject, 'late');
  assert.equal(s.root.type, 'multipart');
  assert.equal(s.root.headerStart, 0);
  assert.equal(s.root.bodyStart, raw.indexOf('--z'));
  assert.equal(s.root.children!.length, 1);
  assert.deepEqual(parseChunks(raw, (i) => 1 + ((i * 7) % 300)), s);
});

test('text parts get the default charset (RFC 2046 §4.1.2) after their own parameters', () => {
  const s = parseMessage(Buffer.from('Content-Type: text/plain; format=flowed\r\n\r\nx'));
  assert.deepEqual(Object.entries(s.root.params), [
    ['format', 'flowed'],
    ['charset', 'us-ascii'],
  ]);
  const bad = parseMessage(Buffer.from('Content-Type: ???; charset=utf-8\r\n\r\nx'));
  assert.deepEqual([bad.root.type, bad.root.subtype, bad.root.params], ['text', 'plain', { charset: 'utf-8' }]);
  const img = parseMessage(Buffer.from('Content-Type: image/png\r\nContent-Transfer-Encoding: Base64 (comment)\r\n\r\nx'));
  assert.deepEqual([img.root.params, img.root.encoding], [{}, 'BASE64']);
});

test('MIME bomb: many dash lines at full depth cost one lookup each', () => {
  let head = '';
  let tail = '';
  for (let i = 0; i < 100; i++) {
    const b = `b${String(i).padStart(3, '0')}`;
    head += `Content-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\n`;
    tail = `\r\n--${b}--` + tail;
  }
  const raw = Buffer.from(head + '\r\n' + '--c000\r\n--b00\r\n'.repeat(100_000) + tail.slice(2) + '\r\n');
  const t0 = performance.now();
  const s = parseMessage(raw);
  assert.ok(performance.now() - t0 < 10_000);
  let p = s.root;
  let depth = 0;
  while (p.children?.length) {
    assert.equal(p.children.length, 1);
    p = p.children[0]!;
    depth++;
  }
  assert.equal(depth, 100);
  assert.equal(raw.subarray(p.bodyStart, p.bodyEnd).toString(), '--c000\r\n--b00\r\n'.repeat(100_000).slice(0, -2));
});

// ---- generated trees: the parser must find exactly the offsets the generator wrote ----

interface Expect {
  headerStart: number;
  bodyStart: number;
  bodyEnd: number;
  type: string;
  children?: Expect[];
  message?: Expect;
}

function generate(seed: number, eol: string): { raw: Buffer; root: Expect } {
  let x = seed;
  const rnd = (n: number): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % n;
  };
  let out = '';
  let boundaryId = 0;
  const words = ['alpha', '--not-a-boundary', '', 'x'.repeat(90), 'Content-Type: fake/header', '-', '--'];
  function entity(depth: number, inDigest: boolean): Expect {
    const headerStart = out.length;
    const kind = depth >= 4 ? 0 : rnd(4); // 0 leaf, 1 multipart, 2 message, 3 leaf
    if (kind === 1) {
      const b = `=_b${boundaryId++}_${rnd(1000)}`;
      const sub = rnd(3) === 0 ? 'digest' : 'mixed';
      out += `Content-Type: multipart/${sub}; boundary="${b}"${eol}X-Pad: ${rnd(100)}${eol}${eol}`;
      const bodyStart = out.length;
      if (rnd(2)) out += `preamble${eol}`;
      const n = 1 + rnd(3);
      const children: Expect[] = [];
      for (let i = 0; i < n; i++) {
        out += `--${b}${rnd(3) === 0 ? ' \t' : ''}${eol}`;
        const child = entity(depth + 1, sub === 'digest');
        children.push(child);
        if (child.type === 'multipart' && rnd(2)) {
          // "--inner--CRLF--outer": RFC 2046 §5.1.1, the one CRLF belongs to the outer delimiter.
          child.bodyEnd -= eol.length;
        } else out += eol;
      }
      out += `--${b}--${eol}`;
      if (rnd(2)) out += `epilogue${eol}`;
      const bodyEnd = out.length;
      return { headerStart, bodyStart, bodyEnd, type: 'multipart', children };
    }
    if (kind === 2 || (inDigest && rnd(2) === 0)) {
      out += inDigest && rnd(2) ? eol : `Content-Type: message/rfc822${eol}${eol}`;
      const bodyStart = out.length;
      const message = entity(depth + 1, false);
      return { headerStart, bodyStart, bodyEnd: out.length, type: 'message', message };
    }
    out += `Content-Type: ${inDigest ? 'text/plain' : rnd(2) ? 'text/plain' : 'application/octet-stream'}${eol}${eol}`;
    const bodyStart = out.length;
    const lines = rnd(4);
    for (let i = 0; i < lines; i++) out += words[rnd(words.length)] + (i < lines - 1 ? eol : '');
    return { headerStart, bodyStart, bodyEnd: out.length, type: 'leaf' };
  }
  const root = entity(0, false);
  return { raw: Buffer.from(out, 'latin1'), root };
}

function check(e: Expect, p: MimePart, where: string): void {
  assert.equal(p.headerStart, e.headerStart, `${where}: headerStart`);
  assert.equal(p.bodyStart, e.bodyStart, `${where}: bodyStart`);
  assert.equal(p.bodyEnd, e.bodyEnd, `${where}: bodyEnd`);
  if (e.children) {
    assert.equal(p.children!.length, e.children.length, `${where}: children`);
    e.children.forEach((c, i) => check(c, p.children![i]!, `${where}.${i + 1}`));
  }
  if (e.message) check(e.message, p.message!.root, `${where}/msg`);
}

test('generated MIME trees: offsets exactly as written, CRLF and LF, any chunking', () => {
  for (let seed = 1; seed <= 150; seed++) {
    for (const eol of ['\r\n', '\n']) {
      const { raw, root } = generate(seed, eol);
      const s = parseMessage(raw);
      check(root, s.root, `seed ${seed}${eol === '\n' ? ' LF' : ''}`);
      assert.deepEqual(parseChunks(raw, (i) => 1 + ((i * 13 + seed) % 17)), s, `seed ${seed}: chunked`);
    }
  }
});
