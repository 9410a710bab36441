// A small unsigned message is verified on the calling thread (no worker round trip), with the same
// outcome as in a worker; a signed one, an ARC-sealed one or a long header still goes to the worker.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { tableResolver } from '../../test/helpers/table-resolver.js';
import { silentLogger } from '../log/logger.js';
import { createWorkerPool, type WorkerPool } from '../workers/pool.js';
import { readdirSync, readFileSync } from 'node:fs';
import { dkimVerify } from 'mailauth';
import { authenticateMessage, SMALL_HEADER_LINES, smallUnsignedHeaderEnd, unsignedDkimResult, verifyMessage } from './spf-dkim-dmarc.js';
import { MAIN_THREAD_MESSAGE_MAX } from './main-thread.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');
/** Whether the message is verified on the calling thread. */
const isSmallUnsigned = (b: Uint8Array) => smallUnsignedHeaderEnd(b) >= 0;
const plain = 'From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: hi\r\nMessage-ID: <1@a.test>\r\n\r\nHello.\r\n';

describe('smallUnsignedHeaderEnd', () => {
  it('a plain header: yes; a DKIM-Signature or an ARC field in any case or spacing: no', () => {
    assert.equal(isSmallUnsigned(bytes(plain)), true);
    assert.equal(isSmallUnsigned(bytes('Subject: x\n\nbody\n')), true, 'bare LF lines');
    for (const f of ['DKIM-Signature: v=1', 'dkim-signature : v=1', 'ARC-Seal: i=1', 'arc-message-signature:x', 'ARC-Authentication-Results: i=1; x']) {
      assert.equal(isSmallUnsigned(bytes(`Subject: x\r\n${f}\r\n\r\nbody\r\n`)), false, f);
    }
    assert.equal(isSmallUnsigned(bytes('Subject: x\r\n\r\nDKIM-Signature: in the body\r\n')), true, 'only the header counts');
  });

  it('no, for every field mailauth takes for a signature (a review found these taken as unsigned): the same verdict as mailauth', async () => {
    const resolver = tableResolver({}, []);
    const sig = 'v=1; a=rsa-sha256; c=relaxed/relaxed; d=a.test; s=sel; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA';
    for (const name of [' DKIM-Signature', 'DKIM-Signature\v', 'DKIM-Signature\f', `DKIM-Signature${' '.repeat(30)}`, 'DKIM-Signature\xa0']) {
      const head = `${name}: ${sig}`;
      const msg = bytes(`${head}\r\nFrom: a@a.test\r\n\r\nbody\r\n`);
      const theirs = await dkimVerify(msg, { resolver, sender: 'a@a.test' });
      assert.ok(theirs.results.some((r) => r.status.result !== 'none'), `mailauth sees a signature in ${JSON.stringify(head)}: ${JSON.stringify(theirs.results)}`);
      assert.equal(smallUnsignedHeaderEnd(msg), -1, JSON.stringify(head));
      assert.equal(unsignedDkimResult(msg), null, JSON.stringify(head));
    }
  });

  it('unsignedDkimResult reads the header section only: a From line in the body is not an author', () => {
    const r = unsignedDkimResult(bytes('From: a@a.test\r\nSubject: x\r\n\r\nFrom: b@b.test\r\n'));
    assert.deepEqual(r?.headerFrom, ['a@a.test']);
  });

  it('no: a header of more lines than the bound, longer than 16 KiB, or without its end; a message over the size bound', () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('');
    assert.equal(isSmallUnsigned(bytes(lines(SMALL_HEADER_LINES) + '\r\nb\r\n')), true);
    assert.equal(isSmallUnsigned(bytes(lines(SMALL_HEADER_LINES + 1) + '\r\nb\r\n')), false);
    assert.equal(isSmallUnsigned(bytes(`Subject: ${'x'.repeat(17 * 1024)}\r\n\r\nb\r\n`)), false);
    assert.equal(isSmallUnsigned(bytes('Subject: x\r\nTo: y\r\n')), false);
    assert.equal(isSmallUnsigned(bytes(`Subject: x\r\n\r\n${'b'.repeat(MAIN_THREAD_MESSAGE_MAX)}`)), false, 'a message over MAIN_THREAD_MESSAGE_MAX');
  });
  it('smallUnsignedHeaderEnd: the header with its blank line, or -1', () => {
    assert.equal(smallUnsignedHeaderEnd(bytes('Subject: x\r\n\r\nbody\r\n')), 'Subject: x\r\n\r\n'.length);
    assert.equal(smallUnsignedHeaderEnd(bytes('Subject: x\n\nbody\n')), 'Subject: x\n\n'.length);
    assert.equal(smallUnsignedHeaderEnd(bytes('DKIM-Signature: v=1\r\n\r\nbody\r\n')), -1);
  });
});

describe('where a message is verified', () => {
  const pools: WorkerPool[] = [];
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it('small and unsigned: here, the same outcome as in a worker; signed: in the worker', async () => {
    const resolver = tableResolver({ 'TXT _dmarc.a.test': 'v=DMARC1; p=quarantine' }, []);
    const real = createWorkerPool({ threads: 1, jobTimeoutMs: 20_000, maxQueue: 10, logger: silentLogger() });
    pools.push(real);
    let jobs = 0;
    const counting = { run: ((kind, input, opts) => (jobs++, real.run(kind, input, opts))) as WorkerPool['run'] } as WorkerPool;
    const params = { ip: '192.0.2.1', helo: 'mail.a.test', mailFrom: 'alice@a.test', hostname: 'mx.b.test', minRsaBits: 1024, arc: true, checkHelo: false, spf: { result: 'pass' as const, domain: 'a.test' }, messagePath: null, resolver };
    const here = await authenticateMessage({ ...params, messageBytes: bytes(plain), workers: counting });
    assert.equal(jobs, 0, 'no worker job for a small unsigned message');
    assert.equal(here.dmarc?.result, 'pass');
    assert.equal(here.dmarc?.policy, 'quarantine');
    assert.deepEqual(here.dkim.map((d) => d.result), ['none']);
    // The same message through the worker (as a signed one goes) gives the same outcome.
    const inWorker = await real.run('authenticate', { messagePath: null, messageBytes: bytes(plain), mailFrom: params.mailFrom, minRsaBits: 1024, arc: true, spf: params.spf }, { resolver });
    assert.deepEqual({ spf: here.spf, spfHelo: here.spfHelo, ...inWorker }, here);
    const signed = bytes('DKIM-Signature: v=1; a=rsa-sha256; d=a.test; s=sel; h=from; bh=x; b=y\r\n' + plain);
    const out = await authenticateMessage({ ...params, messageBytes: signed, workers: counting });
    assert.equal(jobs, 1, 'a signed message goes to the worker');
    assert.equal(out.dkim[0]?.domain, 'a.test');
  });
});

describe('the header alone for an unsigned message', () => {
  it('gives the outcome of the whole message, for every unsigned message of the MIME corpus', async () => {
    const dir = new URL('../message/testdata/mime/eml/', import.meta.url).pathname;
    const resolver = tableResolver({ 'TXT _dmarc.example.com': 'v=DMARC1; p=reject' }, []);
    let compared = 0;
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.eml'))) {
      const whole = readFileSync(dir + name);
      const end = smallUnsignedHeaderEnd(whole);
      if (end < 0) continue;
      const input = { messagePath: null, mailFrom: 'someone@example.com', minRsaBits: 1024, arc: true, spf: { result: 'pass' as const, domain: 'example.com' } };
      const full = await verifyMessage({ ...input, messageBytes: whole }, resolver);
      const head = await verifyMessage({ ...input, messageBytes: whole.subarray(0, end) }, resolver);
      assert.deepEqual(head, full, name);
      // And without mailauth's DKIM pass (what the SMTP server does for these): the same outcome,
      // and what mailauth's dkimVerify returns for the header.
      const shortcut = await verifyMessage({ ...input, messageBytes: whole.subarray(0, end) }, resolver, unsignedDkimResult(whole)!);
      assert.deepEqual(shortcut, full, `${name} (unsigned shortcut)`);
      const mine = unsignedDkimResult(whole.subarray(0, end));
      assert.ok(mine, name);
      const theirs = await dkimVerify(whole.subarray(0, end), { resolver, sender: input.mailFrom });
      assert.deepEqual(mine.headerFrom, theirs.headerFrom, name);
      assert.deepEqual(mine.results, theirs.results, name);
      assert.deepEqual(mine.arc, theirs.arc, name);
      assert.deepEqual(mine.headers?.parsed.map((h) => [h.key, String(h.line)]), theirs.headers?.parsed.map((h) => [h.key, String(h.line)]), name);
      compared++;
    }
    assert.ok(compared >= 15, `only ${compared} corpus messages compared`);
  });
});
