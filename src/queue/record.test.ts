// Recording delivery results (QueueStore.record): a final result that owes no DSN is marked
// reported in the same transaction, and a message it finishes is removed there and then; results
// recorded in the same turn share one transaction, each in its own savepoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueStore, INLINE_MAX, type RecipientResult } from './queue.js';

const rec = (...to: string[]) => ({ from: 'a@a.test', recipients: to.map((address) => ({ address })), size: 3, needsUtf8: false, headerFromDomain: 'a.test' });
const delivered = (idx: number, reported: boolean): { idx: number } & RecipientResult => ({ idx, state: 'delivered', status: '2.0.0', reply: '250 2.0.0 ok', remoteMta: 'mx.b.test', reported });

async function withQueue(fn: (q: QueueStore, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qr-'));
  const q = new QueueStore(dir);
  try {
    await fn(q, dir);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('record: results marked reported finish the message in the same transaction (row and bytes gone); unreported ones wait for the report step', async () => {
  // a small message kept in its row, and one over INLINE_MAX in a file
  for (const body of [Buffer.from('hi\n'), Buffer.alloc(INLINE_MAX + 1, 'x')]) {
    await withQueue(async (q) => {
      const inFile = body.length > INLINE_MAX;
      const id = await q.enqueueBytes(body, rec('x@b.test', 'y@b.test'), 1000);
      assert.equal(existsSync(q.filePath(id)), inFile);
      assert.equal(await q.record(id, [delivered(0, true)], 2000), false, 'one recipient still pending');
      const m = (await q.get(id))!;
      assert.equal(m.recipients[0]!.state, 'delivered');
      assert.equal(m.recipients[0]!.reported, true);
      assert.equal(m.recipients[1]!.reported, false);
      assert.equal(await q.record(id, [delivered(1, true)], 2000), true);
      assert.equal(await q.get(id), null);
      assert.equal(existsSync(q.filePath(id)), false);

      const kept = await q.enqueueBytes(body, rec('z@b.test'), 1000);
      assert.equal(await q.record(kept, [delivered(0, false)], 2000), false, 'a DSN may be owed: not removed');
      assert.equal((await q.get(kept))!.recipients[0]!.reported, false);
      assert.deepEqual(await q.readMessage(kept), body);
      // a deferral is never "reported", whatever the caller says
      const deferred = await q.enqueueBytes(body, rec('d@b.test'), 1000);
      assert.equal(await q.record(deferred, [{ idx: 0, state: 'deferred', status: '4.0.0', reply: '451 later', nextAttempt: 9000, reported: true }], 2000), false);
      assert.equal((await q.get(deferred))!.recipients[0]!.reported, false);
    });
  }
});

test('record: results of the same turn share one transaction; one that fails is undone alone, the others are committed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qr-'));
  try {
    let q = new QueueStore(dir);
    const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => q.enqueueBytes(Buffer.from('hi\n'), rec(`r${i}@b.test`, `s${i}@b.test`), 1000)));
    const outcomes = await Promise.allSettled(
      ids.map((id, i) =>
        // message 2: its second result cannot be bound (an object as idx): that job throws after its first UPDATE ran;
        // message 5: its only result cannot be bound (a job of one statement, run without a savepoint of its own)
        q.record(id, i === 2 ? [delivered(0, false), { ...delivered(1, false), idx: {} as number }] : i === 5 ? [{ ...delivered(0, false), idx: {} as number }] : [delivered(0, false)], 2000),
      ),
    );
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected'],
    );
    await q.close();
    q = new QueueStore(dir);
    const states = await Promise.all(ids.map(async (id) => (await q.get(id))!.recipients[0]!.state));
    // the failed job's first UPDATE was rolled back with it (its savepoint), the others are on disk
    assert.deepEqual(states, ['delivered', 'delivered', 'queued', 'delivered', 'delivered', 'queued']);
    await q.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record: a result removes the message only when its recipient was still pending and every other recipient is final and reported', async () => {
  await withQueue(async (q) => {
    const bounced = (idx: number): { idx: number } & RecipientResult => ({ idx, state: 'bounced', status: '5.0.0', reply: '554 5.0.0 cancelled', countAttempt: false });
    // another recipient owes a DSN (bounced, not reported): the message stays for the report step
    const owed = await q.enqueueBytes(Buffer.from('hi\n'), rec('x@b.test', 'y@b.test'), 1000);
    assert.equal(await q.record(owed, [bounced(1)], 2000), false);
    assert.equal(await q.record(owed, [delivered(0, true)], 2000), false);
    assert.deepEqual((await q.get(owed))!.recipients.map((r) => [r.state, r.reported]), [['delivered', true], ['bounced', false]]);
    // the recipient itself is no longer pending (bounced meanwhile, DSN owed): a late result neither removes the message nor changes it
    const late = await q.enqueueBytes(Buffer.from('hi\n'), rec('z@b.test'), 1000);
    assert.equal(await q.record(late, [bounced(0)], 2000), false);
    assert.equal(await q.record(late, [delivered(0, true)], 2000), false);
    assert.deepEqual((await q.get(late))!.recipients.map((r) => [r.state, r.reported]), [['bounced', false]]);
    // the last pending recipient: gone, and its recipients with it
    const last = await q.enqueueBytes(Buffer.from('hi\n'), rec('w@b.test'), 1000);
    assert.equal(await q.record(last, [delivered(0, true)], 2000), true);
    assert.equal(await q.get(last), null);
    assert.equal(await q.count(), 2);
  });
});
