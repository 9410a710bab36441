// The lean DKIM signer (dkim-relaxed.ts) against mailauth: the same body hash as mailauth's
// signer on random bodies, signatures that mailauth's verifier accepts on random headers, and
// mailauth still signing what the lean signer does not take.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { generateKeyPairSync, randomInt } from 'node:crypto';
import { dkimSign, dkimVerify, type DKIMSignOptions } from 'mailauth';
import { tableResolver } from '../../test/helpers/table-resolver.js';
import { relaxedBody, relaxedHeader, signRelaxed, splitMessage } from './dkim-relaxed.js';
import { dkimSignatures, SIGNED_HEADERS } from './dkim-sign.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
const ed = generateKeyPairSync('ed25519');
const pem = (k: typeof rsa.privateKey) => k.export({ type: 'pkcs8', format: 'pem' }).toString();
const specs = [
  { domain: 'a.test', selector: 'r1', privateKey: pem(rsa.privateKey), algorithm: 'rsa-sha256' as const },
  { domain: 'a.test', selector: 'e1', privateKey: pem(ed.privateKey), algorithm: 'ed25519-sha256' as const },
];
const records = {
  'TXT r1._domainkey.a.test': `v=DKIM1; k=rsa; p=${rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`,
  // RFC 8463 §4.2: the raw 32-octet key (the last 32 octets of its SPKI form)
  'TXT e1._domainkey.a.test': `v=DKIM1; k=ed25519; p=${ed.publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('base64')}`,
};
const signTime = new Date('2026-11-30T12:00:00Z');

/** JSON with the octets above 0x7e escaped (an NBSP shows as \\u00a0). */
const show = (s: string) => JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function pick<T>(xs: readonly T[]): T {
  return xs[randomInt(xs.length)]!;
}

/** A random body: words, runs of SP and HTAB anywhere, empty and blank lines (also at the end), with or without a last CRLF. */
function randomBody(): string {
  const lines: string[] = [];
  for (let i = randomInt(0, 12); i > 0; i--) {
    const parts: string[] = [];
    for (let j = randomInt(0, 6); j > 0; j--) parts.push(pick(['a', 'word', '.', 'x\u00e9', '\u00a0', '=20', '--b']), pick(['', ' ', '  ', '\t', ' \t ', '']));
    lines.push(parts.join(''));
  }
  const end = pick(['', '\r\n', '\r\n\r\n', ' \r\n\t\r\n']);
  // Without a last CRLF, mailauth 4.13 keeps one SP at the end of the last line (RFC 6376 §3.4.4
  // says to ignore it, as the lean signer does: tested below), so that case is left out here.
  return end ? lines.join('\r\n') + end : lines.join('\r\n').replace(/[ \t]+$/, '');
}

/** mailauth's bh= for the message (its signer, relaxed/relaxed). */
async function mailauthBodyHash(message: Buffer): Promise<string> {
  const r = await dkimSign(message, {
    canonicalization: 'relaxed/relaxed',
    signTime,
    signatureData: [{ signingDomain: 'a.test', selector: 'r1', privateKey: specs[0]!.privateKey, algorithm: 'rsa-sha256' }],
  } as unknown as DKIMSignOptions);
  return /bh=([^;]+);/.exec(r.signatures.replace(/\r\n\s*/g, ''))![1]!;
}

function bodyHashOf(signature: string): string {
  return /bh=([^;]+);/.exec(signature.replace(/\r\n\s*/g, ''))![1]!;
}

async function verify(message: Buffer): Promise<string[]> {
  const r = await dkimVerify(message, { resolver: tableResolver(records, []) } as never);
  return (r.results as Array<{ status: { result: string }; signingDomain: string; selector: string }>).map((x) => `${x.selector}:${x.status.result}`);
}

describe('lean DKIM signer (relaxed/relaxed)', () => {
  it('computes the body hash mailauth computes, on random bodies', async () => {
    for (let i = 0; i < 300; i++) {
      const body = randomBody();
      const message = Buffer.from(`From: alice@a.test\r\nSubject: t\r\n\r\n${body}`, 'latin1');
      const lean = await signRelaxed(message, specs.slice(0, 1), SIGNED_HEADERS, signTime);
      assert.ok(lean, `taken: ${show(body)}`);
      assert.equal(bodyHashOf(lean), await mailauthBodyHash(message), `body ${show(body)}`);
    }
  });

  it('signs so that mailauth verifies both signatures, on random header fields (folded, odd spacing, repeated fields, any case)', async () => {
    for (let i = 0; i < 60; i++) {
      const fields = [
        'Received: from x by y;\r\n\tMon, 30 Nov 2026 12:00:00 +0000',
        pick(['From: Alice <alice@a.test>', 'FROM :   alice@a.test  ', 'from:\talice@a.test\r\n (Alice)']),
        pick(['To: bob@b.test', 'To: bob@b.test,\r\n   carol@c.test', 'tO:  bob@b.test \t']),
        // the last: raw UTF-8 ("café", SMTPUTF8), one latin1 char per octet
        pick(['Subject: hello   world', 'Subject:\r\n folded   subject ', 'Subject: =?utf-8?q?h=C3=A9?=', 'Subject: caf\u00c3\u00a9  au lait']),
        pick(['', 'Cc: dave@d.test\r\nCc: erin@e.test']),
        'X-Unsigned: this is   not signed',
        pick(['', 'Message-ID: <1@a.test>']),
        'Date: Mon, 30 Nov 2026 12:00:00 +0000',
      ].filter(Boolean);
      const message = Buffer.from(`${fields.join('\r\n')}\r\n\r\n${randomBody()}`, 'latin1');
      const sig = await signRelaxed(message, specs, SIGNED_HEADERS, signTime);
      assert.ok(sig);
      assert.deepEqual(await verify(Buffer.concat([Buffer.from(sig, 'latin1'), message])), ['r1:pass', 'e1:pass'], sig);
      // every line of the field stays short (RFC 5322 §2.1.1: 78 recommended)
      for (const line of sig.split('\r\n')) assert.ok(line.length <= 78, line);
    }
  });

  it('a changed signed field or body no longer verifies', async () => {
    const message = Buffer.from('From: alice@a.test\r\nSubject: hi\r\n\r\nbody\r\n');
    const sig = (await signRelaxed(message, specs, SIGNED_HEADERS, signTime))!;
    const changed = Buffer.from(sig + 'From: alice@a.test\r\nSubject: hI\r\n\r\nbody\r\n');
    assert.deepEqual(await verify(changed), ['r1:fail', 'e1:fail']);
    const body = Buffer.from(sig + 'From: alice@a.test\r\nSubject: hi\r\n\r\nbody!\r\n');
    const results = await verify(body);
    assert.equal(results.length, 2);
    assert.ok(results.every((r) => !r.endsWith(':pass')), results.join(' '));
  });

  it('RFC 6376 §3.4.4: WSP runs become one SP, WSP at line ends and empty lines at the end go, a CRLF ends a non-empty body, an empty body stays empty', () => {
    assert.equal(relaxedBody(Buffer.from(' a \t b\t\r\n\r\n \r\n'))!.toString(), ' a b\r\n');
    assert.equal(relaxedBody(Buffer.from('a'))!.toString(), 'a\r\n');
    assert.equal(relaxedBody(Buffer.from('a\r\n b '))!.toString(), 'a\r\n b\r\n');
    assert.equal(relaxedBody(Buffer.from('\r\n\r\n'))!.toString(), '');
    assert.equal(relaxedBody(Buffer.alloc(0))!.toString(), '');
  });

  it('RFC 6376 §3.4.2: WSP is SP and HTAB only; an octet 0xA0 in a field is not whitespace', () => {
    assert.equal(relaxedHeader('SUBJECT \t:  a \r\n\t b\u00a0 c  '), 'subject:a b\u00a0 c');
  });

  it('leaves bare CR or LF and lines that are not fields to mailauth (null), which still signs them', async () => {
    for (const m of ['From: a@a.test\nSubject: x\r\n\r\nbody\r\n', 'From: a@a.test\r\n\r\nbo\ndy\r\n', 'From: a@a.test\r\n\r\nbo\rdy\r\n', 'From: a@a.test\r\nnot a field\r\n\r\nbody\r\n', 'X-Other: x\r\n\r\nno signed field\r\n']) {
      assert.equal(await signRelaxed(Buffer.from(m), specs, SIGNED_HEADERS, signTime), null, JSON.stringify(m));
    }
    const idn = Buffer.from('From: a@a.test\r\n\r\nbody\r\n');
    assert.equal(await signRelaxed(idn, [{ ...specs[0]!, domain: 'b\u00fccher.test' }], SIGNED_HEADERS, signTime), null, 'a U-label d= goes to mailauth');
    const odd = Buffer.from('From: a@a.test\r\n\r\nbo\ndy\r\n');
    assert.match(await dkimSignatures(odd, specs.slice(0, 1), { signTime }), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=a\.test; h=From;\r\n q=dns\/txt; s=r1;/);
  });

  it('makes each signature on the thread pool (crypto.sign with a callback), never on the event loop', async () => {
    const calls: boolean[] = [];
    const sign = crypto.sign;
    crypto.sign = ((...args: Parameters<typeof crypto.sign>) => {
      calls.push(typeof args[3] === 'function');
      return (sign as (...a: unknown[]) => unknown)(...args);
    }) as typeof crypto.sign;
    try {
      const sig = await signRelaxed(Buffer.from('From: alice@a.test\r\nSubject: hi\r\n\r\nbody\r\n'), specs, SIGNED_HEADERS, signTime);
      assert.ok(sig);
    } finally {
      crypto.sign = sign;
    }
    // one RSA and one Ed25519 signature, both given a callback
    assert.deepEqual(calls, [true, true]);
  });

  it('a signing error names the selector: a key of the wrong type, or the thread pool reporting a failure', async () => {
    const message = Buffer.from('From: alice@a.test\r\nSubject: hi\r\n\r\nbody\r\n');
    await assert.rejects(signRelaxed(message, [{ ...specs[0]!, privateKey: specs[1]!.privateKey }], SIGNED_HEADERS, signTime), /^Error: DKIM signing failed \(r1\): Invalid key type: "ed25519" \(expecting "rsa"\)/);
    const sign = crypto.sign;
    crypto.sign = ((...args: unknown[]) => {
      const done = args[3];
      if (typeof done !== 'function') throw new Error('called without a callback');
      queueMicrotask(() => (done as (err: Error | null) => void)(new Error('boom from the pool')));
    }) as typeof crypto.sign;
    try {
      await assert.rejects(signRelaxed(message, specs.slice(1), SIGNED_HEADERS, signTime), /^Error: DKIM signing failed \(e1\): boom from the pool/);
    } finally {
      crypto.sign = sign;
    }
  });

  it('dkimSignatures signs a message in memory with the lean signer', async () => {
    const message = Buffer.from('From: alice@a.test\r\nSubject: hi\r\n\r\nbody\r\n');
    assert.equal(await dkimSignatures(message, specs, { signTime }), await signRelaxed(message, specs, SIGNED_HEADERS, signTime));
  });

  it('splits header and body at the first empty line; no empty line: all header; a leading CRLF: no header', () => {
    assert.deepEqual(splitMessage(Buffer.from('A: 1\r\n\r\nB: 2\r\n\r\n')), { header: 'A: 1\r\n', body: Buffer.from('B: 2\r\n\r\n') });
    assert.deepEqual(splitMessage(Buffer.from('A: 1\r\n')), { header: 'A: 1\r\n', body: Buffer.alloc(0) });
    assert.deepEqual(splitMessage(Buffer.from('\r\nbody')), { header: '', body: Buffer.from('body') });
  });
});
