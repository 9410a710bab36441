// Random hex for names and ids made per message (SMTP session and queue ids, Message-IDs): drawn
// from a pool of 4 KiB that one randomFillSync refills, not one call per id. Each crypto call
// makes a job object and enters OpenSSL: two of them per received message took about 15 µs of the
// main thread in the SMTP ingest profile. The bytes are the same CSPRNG's; each is handed out once.
import { randomFillSync } from 'node:crypto';

const POOL = Buffer.alloc(4096);
let offset = POOL.length;

/** `bytes` random bytes as lower-case hex (2 × bytes characters). */
export function randomHex(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > POOL.length) throw new RangeError(`randomHex: a whole number of bytes from 1 to ${POOL.length}, not ${bytes}`);
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const hex = POOL.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}
