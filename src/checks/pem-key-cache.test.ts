// The DKIM signer's private key is parsed once per key, not once per signature (pem-key-cache.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { generateKeyPairSync } from 'node:crypto';
import { dkimSignatures } from './dkim-sign.js';
import { pemKeyParses } from './pem-key-cache.js';

const message = Buffer.from('From: alice@a.test\r\nTo: bob@b.test\r\nSubject: hi\r\nDate: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\nhello\r\n');

test('signing twice with one key parses it once; the signatures are the same; other keys and passphrases are not mixed up', async () => {
  const a = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const b = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const signTime = new Date('2026-11-30T12:00:00Z');
  const before = pemKeyParses();
  const first = await dkimSignatures(message, [{ domain: 'a.test', selector: 's1', privateKey: a, algorithm: 'rsa-sha256' }], { signTime });
  const second = await dkimSignatures(message, [{ domain: 'a.test', selector: 's1', privateKey: a, algorithm: 'rsa-sha256' }], { signTime });
  assert.equal(pemKeyParses() - before, 1, 'the PEM key was parsed once for two signatures');
  assert.ok(first.startsWith('DKIM-Signature:'));
  assert.equal(second, first, 'the same key signs the same way');
  // another key is parsed (and used) on its own
  const other = await dkimSignatures(message, [{ domain: 'a.test', selector: 's2', privateKey: b, algorithm: 'ed25519-sha256' }], { signTime });
  assert.equal(pemKeyParses() - before, 2);
  assert.match(other, /a=ed25519-sha256/);
  // an encrypted key with its passphrase goes to Node unchanged (not memoized)
  const enc = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
  assert.equal(crypto.createPrivateKey({ key: enc, format: 'pem', passphrase: 'pw' }).asymmetricKeyType, 'rsa');
  assert.throws(() => crypto.createPrivateKey({ key: enc, format: 'pem', passphrase: 'wrong' }));
  assert.equal(pemKeyParses() - before, 2);
});
