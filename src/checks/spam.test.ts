import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verdictForMove, recordMoveVerdicts, createSpamPrefs, scoreMessage, spamHeaders } from './spam.js';
import { openChecksDb, closeChecksDbs } from './db.js';
import type { Mailbox, MessageMeta } from '../store/types.js';

test('moves into Junk are spam, out of Junk (not to Trash) ham', () => {
  assert.equal(verdictForMove(null, '\\Junk'), 'spam');
  assert.equal(verdictForMove('\\Sent', '\\Junk'), 'spam');
  assert.equal(verdictForMove('\\Junk', null), 'ham');
  assert.equal(verdictForMove('\\Junk', '\\Archive'), 'ham');
  assert.equal(verdictForMove('\\Junk', '\\Trash'), null);
  assert.equal(verdictForMove('\\Junk', '\\Junk'), null);
  assert.equal(verdictForMove(null, '\\Archive'), null);
});

test('recordMoveVerdicts logs one verdict per moved message', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-spam-'));
  try {
    const prefs = createSpamPrefs(openChecksDb(dir));
    const boxes: Record<number, Partial<Mailbox>> = { 1: { id: 1, specialUse: null }, 2: { id: 2, specialUse: '\\Junk' } };
    const store = {
      getMailboxById: async (id: number) => (boxes[id] as Mailbox) ?? null,
      getMessages: async (_mb: number, uids: number[]) => uids.map((uid) => ({ uid, blobId: `blob${uid}` }) as MessageMeta),
    };
    assert.equal(await recordMoveVerdicts(prefs, store, { account: 'Bob@b.test', srcMailboxId: 1, dstMailboxId: 2, dstUids: [5, 6] }), 'spam');
    assert.equal(await recordMoveVerdicts(prefs, store, { account: 'bob@b.test', srcMailboxId: 2, dstMailboxId: 1, dstUids: [7] }), 'ham');
    assert.equal(await recordMoveVerdicts(prefs, store, { account: 'bob@b.test', srcMailboxId: 1, dstMailboxId: 1, dstUids: [8] }), null);
    assert.deepEqual(
      prefs.listVerdicts('bob@b.test').map((v) => [v.blobId, v.verdict]).sort(),
      [['blob5', 'spam'], ['blob6', 'spam'], ['blob7', 'ham']],
    );
    // thresholds: set, read, cleared
    prefs.setThreshold('bob@b.test', 3.5);
    assert.equal(prefs.thresholdFor('BOB@b.test', 5), 3.5);
    prefs.setThreshold('bob@b.test', null);
    assert.equal(prefs.thresholdFor('bob@b.test', 5), 5);
  } finally {
    closeChecksDbs();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('score rules without authentication results; the X-Spam headers', () => {
  const r = scoreMessage({ auth: null, helo: 'localhost', ptr: null, mailFrom: '' });
  assert.deepEqual(r.rules.map((x) => x.name), ['NO_PTR', 'HELO_NOT_FQDN']);
  assert.equal(r.score, 2);
  assert.equal(scoreMessage({ auth: null, helo: '[192.0.2.1]', ptr: 'x.test', mailFrom: '' }).score, 0);
  assert.deepEqual(spamHeaders(2, 5, r.rules), ['X-Spam-Score: 2.0', 'X-Spam-Status: No, score=2.0 required=5.0 tests=NO_PTR,HELO_NOT_FQDN']);
  assert.deepEqual(spamHeaders(-1, 5, []), ['X-Spam-Score: -1.0', 'X-Spam-Status: No, score=-1.0 required=5.0 tests=none']);
});
