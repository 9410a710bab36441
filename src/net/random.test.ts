import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomHex } from './random.js';

describe('randomHex', () => {
  it('gives hex of twice the length asked, never the same bytes twice, across refills of its pool', () => {
    const seen = new Set<string>();
    // 20,000 × 6 bytes: about 30 refills of the 4 KiB pool, ids straddling its end included
    for (let i = 0; i < 20_000; i++) {
      const h = randomHex(6 + (i % 3));
      assert.match(h, /^[0-9a-f]+$/);
      assert.equal(h.length, 2 * (6 + (i % 3)));
      assert.ok(!seen.has(h), `repeated ${h}`);
      seen.add(h);
    }
    for (const bad of [5000, 0, -1, 1.5]) assert.throws(() => randomHex(bad), RangeError, String(bad));
  });
});
