// LIST pattern matching (RFC 9051 §6.3.9): semantics table, the length bound, and linear time
// on wildcard-heavy patterns (issue 10 item 1: a backtracking RegExp froze the event loop).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listMatcher, MAX_PATTERN_LENGTH } from './names.js';
import { ImapError } from './errors.js';

test('LIST pattern semantics: *, %, the delimiter, the reference, INBOX in any case', () => {
  const cases: Array<[reference: string, pattern: string, name: string, matches: boolean]> = [
    ['', '*', 'INBOX', true],
    ['', '*', 'a/b/c', true],
    ['', '%', 'a', true],
    // RFC 9051 §6.3.9: "%" does not match the hierarchy delimiter
    ['', '%', 'a/b', false],
    ['', '%/%', 'a/b', true],
    ['', '%/%', 'a/b/c', false],
    ['', 'a/*', 'a/b/c', true],
    ['', 'a/*', 'a', false],
    ['', 'a*', 'a', true],
    ['', 'a%', 'a', true],
    ['', 'a%c', 'abc', true],
    ['', 'a%c', 'ab/c', false],
    ['', 'a*c', 'ab/c', true],
    ['', 'a*c', 'ab/cd', false],
    ['', 'a%%%c', 'abc', true],
    ['', 'a%*%c', 'a/b/c', true],
    ['', '*%', 'x/y', true],
    ['', '%*', '', true],
    ['', '', 'a', false],
    ['', 'abc', 'abc', true],
    ['', 'abc', 'abcd', false],
    ['', 'abc', 'ab', false],
    // other characters are literal, including RegExp specials
    ['', 'a.c', 'abc', false],
    ['', 'a.c', 'a.c', true],
    ['', '(x)+[y]?$', '(x)+[y]?$', true],
    ['', 'Caf\u00e9/*', 'Caf\u00e9/\u{1F600}', true],
    ['', 'Caf%', 'Caf\u00e9', true],
    ['', '\u{1F600}%', '\u{1F600}\u{1F601}', true],
    ['', 'café', 'Café', false],
    // RFC 9051 §5.1: INBOX is case-insensitive, also as the first hierarchy level
    ['', 'inbox', 'INBOX', true],
    ['', 'InBoX/%', 'INBOX/Sub', true],
    ['', 'inb*', 'INBOX', true],
    ['', 'i%/sub', 'INBOX/sub', true],
    ['', 'inbox/SUB', 'INBOX/sub', false],
    ['', 'inbox2', 'Inbox2', false],
    ['', 'inbox%', 'INBOXes', false],
    // the reference is prefixed, with the delimiter between when it lacks one
    ['a', '%', 'a/b', true],
    ['a/', '%', 'a/b', true],
    ['a', '%', 'a/b/c', false],
    ['a', '*', 'a/b/c', true],
    ['a', '*', 'b/c', false],
    ['inbox', '%', 'INBOX/x', true],
    ['a', '/b', '/b', true],
  ];
  for (const [reference, pattern, name, want] of cases) {
    assert.equal(listMatcher(reference, pattern)(name), want, `reference ${JSON.stringify(reference)} pattern ${JSON.stringify(pattern)} name ${JSON.stringify(name)}`);
  }
});

test('a pattern longer than MAX_PATTERN_LENGTH is refused with BAD', () => {
  assert.doesNotThrow(() => listMatcher('', 'x'.repeat(MAX_PATTERN_LENGTH)));
  for (const [reference, pattern] of [
    ['', '%'.repeat(MAX_PATTERN_LENGTH + 1)],
    ['r'.repeat(600), '*'.repeat(600)],
  ] as const) {
    assert.throws(
      () => listMatcher(reference, pattern),
      (e: unknown) => e instanceof ImapError && e.status === 'BAD' && /too long/.test(e.message),
    );
  }
});

test('a 200-wildcard pattern against 1,000 names finishes quickly', () => {
  // Names long enough to make a backtracking matcher explode: mostly the same letter, so every
  // wildcard has many ways to split them, and none of them ends the way the pattern needs.
  const names: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const depth = i % 4;
    const segs = Array.from({ length: depth + 1 }, (_, k) => 'a'.repeat(30 + ((i + k) % 40)));
    names.push(segs.join('/') + (i % 10 === 0 ? 'x' : ''));
  }
  const patterns: string[] = [];
  let alt = '';
  for (let i = 0; i < 200; i++) alt += i % 3 === 0 ? '*' : '%';
  patterns.push(alt + 'x'); // 200 wildcards in one run, then a literal
  let mixed = '';
  for (let i = 0; i < 100; i++) mixed += (i % 2 ? '%a' : '*a');
  patterns.push(mixed + '%'.repeat(100) + 'b'); // 200 wildcards between literals, no match
  patterns.push('%a'.repeat(200) + 'y'); // 200 "%" that cannot cross the delimiter
  const started = performance.now();
  let hits = 0;
  for (const p of patterns) {
    const m = listMatcher('', p);
    for (const n of names) if (m(n)) hits++;
  }
  const ms = performance.now() - started;
  // Only the first pattern matches, the names ending in "x" (one in ten)
  assert.equal(hits, 100);
  // About 45 ms here; the bound is loose so a loaded machine never fails it, and still far below
  // the backtracking matcher, which never finished this (60 wildcards alone took ~25 s).
  assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
});
