// Fuzzing the POP3 session in each state (test/fuzz/pop3.ts): grammar-aware random sessions
// (AUTHORIZATION and TRANSACTION, plain and TLS, SASL exchanges, STLS, RETR/TOP of real messages,
// DELE/RSET/QUIT, long lines, bare CR/LF, garbage, random chunking) and byte-level mutations of
// them, with fixed seeds so `npm test` is repeatable. The target checks, per session: no crash,
// every complete line answered in order (multi-line responses to their "."), RETR returns the
// stored bytes, the connection closes only with a reason, the maildrop lock is free afterwards,
// nothing is left in data/tmp, the store is consistent, memory stays bounded.
// Long runs: `npm run fuzz -- --minutes N --protocol pop3`.
import { test } from 'node:test';
import { fuzzPop3 } from '../../test/fuzz/pop3.js';

test('fuzz: random and mutated sessions in AUTHORIZATION and TRANSACTION state (fixed seeds)', async () => {
  for (const seed of [20261128, 11]) await fuzzPop3({ seed, iterations: 40 });
});
