import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StoreError } from './types.js';
import { applyFlagUpdate, formatFlags, normalizeAddress, normalizeDomain, normalizeMailboxName, parentNames, parseFlags } from './validate.js';

const invalid = (fn: () => unknown): void => {
  assert.throws(fn, (e: unknown) => e instanceof StoreError && e.code === 'invalid');
};

describe('store names', () => {
  it('normalises domains, internationalised ones to A-labels', () => {
    assert.equal(normalizeDomain('Example.TEST.'), 'example.test');
    assert.equal(normalizeDomain('Bücher.test'), 'xn--bcher-kva.test');
    assert.equal(normalizeDomain('xn--bcher-kva.test'), 'xn--bcher-kva.test');
    for (const bad of ['', 'bad domain', '-a.test', 'a-.test', 'a..test', 'a'.repeat(64) + '.test', 'tab\t.test']) invalid(() => normalizeDomain(bad));
  });

  it('normalises addresses and catch-alls', () => {
    assert.equal(normalizeAddress(' Bob@A.Test '), 'bob@a.test');
    assert.equal(normalizeAddress('Jörg@Bücher.test'), 'jörg@xn--bcher-kva.test');
    assert.equal(normalizeAddress('@A.test', { allowCatchAll: true }), '@a.test');
    for (const bad of ['@a.test', 'bob', 'a@', 'a b@c.test', '.a@b.test', 'a.@b.test', 'a..b@c.test', '"q"@a.test', 'a@b@c.test', 'x'.repeat(65) + '@a.test', 'a<b@c.test']) {
      invalid(() => normalizeAddress(bad));
    }
  });

  it('checks mailbox names and spells INBOX one way', () => {
    assert.equal(normalizeMailboxName('inbox'), 'INBOX');
    assert.equal(normalizeMailboxName('InBoX/Sub'), 'INBOX/Sub');
    assert.equal(normalizeMailboxName('Inboxes'), 'Inboxes');
    assert.equal(normalizeMailboxName('Ünï/日本'), 'Ünï/日本');
    for (const bad of ['', '/a', 'a/', 'a//b', '..', 'a/../b', 'a..b', '.', 'a/./b', 'x\u0000', 'x\u007f', 'x\u0085', 'x'.repeat(1001)]) invalid(() => normalizeMailboxName(bad));
    assert.deepEqual(parentNames('a/b/c'), ['a', 'a/b']);
  });

  it('parses flags: system flags canonical, \\Recent dropped, keywords de-duplicated', () => {
    const f = parseFlags(['\\SEEN', '\\recent', 'Work', 'work', '$Junk', '\\Draft']);
    assert.deepEqual(formatFlags(f.bits, f.keywords), ['\\Seen', '\\Draft', 'Work', '$Junk']);
    for (const bad of ['\\Other', 'has space', 'a(b', 'a]', '', 'a"b', 'a%', 'a*', 'a\\b']) invalid(() => parseFlags([bad]));
    const added = applyFlagUpdate(f, 'add', parseFlags(['WORK', 'new', '\\Flagged']));
    assert.deepEqual(formatFlags(added.bits, added.keywords), ['\\Seen', '\\Flagged', '\\Draft', 'Work', '$Junk', 'new']);
    const removed = applyFlagUpdate(added, 'remove', parseFlags(['work', '\\seen']));
    assert.deepEqual(formatFlags(removed.bits, removed.keywords), ['\\Flagged', '\\Draft', '$Junk', 'new']);
  });
});
