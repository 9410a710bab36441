// A short fixed-seed run of the IMAP fuzz target (test/fuzz/imap.ts): random and mutated input
// in every state (not authenticated, authenticated, selected, IDLE, AUTHENTICATE, mid-literal).
// A long run: the same target with `npm run fuzz -- --minutes N`.
import { test } from 'node:test';
import { fuzzImap } from '../../../test/fuzz/imap.js';

test('fuzz: random and mutated IMAP sessions in every state', { timeout: 180_000 }, async () => {
  await fuzzImap({ seed: 20261130, iterations: 80, deadline: Date.now() + 6000 });
});
