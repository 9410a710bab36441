// DNS answers preloaded on the main thread for the checks' worker: the questions read from the
// header, answers used once, the rest asked back; through a real worker the preloaded questions
// are not asked back and the results are the same.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { tableResolver } from '../../test/helpers/table-resolver.js';
import { silentLogger } from '../log/logger.js';
import { createWorkerPool, type WorkerPool } from '../workers/pool.js';
import { dkimSignatures } from './dkim-sign.js';
import { answering, preloadAnswers, questionsFor } from './dns-preload.js';
import { authenticateMessage, verifyMessage } from './spf-dkim-dmarc.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');

describe('DNS preload: the questions', () => {
  it('the From domain for DMARC and each DKIM signature key, from folded fields', () => {
    const m = 'DKIM-Signature: v=1; a=rsa-sha256; d=Mail.Example.COM;\r\n s=sel1; h=from; bh=x; b=y\r\nFrom: "Alice A." <alice@Example.net>\r\nDKIM-Signature: v=1; d=esp.test; s=k2;\r\n\tb=z\r\nSubject: hi\r\n\r\nFrom: body@not.header\r\n';
    assert.deepEqual(questionsFor(bytes(m)), ['_dmarc.example.net', 'sel1._domainkey.mail.example.com', 'k2._domainkey.esp.test']);
  });

  it('no DMARC question for two From fields, a group or a comment, or a name that is not a domain', () => {
    assert.deepEqual(questionsFor(bytes('From: a@a.test\r\nFrom: b@b.test\r\n\r\n')), []);
    assert.deepEqual(questionsFor(bytes('From: a@a.test, b@b.test\r\n\r\n')), []);
    assert.deepEqual(questionsFor(bytes('From: a@a.test (Alice)\r\n\r\n')), []);
    assert.deepEqual(questionsFor(bytes('From: <a@localhost>\r\n\r\n')), []);
    assert.deepEqual(questionsFor(bytes('From: plain@a.test\r\n\r\n')), ['_dmarc.a.test']);
  });

  it('answers what the resolver answers, leaves out what fails', async () => {
    const seen: string[] = [];
    const r = tableResolver({ 'TXT _dmarc.a.test': 'v=DMARC1; p=none' }, seen);
    const got = await preloadAnswers(bytes('From: a@a.test\r\nDKIM-Signature: d=a.test; s=s\r\n\r\n'), r);
    assert.deepEqual(got, [['_dmarc.a.test', 'TXT', [['v=DMARC1; p=none']]]]);
    assert.deepEqual(seen, ['TXT _dmarc.a.test', 'TXT s._domainkey.a.test']);
  });

  it('a preloaded answer serves its question once; other questions go to the resolver', async () => {
    const seen: string[] = [];
    const r = answering([['_dmarc.a.test', 'TXT', [['pre']]]], tableResolver({ 'TXT _dmarc.a.test': 'asked', 'TXT x.test': 'x' }, seen));
    assert.deepEqual(await r('_DMARC.a.test', 'txt'), [['pre']]);
    assert.deepEqual(await r('_dmarc.a.test', 'TXT'), [['asked']]);
    assert.deepEqual(await r('x.test', 'TXT'), [['x']]);
    assert.deepEqual(seen, ['TXT _dmarc.a.test', 'TXT x.test']);
  });

  it('verifyMessage takes the DMARC record from the preloaded answers', async () => {
    const seen: string[] = [];
    const input = { messagePath: null, messageBytes: bytes('From: alice@a.test\r\nSubject: x\r\n\r\nhi\r\n'), mailFrom: 'alice@a.test', minRsaBits: 1024, arc: false, spf: { result: 'pass' as const, domain: 'a.test' } };
    const resolver = tableResolver({}, seen);
    const pre = await verifyMessage({ ...input, dns: [['_dmarc.a.test', 'TXT', [['v=DMARC1; p=reject']]]] }, resolver);
    assert.equal(pre.dmarc?.result, 'pass');
    assert.equal(pre.dmarc?.policy, 'reject');
    assert.ok(!seen.includes('TXT _dmarc.a.test'));
    const asked = await verifyMessage(input, resolver);
    assert.equal(asked.dmarc?.policy, null);
    assert.ok(seen.includes('TXT _dmarc.a.test'));
  });
});

describe('DNS preload through a worker', () => {
  const pools: WorkerPool[] = [];
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it('a signed message in memory: the key and the DMARC record are not asked back by the worker; the outcome is the same as without a worker', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const dkimTxt = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
    const plain = 'From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: hi\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@a.test>\r\n\r\nHello.\r\n';
    const signed = bytes((await dkimSignatures(plain, [{ domain: 'a.test', selector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'rsa-sha256' }])) + plain);
    const seen: string[] = [];
    const resolver = tableResolver({ 'TXT sel._domainkey.a.test': dkimTxt, 'TXT _dmarc.a.test': 'v=DMARC1; p=reject' }, seen);
    const real = createWorkerPool({ threads: 1, jobTimeoutMs: 20_000, maxQueue: 10, logger: silentLogger() });
    pools.push(real);
    const askedBack: string[] = [];
    // The real pool, with the questions the worker asks back recorded.
    const workers = {
      run: ((kind, input, opts) =>
        real.run(kind, input, {
          ...opts,
          resolver: (name: string, rrtype: string) => {
            askedBack.push(`${rrtype} ${name}`);
            return opts!.resolver!(name, rrtype);
          },
        })) as WorkerPool['run'],
    } as WorkerPool;
    const params = { ip: '192.0.2.1', helo: 'mail.a.test', mailFrom: 'alice@a.test', hostname: 'mx.b.test', minRsaBits: 1024, arc: true, checkHelo: false, spf: { result: 'pass' as const, domain: 'a.test' }, messagePath: null, messageBytes: signed, resolver };
    const out = await authenticateMessage({ ...params, workers });
    assert.equal(out.dkim[0]?.result, 'pass');
    assert.equal(out.dmarc?.result, 'pass');
    assert.equal(out.dmarc?.policy, 'reject');
    assert.deepEqual(askedBack.filter((q) => q === 'TXT sel._domainkey.a.test' || q === 'TXT _dmarc.a.test'), [], `asked back: ${askedBack.join(', ')}`);
    assert.ok(seen.includes('TXT sel._domainkey.a.test') && seen.includes('TXT _dmarc.a.test'));
    const here = await authenticateMessage(params);
    assert.deepEqual(out, here);
  });
});
