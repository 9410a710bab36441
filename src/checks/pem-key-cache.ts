// mailauth's DKIM and ARC signers parse the PEM private key again for every signature
// (tools.getPrivateKey → crypto.createPrivateKey({ key, format: 'pem' })). With OpenSSL 3 that
// parse costs more than the RSA signature itself: in the submission bench's profile it was 40 % of
// the signing worker's time (createPrivateKey about 2 s against signOneShot 1.4 s for 3,000
// messages). A KeyObject is immutable, so the parse is memoized here per PEM text, for PEM without
// a passphrase only; every other call goes to Node unchanged. Installed once per thread by the
// module that signs (dkim-sign.ts). The keys are already in this process's memory (the signing
// specs carry them); the cache holds at most MAX keys.
import crypto, { type KeyObject } from 'node:crypto';

const MAX = 64;
const cache = new Map<string, KeyObject>();
let parses = 0;
let installed = false;

/** PEM private keys parsed by the memoized path (tests). */
export function pemKeyParses(): number {
  return parses;
}

export function memoizePemPrivateKeys(): void {
  if (installed) return;
  installed = true;
  const original = crypto.createPrivateKey;
  const memoized = (key: Parameters<typeof crypto.createPrivateKey>[0]): KeyObject => {
    if (key && typeof key === 'object' && !Buffer.isBuffer(key) && !(key instanceof Uint8Array) && 'key' in key && key.format === 'pem' && !('passphrase' in key && key.passphrase !== undefined) && !('type' in key && key.type !== undefined) && !('encoding' in key && key.encoding !== undefined)) {
      const pem = typeof key.key === 'string' ? key.key : Buffer.isBuffer(key.key) ? key.key.toString('latin1') : null;
      if (pem !== null) {
        const hit = cache.get(pem);
        if (hit) return hit;
        const made = original(key);
        parses++;
        if (cache.size >= MAX) cache.delete(cache.keys().next().value!);
        cache.set(pem, made);
        return made;
      }
    }
    return original(key);
  };
  crypto.createPrivateKey = memoized as typeof crypto.createPrivateKey;
}
