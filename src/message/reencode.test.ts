import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { reencodeForRelay, QpEncoder, Base64Lines, foldHeaderLine, UnrelayableError, type MessageOpener } from './reencode.js';
import { parseMessage } from './parser.js';
import type { MimePart } from './types.js';

/** Opens an in-memory message (or a range), in chunks of `chunk` octets (1 = byte at a time). */
function opener(msg: Buffer, chunk = 7): MessageOpener {
  return (range) => {
    const b = msg.subarray(range?.start ?? 0, range?.end ?? msg.length);
    const parts: Buffer[] = [];
    for (let i = 0; i < b.length; i += chunk) parts.push(b.subarray(i, i + chunk));
    return Readable.from(parts);
  };
}

async function run(msg: string | Buffer, chunk = 7): Promise<Buffer | null> {
  const bytes = typeof msg === 'string' ? Buffer.from(msg, 'latin1') : msg;
  const r = await reencodeForRelay(opener(bytes, chunk));
  if (!r) return null;
  const out: Buffer[] = [];
  for await (const c of r.open()) out.push(c as Buffer);
  const all = Buffer.concat(out);
  assert.equal(all.length, r.size, 'the size announced is the size sent');
  for (const line of all.toString('latin1').split('\r\n')) assert.ok(line.length <= 998, `a line of ${line.length}`);
  return all;
}

/** An independent quoted-printable decoder (RFC 2045 §6.7). */
function qpDecode(s: string): Buffer {
  return Buffer.from(s.replace(/[ \t]+\r\n/g, '\r\n').replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
}

function decoded(raw: Buffer, p: MimePart): Buffer {
  const body = raw.subarray(p.bodyStart, p.bodyEnd).toString('latin1');
  if (p.encoding === 'QUOTED-PRINTABLE') return qpDecode(body);
  if (p.encoding === 'BASE64') return Buffer.from(body, 'base64');
  return Buffer.from(body, 'latin1');
}

test('a message without long lines is sent as it is', async () => {
  assert.equal(await run(`Subject: x\r\n\r\n${'a'.repeat(998)}\r\n`), null);
});

test('quoted-printable: any octets round-trip; lines within 76; "-" and "." never start a line; trailing white space encoded', () => {
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256;
  for (let k = 0; k < 50; k++) {
    const input = Buffer.from(Array.from({ length: 3000 }, () => (k % 2 ? rnd() : [0x20, 0x09, 0x2d, 0x2e, 0x3d, 0x0d, 0x0a, 0x61][rnd() % 8]!)));
    const enc = new QpEncoder();
    // byte at a time and whole give the same output
    const whole = Buffer.concat([enc.write(input), enc.end()]);
    const enc2 = new QpEncoder();
    const bytes = Buffer.concat([...[...input].map((b) => enc2.write(Buffer.from([b]))), enc2.end()]);
    assert.ok(whole.equals(bytes));
    const text = whole.toString('latin1');
    for (const line of text.split('\r\n')) {
      assert.ok(line.length <= 76, line);
      assert.ok(!/^[-.]/.test(line), line);
      assert.ok(!/[ \t]$/.test(line), 'trailing white space');
      assert.ok(/^[\x20-\x7e\t]*$/.test(line), 'only printable ASCII');
    }
    assert.ok(qpDecode(text).equals(input));
  }
});

test('base64 lines: 76 characters, decodes to the input; rewrapping keeps the content', () => {
  const input = Buffer.from(Array.from({ length: 5001 }, (_, i) => (i * 31) % 256));
  const e = new Base64Lines(false);
  const out = Buffer.concat([e.write(input.subarray(0, 100)), e.write(input.subarray(100)), e.end()]).toString('latin1');
  assert.ok(out.split('\r\n').every((l) => l.length <= 76));
  assert.ok(Buffer.from(out, 'base64').equals(input));
  const r = new Base64Lines(true);
  const one = input.toString('base64');
  const re = Buffer.concat([r.write(Buffer.from(one.slice(0, 333))), r.write(Buffer.from(one.slice(333))), r.end()]).toString('latin1');
  assert.ok(re.split('\r\n').every((l) => l.length <= 76));
  assert.ok(Buffer.from(re, 'base64').equals(input));
});

test('header folding: at white space, never a line of white space only; no white space: unrelayable', () => {
  const line = Buffer.from(`Subject: ${'ab '.repeat(1000)}`);
  const pieces = foldHeaderLine(line);
  assert.ok(pieces.length > 1);
  assert.ok(pieces.every((p) => p.length <= 998 && /\S/.test(p.toString())));
  assert.ok(pieces.slice(1).every((p) => p[0] === 0x20));
  assert.equal(Buffer.concat(pieces).toString(), line.toString());
  assert.throws(() => foldHeaderLine(Buffer.from(`Subject: ${'x'.repeat(2000)}`)), UnrelayableError);
  assert.throws(() => foldHeaderLine(Buffer.from(`Subject:${' '.repeat(1500)}${'x'.repeat(999)}`)), UnrelayableError);
});

for (const chunk of [1, 7, 65536]) {
  test(`a plain message (no MIME) gets quoted-printable and MIME-Version; the header stays (chunks of ${chunk})`, async () => {
    const body = `${'é'.repeat(10)}${'x'.repeat(3000)}  \r\n.dot\r\n-dash\r\n`;
    const msg = Buffer.from(`From: a@b.test\r\nContent-Transfer-Encoding: 8bit\r\nSubject: s\r\n\r\n${body}`, 'utf8');
    const out = (await run(msg, chunk))!;
    const s = parseMessage(out);
    assert.equal(s.root.encoding, 'QUOTED-PRINTABLE');
    const head = out.subarray(0, s.root.bodyStart).toString('latin1');
    assert.equal(head, 'From: a@b.test\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n');
    assert.ok(decoded(out, s.root).equals(Buffer.from(body, 'utf8')));
  });
}

test('multipart: only the parts with long lines change; nested message/rfc822 parts are reached; QP and base64 parts are re-wrapped', async () => {
  const qpLong = `${'a=3D'.repeat(400)}b`; // an already quoted-printable line of 1601 octets
  const b64Long = Buffer.alloc(3000, 0xab).toString('base64'); // one base64 line of 4000
  const innerLong = 'i'.repeat(2000);
  const msg = [
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary=outer',
    '',
    `${'p'.repeat(1500)}`,
    '--outer',
    'Content-Type: text/plain',
    '',
    'short and untouched',
    '--outer',
    'Content-Type: text/plain',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    qpLong,
    '--outer',
    'Content-Type: image/png',
    'Content-Transfer-Encoding: base64',
    '',
    b64Long,
    '--outer',
    'Content-Type: message/rfc822',
    '',
    'Subject: inner',
    'Content-Type: text/html',
    '',
    innerLong,
    '--outer--',
    `${'-'.repeat(10)}${'e'.repeat(1500)}`,
  ].join('\r\n');
  const out = (await run(msg))!;
  const s = parseMessage(out);
  const [plain, qp, png, rfc822] = s.root.children!;
  assert.equal(out.subarray(plain!.headerStart, plain!.bodyEnd).toString(), 'Content-Type: text/plain\r\n\r\nshort and untouched');
  assert.equal(qp!.encoding, 'QUOTED-PRINTABLE');
  assert.equal(decoded(out, qp!).toString('latin1'), qpDecode(qpLong).toString('latin1'));
  assert.equal(png!.encoding, 'BASE64');
  assert.ok(decoded(out, png!).equals(Buffer.alloc(3000, 0xab)));
  const inner = rfc822!.message!.root;
  assert.equal(inner.encoding, 'QUOTED-PRINTABLE');
  assert.equal(decoded(out, inner).toString(), innerLong);
  assert.match(out.subarray(inner.headerStart, inner.bodyStart).toString(), /^Subject: inner\r\nContent-Type: text\/html\r\nMIME-Version: 1\.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n$/);
  // the preamble and the epilogue are broken, none of their lines starts with "-" but the boundaries
  const text = out.toString('latin1');
  assert.ok(text.includes('p'.repeat(998) + '\r\n' + 'p'.repeat(502) + '\r\n--outer\r\n'));
  assert.equal(s.root.children!.length, 4);
});

test('what cannot be re-encoded is unrelayable, with a reason', async () => {
  await assert.rejects(run(`Subject: ${'x'.repeat(1200)}\r\n\r\nbody\r\n`), /Subject has a line over 998 octets that cannot be folded/);
  await assert.rejects(run(`Content-Transfer-Encoding: x-uuencode\r\n\r\n${'x'.repeat(1200)}\r\n`), /unknown transfer encoding \(X-UUENCODE\)/);
  await assert.rejects(run(`Content-Type: message/partial; id=1\r\n\r\n${'x'.repeat(1200)}\r\n`), UnrelayableError);
});
