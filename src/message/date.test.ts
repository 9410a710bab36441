import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRfc5322Date, MONTHS } from './date.js';

test('RFC 5322 date-time in UTC', () => {
  assert.equal(formatRfc5322Date(new Date('2026-11-28T16:00:00Z')), 'Sat, 28 Nov 2026 16:00:00 +0000');
  assert.equal(formatRfc5322Date(new Date('2026-01-05T03:04:05Z')), 'Mon, 5 Jan 2026 03:04:05 +0000');
  assert.equal(MONTHS.length, 12);
});
