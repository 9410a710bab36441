import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from './parser.js';
import {
  createTransferDecoder,
  decodeTransfer,
  decodedPartText,
  filterHeaderFields,
  findPart,
  headerText,
  leafParts,
  parseSection,
  partText,
  resolveSection,
} from './sections.js';

test('parseSection: the section-spec grammar (RFC 9051 §9)', () => {
  assert.deepEqual(parseSection(''), { part: [] });
  assert.deepEqual(parseSection('1.2'), { part: [1, 2] });
  assert.deepEqual(parseSection('header'), { part: [], text: 'HEADER' });
  assert.deepEqual(parseSection('TEXT'), { part: [], text: 'TEXT' });
  assert.deepEqual(parseSection('1.2.MIME'), { part: [1, 2], text: 'MIME' });
  assert.deepEqual(parseSection('3.HEADER'), { part: [3], text: 'HEADER' });
  assert.deepEqual(parseSection('HEADER.FIELDS (From "Subject" X-A)'), { part: [], text: 'HEADER.FIELDS', fields: ['From', 'Subject', 'X-A'] });
  assert.deepEqual(parseSection('2.HEADER.FIELDS.NOT (To)'), { part: [2], text: 'HEADER.FIELDS.NOT', fields: ['To'] });
  for (const bad of ['MIME', '0', '1.0', '1.', '.1', '1HEADER', 'HEADER.FIELDS', 'HEADER.FIELDS ()', 'TEXT (A)', 'BOGUS', '1.2.3.']) {
    assert.equal(parseSection(bad), null, bad);
  }
});

const NESTED = Buffer.from(
  [
    'From: outer@example.net',
    'Subject: outer',
    'Content-Type: multipart/mixed; boundary=o',
    '',
    '--o',
    'Content-Type: text/plain',
    '',
    'first',
    '--o',
    'Content-Type: message/rfc822',
    'X-Part: 2',
    '',
    'From: inner@example.net',
    'Subject: inner',
    'To: a@b,',
    ' c@d',
    'Content-Type: multipart/alternative; boundary=i',
    '',
    '--i',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'caf=E9 =',
    'soft',
    '--i',
    'Content-Type: text/html',
    'Content-Transfer-Encoding: base64',
    '',
    'PGI+aGk8L2I+',
    '--i--',
    '',
    '--o',
    'Content-Type: message/rfc822',
    '',
    'Subject: leaf inside',
    '',
    'leaf body',
    '--o--',
    '',
  ].join('\r\n'),
);

test('resolveSection: part numbers, MIME, HEADER and TEXT of enclosed messages (RFC 9051 §6.4.5)', () => {
  const s = parseMessage(NESTED);
  const get = (spec: string): string | null => {
    const r = resolveSection(s, spec);
    if (!r) return null;
    const b = NESTED.subarray(r.start, r.end);
    return (r.filter ? r.filter(b) : b).toString('latin1');
  };
  assert.equal(get(''), NESTED.toString('latin1'));
  assert.equal(get('HEADER'), 'From: outer@example.net\r\nSubject: outer\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n');
  assert.ok(get('TEXT')!.startsWith('--o\r\n'));
  assert.equal(get('1'), 'first');
  assert.equal(get('1.MIME'), 'Content-Type: text/plain\r\n\r\n');
  assert.equal(get('1.HEADER'), null); // not a message part
  assert.equal(get('1.1'), null); // a leaf has no sub-parts
  assert.equal(get('2.MIME'), 'Content-Type: message/rfc822\r\nX-Part: 2\r\n\r\n');
  assert.ok(get('2')!.startsWith('From: inner@example.net\r\n') && get('2')!.endsWith('--i--\r\n'));
  assert.ok(get('2.HEADER')!.startsWith('From: inner') && get('2.HEADER')!.endsWith('boundary=i\r\n\r\n'));
  assert.ok(get('2.TEXT')!.startsWith('--i\r\n') && get('2.TEXT')!.endsWith('--i--\r\n'));
  assert.equal(get('2.1'), 'caf=E9 =\r\nsoft');
  assert.equal(get('2.2'), 'PGI+aGk8L2I+');
  assert.equal(get('2.2.MIME'), 'Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n');
  assert.equal(get('2.3'), null);
  assert.equal(get('2.HEADER.FIELDS (to SUBJECT)'), 'Subject: inner\r\nTo: a@b,\r\n c@d\r\n\r\n');
  assert.equal(get('2.HEADER.FIELDS.NOT (To Subject Content-Type)'), 'From: inner@example.net\r\n\r\n');
  // Part 3 is a message/rfc822 whose message is not multipart: 3.1 is its body.
  assert.equal(get('3.1'), 'leaf body');
  assert.equal(get('3.HEADER'), 'Subject: leaf inside\r\n\r\n');
  assert.equal(get('3.TEXT'), 'leaf body');
  assert.equal(get('3.1.MIME'), 'Subject: leaf inside\r\n\r\n');
  assert.equal(get('3.2'), null);
  assert.equal(get('4'), null);
  assert.equal(findPart(s, [2, 1])!.subtype, 'plain');
});

test('resolveSection: a non-multipart message has only a part 1, its body', () => {
  const raw = Buffer.from('Subject: x\r\n\r\nhello\r\n');
  const s = parseMessage(raw);
  assert.deepEqual(resolveSection(s, '1'), { start: 14, end: raw.length });
  assert.deepEqual(resolveSection(s, '1.MIME'), { start: 0, end: 14 });
  assert.equal(resolveSection(s, '2'), null);
  assert.equal(resolveSection(s, '1.1'), null);
  assert.equal(resolveSection(s, 'MIME'), null);
  assert.equal(resolveSection(s, 'garbage'), null);
});

test('filterHeaderFields: case-insensitive names, folding, blank line only when present', () => {
  const h = Buffer.from('Received: a\r\n b\r\nSUBJECT: s\r\nX-Subject: no\r\nsubject : again\r\n\r\n');
  assert.equal(filterHeaderFields(h, ['Subject'], false).toString(), 'SUBJECT: s\r\nsubject : again\r\n\r\n');
  assert.equal(filterHeaderFields(h, ['subject'], true).toString(), 'Received: a\r\n b\r\nX-Subject: no\r\n\r\n');
  assert.equal(filterHeaderFields(h, ['none'], false).toString(), '\r\n');
  // RFC 9051 §6.4.5: no blank line when the message has none.
  assert.equal(filterHeaderFields(Buffer.from('A: 1\nB: 2\n'), ['b'], false).toString(), 'B: 2\n');
});

test('decodeTransfer: base64, quoted-printable, identity, unknown (RFC 2045 §6)', () => {
  assert.equal(decodeTransfer('BASE64', Buffer.from('aGVs\r\nbG8=\r\n'))!.toString(), 'hello');
  assert.equal(decodeTransfer('base64', Buffer.from('aGVsbG8'))!.toString(), 'hello'); // padding missing
  assert.equal(decodeTransfer('base64', Buffer.from('a G*V!s bG8 ='))!.toString(), 'hello');
  assert.equal(decodeTransfer('quoted-printable', Buffer.from('caf=E9 =\r\nsoft  \r\nx=3D=3d=ZZ=\r\n='))!.toString('latin1'), 'café soft\r\nx===ZZ=');
  assert.equal(decodeTransfer('quoted-printable', Buffer.from('a\nb'))!.toString(), 'a\r\nb');
  assert.equal(decodeTransfer('7bit', Buffer.from('as is\r\n'))!.toString(), 'as is\r\n');
  assert.equal(decodeTransfer('x-uuencode', Buffer.from('x')), null);
});

test('transfer decoders give the same octets fed in any chunks', () => {
  const bin = Buffer.alloc(3000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 131) & 0xff;
  const b64 = Buffer.from(bin.toString('base64').replace(/.{76}/g, '$&\r\n'));
  // RFC 2045 §6.7 rule 5: soft line breaks keep encoded lines at most 76 characters.
  let qp = '';
  let lineLen = 0;
  for (const b of bin) {
    const t = b >= 33 && b <= 126 && b !== 61 ? String.fromCharCode(b) : '=' + b.toString(16).toUpperCase().padStart(2, '0');
    if (lineLen + t.length > 72) {
      qp += '=\r\n';
      lineLen = 0;
    }
    qp += t;
    lineLen += t.length;
  }
  const qpBytes = Buffer.from(qp + ' \t\r\n');
  for (const [enc, data, want] of [
    ['base64', b64, bin],
    ['quoted-printable', qpBytes, Buffer.concat([bin, Buffer.from('\r\n')])],
  ] as const) {
    assert.deepEqual(decodeTransfer(enc, data), want, enc);
    for (const size of [1, 2, 3, 7, 64]) {
      const d = createTransferDecoder(enc)!;
      const parts: Buffer[] = [];
      for (let i = 0; i < data.length; i += size) parts.push(d.write(data.subarray(i, i + size)));
      parts.push(d.end());
      assert.deepEqual(Buffer.concat(parts), want, `${enc} in chunks of ${size}`);
    }
  }
  // A quoted-printable line that never ends is decoded as it comes, not held.
  const d = createTransferDecoder('quoted-printable')!;
  const out = d.write(Buffer.from('=41'.repeat(40_000)));
  assert.ok(out.length > 30_000);
  assert.equal(Buffer.concat([out, d.end()]).toString(), 'A'.repeat(40_000));
});

test('search text: decoded body parts and headers (RFC 9051 §6.4.4)', () => {
  const s = parseMessage(NESTED);
  assert.deepEqual(
    leafParts(s).map((p) => p.partNumber),
    ['1', '2.1', '2.2', '3.1'],
  );
  assert.equal(decodedPartText(findPart(s, [2, 1])!, NESTED), 'café soft');
  assert.equal(decodedPartText(findPart(s, [2, 2])!, NESTED), '<b>hi</b>');
  assert.equal(partText(s, NESTED), 'first\ncafé soft\n<b>hi</b>\nleaf body');
  const jp = Buffer.from('Subject: =?utf-8?b?6YWN6YGU44Gu44GK55+l44KJ44Gb?=\r\nFrom: =?UTF-8?Q?J=C3=BCrgen?= <j@x>\r\n\r\n');
  assert.deepEqual(headerText(parseMessage(jp), jp), [
    { name: 'Subject', value: '配達のお知らせ' },
    { name: 'From', value: 'Jürgen <j@x>' },
  ]);
});

test('a message composed by nodemailer: structure, decoded attachment, filenames', async () => {
  const { default: MailComposer } = await import('nodemailer/lib/mail-composer/index.js');
  const blob = Buffer.alloc(5000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919) & 0xff;
  const raw = await new MailComposer({
    from: '"Zoë Ünïcode" <zoe@example.org>',
    to: 'a@example.net, Group: b@example.net, c@example.net;',
    subject: 'Grüße ' + 'long '.repeat(30),
    text: 'plain text body\nwith two lines and ümlauts',
    html: '<p>html <img src="cid:logo@x"></p>',
    attachments: [
      { filename: 'données été.bin', content: blob },
      { filename: 'logo.png', content: Buffer.from('png-bytes'), cid: 'logo@x' },
    ],
  })
    .compile()
    .build();
  const s = parseMessage(raw);
  assert.deepEqual(parseMessage(Uint8Array.from(raw)), s);
  assert.equal(s.root.type, 'multipart');
  const leaves = leafParts(s);
  assert.deepEqual(
    leaves.map((p) => `${p.type}/${p.subtype}`),
    ['text/plain', 'text/html', 'image/png', 'application/octet-stream'],
  );
  assert.equal(decodedPartText(leaves[0]!, raw), 'plain text body\r\nwith two lines and ümlauts');
  const att = leaves[3]!;
  assert.equal(att.disposition!.type, 'attachment');
  assert.equal(att.disposition!.params['filename'], 'données été.bin');
  assert.deepEqual(decodeTransfer(att.encoding, raw.subarray(att.bodyStart, att.bodyEnd)), blob);
  assert.equal(leaves[2]!.id, '<logo@x>');
  const to = s.envelope.to!;
  assert.deepEqual(
    to.map((a) => [a.mailbox, a.host]),
    [
      ['a', 'example.net'],
      ['Group', null],
      ['b', 'example.net'],
      ['c', 'example.net'],
      [null, null],
    ],
  );
  assert.match(headerText(s, raw).find((f) => f.name === 'Subject')!.value, /^Grüße long long/);
  assert.equal(s.hasUtf8Headers, false);
});
