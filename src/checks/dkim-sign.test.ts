// The queue's DKIM signer (createDkimSigner): the keys' PEM files are read with the key list (kept
// a minute), not once per message; an unreadable key file is a signing error, read again next time.
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
import { ensureDomainKeys } from './dkim-keys.js';
import { createDkimSigner } from './dkim-sign.js';

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
