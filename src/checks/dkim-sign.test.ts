// The queue's DKIM signer (createDkimSigner): the keys' PEM files are read with the key list (kept
// a minute), not once per message; an unreadable key file is a signing error, read again next time.
// With a worker pool, a small message is signed on the calling thread by the lean signer; a large
// one, or one the lean signer leaves to mailauth, in the pool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { validateConfig } from '../config/load.js';
import { silentLogger } from '../log/logger.js';
import type { Store } from '../store/types.js';
import type { Resolver } from '../dns/resolver.js';
import { tableResolver } from '../../test/helpers/table-resolver.js';
import { ensureDomainKeys } from './dkim-keys.js';
import { createDkimSigner } from './dkim-sign.js';
import { MAIN_THREAD_HEADER_MAX, MAIN_THREAD_MESSAGE_MAX } from './main-thread.js';
import { dkimVerify } from 'mailauth';
import type { WorkerPool } from '../workers/pool.js';
import { jobs } from '../workers/jobs.js';

const message = 'From: alice@a.test\r\nTo: bob@b.test\r\nSubject: hi\r\n\r\nhello\r\n';
const store = { isLocalDomain: async (d: string) => d === 'a.test' } as unknown as Store;
const resolver = {} as Resolver; // one key per algorithm: no DNS question is asked

test('the PEM files are read with the key list, not per message; an unreadable one fails the signature and is read again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-dkim-sign-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = validateConfig({ hostname: 'mx.a.test', data_dir: dir });
  const keys = ensureDomainKeys(dir, 'a.test');
  const signer = createDkimSigner(config, store, silentLogger(), { resolver });
  const sign = () => signer.sign({ from: 'alice@a.test', headerFromDomain: 'a.test', message: () => Readable.from([Buffer.from(message)]) });
  const first = await sign();
  assert.equal(first.match(/^DKIM-Signature:/gm)?.length, 2, 'an RSA and an Ed25519 signature');
  // the key files gone: the next message is still signed with the keys read for the list
  const moved = keys.map((k) => ({ from: k.path, to: `${k.path}.away` }));
  for (const m of moved) renameSync(m.from, m.to);
  assert.equal((await sign()).match(/^DKIM-Signature:/gm)?.length, 2);

  for (const m of moved) renameSync(m.to, m.from);

  // a fresh signer (no list yet) with a key file it cannot read (a directory in its place): a
  // signing error (the delivery is deferred), not an unsigned message
  const fresh = createDkimSigner(config, store, silentLogger(), { resolver });
  const freshSign = () => fresh.sign({ from: 'alice@a.test', headerFromDomain: 'a.test', message: () => Readable.from([Buffer.from(message)]) });
  const rsa = keys.find((k) => k.algorithm === 'rsa-sha256')!;
  renameSync(rsa.path, `${rsa.path}.away`);
  mkdirSync(rsa.path);
  await assert.rejects(freshSign(), /DKIM signing failed \(.+\): EISDIR/);
  // ... and the file is read again at the next message
  rmSync(rsa.path, { recursive: true });
  renameSync(`${rsa.path}.away`, rsa.path);
  assert.equal((await freshSign()).match(/^DKIM-Signature:/gm)?.length, 2);
});

test('with a pool: a small message is signed on this thread; a large one, one with a bare LF or with a long header section in the pool; all verify', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-dkim-sign-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = validateConfig({ hostname: 'mx.a.test', data_dir: dir });
  ensureDomainKeys(dir, 'a.test');
  // a pool that runs its jobs here and records them
  const ran: number[] = [];
  const workers = {
    run: async (kind: string, input: { message: Uint8Array }) => {
      ran.push(input.message.length);
      return jobs.dkimSign(input as Parameters<typeof jobs.dkimSign>[0]);
    },
  } as unknown as WorkerPool;
  const signer = createDkimSigner(config, store, silentLogger(), { resolver, workers });
  const sign = (m: Buffer) => signer.sign({ from: 'alice@a.test', headerFromDomain: 'a.test', message: () => Readable.from([m]) });
  const small = Buffer.from(message);
  const large = Buffer.from(message + 'x'.repeat(70).concat('\r\n').repeat(Math.ceil(MAIN_THREAD_MESSAGE_MAX / 72)));
  const bareLf = Buffer.from('From: alice@a.test\r\nSubject: hi\r\n\r\nbare\nLF\r\n');
  // a small message with a long header section (many short fields): the pool
  const longHeader = Buffer.from('From: alice@a.test\r\n' + 'To: bob@b.test\r\n'.repeat(Math.ceil(MAIN_THREAD_HEADER_MAX / 16)) + '\r\nhi\r\n');
  assert.ok(longHeader.length < MAIN_THREAD_MESSAGE_MAX);
  const signed: Array<[Buffer, string]> = [];
  for (const m of [small, large, bareLf, longHeader]) signed.push([m, await sign(m)]);
  assert.deepEqual(ran, [large.length, bareLf.length, longHeader.length], 'only the large, the bare-LF and the long-header messages went to the pool');
  const keys = (await import('./dkim-keys.js')).listDomainKeys(dir, 'a.test');
  const records: Record<string, string> = {};
  for (const k of keys) records[`TXT ${k.selector}._domainkey.a.test`] = (await import('./dkim-keys.js')).dkimRecord(k);
  for (const [m, sig] of signed) {
    const r = await dkimVerify(Buffer.concat([Buffer.from(sig), m]), { resolver: tableResolver(records, []) } as never);
    assert.deepEqual(
      (r.results as Array<{ status: { result: string } }>).map((x) => x.status.result),
      ['pass', 'pass'],
      `${m.length} octets`,
    );
  }
});
