// The worker pool: jobs run in worker threads with their DNS answered on the main thread, a job
// over its time limit is really stopped (the main thread keeps running meanwhile, the worker is
// replaced), the queue is bounded, and close() leaves no thread behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tableResolver } from '../../test/helpers/table-resolver.js';
import { silentLogger } from '../log/logger.js';
import { dkimSignatures } from '../checks/dkim-sign.js';
import { sealHeaders } from '../forward/arc-seal.js';
import { authenticateMessage } from '../checks/spf-dkim-dmarc.js';
import { validateConfig } from '../config/load.js';
import { createWorkerPool, WorkerBusyError, WorkerPoolClosedError, WorkerTimeoutError, type WorkerPool } from './pool.js';
import { registerPool, unregisterPool } from './registry.js';
import { arcSealForwarded } from '../forward/arc-seal.js';

const dir = mkdtempSync(join(tmpdir(), 'yubin-workers-'));
const pools: WorkerPool[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

function pool(threads = 1, maxQueue = 10): WorkerPool {
  const p = createWorkerPool({ threads, jobTimeoutMs: 20_000, maxQueue, logger: silentLogger() });
  pools.push(p);
  return p;
}

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const dkimTxt = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
const spec = { domain: 'a.test', selector: 'sel', privateKey: keyPem, algorithm: 'rsa-sha256' as const };
const plain = 'From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: hi\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@a.test>\r\n\r\nHello.\r\n';

/** The 40,000-line folded header of issue 10: seconds of CPU in mailauth's header parser. */
const folded = 'From: a@a.test\r\nTo: b@b.test\r\nSubject: x\r\nX-Fold: a\r\n' + ' b\r\n'.repeat(40_000) + '\r\nbody\r\n';

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

const verifyParams = { ip: '192.0.2.1', helo: 'mail.a.test', mailFrom: 'alice@a.test', hostname: 'mx.b.test', minRsaBits: 1024, arc: true, checkHelo: false, spf: { result: 'pass' as const, domain: 'a.test' } };

test('authentication runs in a worker; its DNS queries are answered by the main thread resolver', async () => {
  const signed = (await dkimSignatures(plain, [spec])) + plain;
  const seen: string[] = [];
  const resolver = tableResolver({ 'TXT sel._domainkey.a.test': dkimTxt, 'TXT _dmarc.a.test': 'v=DMARC1; p=reject' }, seen);
  const p = pool();
  const out = await authenticateMessage({ ...verifyParams, messagePath: file('signed.eml', signed), resolver, workers: p });
  assert.equal(out.dkim[0]?.result, 'pass');
  assert.equal(out.dmarc?.result, 'pass');
  assert.deepEqual(out.headerNames.slice(0, 2), ['dkim-signature', 'from']);
  assert.ok(seen.includes('TXT sel._domainkey.a.test') && seen.includes('TXT _dmarc.a.test'), `queries seen here: ${seen.join(', ')}`);
  assert.equal(p.stats().completed, 1);
  // the same answer as on the main thread
  const here = await authenticateMessage({ ...verifyParams, messagePath: file('signed2.eml', signed), resolver });
  assert.deepEqual(out, here);
});

test('a DNS error keeps its code across the port (mailauth reads ENOTFOUND as "no key")', async () => {
  const signed = (await dkimSignatures(plain, [spec])) + plain;
  const out = await authenticateMessage({ ...verifyParams, messagePath: file('nokey.eml', signed), resolver: tableResolver({}, []), workers: pool() });
  assert.equal(out.dkim[0]?.result, 'neutral');
  assert.match(out.dkim[0]?.comment ?? '', /no key/);
});

test('a job over its time limit is stopped, the main thread runs meanwhile, and the worker is replaced', async () => {
  const p = pool();
  const path = file('folded.eml', folded);
  // the main thread's own timer must keep firing while the worker grinds
  let maxGap = 0;
  let last = Date.now();
  const tick = setInterval(() => {
    const now = Date.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 10);
  const t0 = Date.now();
  await assert.rejects(
    authenticateMessage({ ...verifyParams, messagePath: path, resolver: tableResolver({}, []), workers: p, timeoutMs: 1500 }),
    (err: Error) => err instanceof WorkerTimeoutError && /stopped after 1500 ms/.test(err.message),
  );
  const took = Date.now() - t0;
  clearInterval(tick);
  // stopped at its limit, not when mailauth would have finished (seconds later)
  assert.ok(took < 3000, `took ${took} ms`);
  assert.ok(maxGap < 500, `main thread stalled ${maxGap} ms`);
  assert.equal(p.stats().timedOut, 1);
  // the pool goes on with a new worker
  const signed = (await dkimSignatures(plain, [spec])) + plain;
  const out = await authenticateMessage({ ...verifyParams, messagePath: file('after.eml', signed), resolver: tableResolver({ 'TXT sel._domainkey.a.test': dkimTxt }, []), workers: p });
  assert.equal(out.dkim[0]?.result, 'pass');
});

test('the queue is bounded: a job past max_queue fails at once; close() fails the waiting ones and ends every thread', async () => {
  const p = createWorkerPool({ threads: 1, jobTimeoutMs: 20_000, maxQueue: 1, logger: silentLogger() });
  const path = file('folded2.eml', folded);
  const input = { messagePath: path, mailFrom: 'a@a.test', minRsaBits: 1024, arc: false, spf: { result: 'none' as const, domain: 'a.test' } };
  const running = p.run('authenticate', input, { resolver: tableResolver({}, []) });
  const waiting = p.run('authenticate', input, { resolver: tableResolver({}, []) });
  await assert.rejects(p.run('authenticate', input), WorkerBusyError);
  assert.deepEqual({ busy: p.stats().busy, queued: p.stats().queued, refused: p.stats().refused }, { busy: 1, queued: 1, refused: 1 });
  const outcomes = Promise.all([assert.rejects(waiting, WorkerPoolClosedError), assert.rejects(running, /worker thread exited/)]);
  const t0 = Date.now();
  await p.close();
  assert.ok(Date.now() - t0 < 2000, 'close() terminates a busy worker instead of waiting for it');
  await outcomes;
  assert.equal(p.stats().alive, 0);
  await assert.rejects(p.run('authenticate', input), WorkerPoolClosedError);
});

test('a queued job that waits past its time limit fails without starting', async () => {
  const p = pool(1);
  const path = file('folded3.eml', folded);
  const input = { messagePath: path, mailFrom: 'a@a.test', minRsaBits: 1024, arc: false, spf: { result: 'none' as const, domain: 'a.test' } };
  const first = p.run('authenticate', input, { resolver: tableResolver({}, []), timeoutMs: 2000 });
  await assert.rejects(p.run('authenticate', input, { timeoutMs: 200 }), WorkerTimeoutError);
  await assert.rejects(first, WorkerTimeoutError);
});

test('DKIM signing and ARC sealing in a worker give the same fields as on the main thread', async () => {
  const p = pool();
  const signTime = new Date('2026-11-28T10:00:00Z');
  const here = await dkimSignatures(plain, [spec], { signTime });
  const there = await p.run('dkimSign', { message: Buffer.from(plain), specs: [spec], signTime });
  assert.equal(there, here);
  assert.match(there, /^DKIM-Signature: /);

  const seal = { signingDomain: 'a.test', selector: 'sel', privateKey: keyPem, algorithm: 'rsa-sha256', authResults: 'mx.a.test; spf=pass smtp.mailfrom=alice@a.test', cv: 'none', signTime };
  const sealedHere = await sealHeaders(Buffer.from(plain), seal);
  const sealedThere = await p.run('arcSeal', { message: Buffer.from(plain), seal });
  assert.equal(sealedThere, sealedHere);
  assert.match(sealedThere, /ARC-Seal: /);
});

test('arcSealForwarded uses the pool registered for the config', async () => {
  const dataDir = join(dir, 'data');
  const config = validateConfig({ hostname: 'mx.a.test', data_dir: dataDir });
  const { ensureDomainKeys } = await import('../checks/dkim-keys.js');
  ensureDomainKeys(dataDir, 'fwd.test');
  const p = pool();
  registerPool(config, p);
  try {
    const seal = await arcSealForwarded({ config, domain: 'fwd.test', message: () => Readable.from([Buffer.from(plain)]) });
    assert.match(seal, /ARC-Seal: i=1;/);
    assert.equal(p.stats().completed, 1);
  } finally {
    unregisterPool(config, p);
  }
});
