// Fuzzing the ManageSieve session in each state (test/fuzz/managesieve.ts): grammar-aware random
// sessions (before authentication, STARTTLS, inside AUTHENTICATE, mid-literal, after login:
// PUTSCRIPT/CHECKSCRIPT with quoted and literal scripts, valid and not, over the size limit,
// LISTSCRIPTS, SETACTIVE, GETSCRIPT, RENAMESCRIPT, DELETESCRIPT, HAVESPACE, UNAUTHENTICATE),
// long lines, bad quoting, garbage, random chunking, and byte-level mutations of them, with fixed
// seeds so `npm test` is repeatable. Per session: no crash, every command answered in order, the
// connection closed only with a reason, nothing left in data/tmp, the store consistent, memory
// bounded. Long runs: `npm run fuzz -- --minutes N --protocol managesieve`.
import { test } from 'node:test';
import { fuzzManageSieve } from '../../test/fuzz/managesieve.js';

test('fuzz: random and mutated ManageSieve sessions in every state (fixed seeds)', async () => {
  for (const seed of [20261130, 7]) await fuzzManageSieve({ seed, iterations: 40 });
});
