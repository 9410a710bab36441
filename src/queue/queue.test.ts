import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, utimesSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { QueueStore } from './queue.js';

const rec = (to: string) => ({ from: 'a@a.test', recipients: [{ address: to, notify: ['SUCCESS', 'FAILURE'] as Array<'SUCCESS' | 'FAILURE'>, orcpt: { type: 'rfc822', address: to } }], size: 3, needsUtf8: false, headerFromDomain: 'a.test', ret: 'HDRS' as const, envid: 'x' });

test('enqueue: 50 at once all committed (one group commit), with their envelope and files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const q = new QueueStore(dir);
  try {
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => q.enqueueBytes(Buffer.from('hi\n'), rec(`r${i}@b.test`), 1000)));
    assert.equal(new Set(ids).size, 50);
    assert.equal(q.count(), 50);
    const m = q.get(ids[7]!)!;
    assert.equal(m.from, 'a@a.test');
    assert.equal(m.ret, 'HDRS');
    assert.equal(m.envid, 'x');
    assert.deepEqual(m.recipients[0]!.notify, ['SUCCESS', 'FAILURE']);
    assert.deepEqual(m.recipients[0]!.orcpt, { type: 'rfc822', address: 'r7@b.test' });
    assert.equal(m.recipients[0]!.domain, 'b.test');
    assert.equal((await q.readMessage(ids[7]!)).toString(), 'hi\n');
    assert.deepEqual(q.list({ limit: 10 }).map((x) => x.id), [...ids].sort().slice(0, 10));
    assert.equal(q.due(1000, 100).length, 50);
    assert.equal(q.due(999, 100).length, 0);
    assert.throws(() => q.filePath('../x'), /malformed queue id/);
  } finally {
    q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('orphan files (a crash before the commit) are swept at start, unless young', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const q = new QueueStore(dir);
  try {
    const id = await q.enqueueBytes(Buffer.from('kept'), rec('b@b.test'), 1000);
    writeFileSync(join(dir, 'queue', '00OLDORPHAN0001.eml'), 'old');
    utimesSync(join(dir, 'queue', '00OLDORPHAN0001.eml'), new Date(0), new Date(0));
    writeFileSync(join(dir, 'queue', '00NEWORPHAN0001.eml'), 'young');
    assert.equal(await q.sweepOrphans(), 1);
    assert.deepEqual(readdirSync(join(dir, 'queue')).sort(), ['00NEWORPHAN0001.eml', `${id}.eml`].sort());
    assert.ok(existsSync(q.filePath(id)));
  } finally {
    q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a queue database newer than the code refuses to open', () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  try {
    new QueueStore(dir).close();
    const db = new Database(join(dir, 'queue.sqlite'));
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => new QueueStore(dir), /schema version 99, newer than this Yubin/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record, report and finish: the row and the file go once every recipient is final and reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const q = new QueueStore(dir);
  try {
    const id = await q.enqueueBytes(Buffer.from('x'), { ...rec('b@b.test'), recipients: [{ address: 'b@b.test' }, { address: 'c@c.test' }] }, 1000);
    q.record(id, [{ idx: 0, state: 'delivered', status: '2.0.0', reply: '250 ok' }, { idx: 1, state: 'deferred', status: '4.0.0', reply: '451 later', nextAttempt: 5000 }], 2000);
    assert.equal(await q.markReported(id, [0]), false);
    const m = q.get(id)!;
    assert.deepEqual(m.recipients.map((r) => [r.state, r.attempts, r.reported]), [['delivered', 1, true], ['deferred', 1, false]]);
    // a later result never overwrites a final state
    q.record(id, [{ idx: 0, state: 'bounced', status: '5.0.0', reply: '550 no' }], 3000);
    assert.equal(q.get(id)!.recipients[0]!.state, 'delivered');
    assert.deepEqual(q.housekeeping(), { unreported: [], finished: [] });
    q.record(id, [{ idx: 1, state: 'bounced', status: '5.0.0', reply: '550 no' }], 6000);
    assert.deepEqual(q.housekeeping().unreported, [id]);
    assert.equal(await q.markReported(id, [1]), true);
    assert.equal(q.get(id), null);
    assert.equal(existsSync(q.filePath(id)), false);
  } finally {
    q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
