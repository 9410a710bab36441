import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, utimesSync, existsSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { QueueStore, INLINE_MAX } from './queue.js';
import { shippedSql } from '../db/schema/shipped.fixture.js';

const rec = (to: string) => ({ from: 'a@a.test', recipients: [{ address: to, notify: ['SUCCESS', 'FAILURE'] as Array<'SUCCESS' | 'FAILURE'>, orcpt: { type: 'rfc822', address: to } }], size: 3, needsUtf8: false, headerFromDomain: 'a.test', ret: 'HDRS' as const, envid: 'x' });

test('enqueue: 50 at once all committed (one group commit), with their envelope and files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const q = new QueueStore(dir);
  try {
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => q.enqueueBytes(Buffer.from('hi\n'), rec(`r${i}@b.test`), 1000)));
    assert.equal(new Set(ids).size, 50);
    assert.equal(await q.count(), 50);
    const m = (await q.get(ids[7]!))!;
    assert.equal(m.from, 'a@a.test');
    assert.equal(m.ret, 'HDRS');
    assert.equal(m.envid, 'x');
    assert.deepEqual(m.recipients[0]!.notify, ['SUCCESS', 'FAILURE']);
    assert.deepEqual(m.recipients[0]!.orcpt, { type: 'rfc822', address: 'r7@b.test' });
    assert.equal(m.recipients[0]!.domain, 'b.test');
    assert.equal((await q.readMessage(ids[7]!)).toString(), 'hi\n');
    assert.deepEqual((await q.list({ limit: 10 })).map((x) => x.id), [...ids].sort().slice(0, 10));
    assert.equal((await q.due(1000, 100)).length, 50);
    assert.equal((await q.due(999, 100)).length, 0);
    assert.throws(() => q.filePath('../x'), /malformed queue id/);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a message up to INLINE_MAX is kept in its row (no file), a larger one in a file; both read back whole and by range, after reopening too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  try {
    let q = new QueueStore(dir);
    const small = Buffer.from('Subject: s\r\n\r\nsmall\r\n');
    const large = Buffer.alloc(INLINE_MAX + 1, 'L');
    const edge = Buffer.alloc(INLINE_MAX, 'E');
    const ids = [await q.enqueueBytes(small, rec('a@b.test'), 1000), await q.enqueueBytes(large, rec('b@b.test'), 1000), await q.enqueueBytes(edge, rec('c@b.test'), 1000)];
    assert.deepEqual(readdirSync(join(dir, 'queue')), [`${ids[1]}.eml`]);
    await q.close();
    q = new QueueStore(dir);
    const read = async (id: string, range?: { start?: number; end?: number }) => {
      const parts: Buffer[] = [];
      for await (const c of q.openMessage(id, range)) parts.push(c as Buffer);
      return Buffer.concat(parts);
    };
    for (const [i, bytes] of [small, large, edge].entries()) {
      assert.deepEqual(await q.readMessage(ids[i]!), bytes);
      assert.deepEqual(await read(ids[i]!), bytes);
      assert.deepEqual(await read(ids[i]!, { start: 3, end: 10 }), bytes.subarray(3, 10));
      assert.deepEqual(await read(ids[i]!, { start: 5 }), bytes.subarray(5));
    }
    for (const id of ids) await q.remove(id);
    assert.deepEqual(readdirSync(join(dir, 'queue')), []);
    await q.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('enqueue resolves only after the WAL fdatasync that covers its commit (off the main thread); a failed one rejects it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const gates: Array<{ fd: number; open: (err?: Error) => void }> = [];
  const q = new QueueStore(dir, { syncWal: (fd) => new Promise<void>((resolve, reject) => gates.push({ fd, open: (err) => (err ? reject(err) : resolve()) })) });
  try {
    let settled = false;
    const p = q.enqueueBytes(Buffer.from('hi\n'), rec('a@b.test'), 1000).finally(() => (settled = true));
    const gate = async (n: number) => {
      for (const end = Date.now() + 5000; gates.length < n; await new Promise((r) => setImmediate(r))) {
        if (Date.now() > end) assert.fail('the queue never fdatasynced its WAL');
      }
    };
    await gate(1);
    // committed (readable) but not acknowledged while its fdatasync is pending
    assert.equal(await q.count(), 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(settled, false);
    assert.match(readlinkSync(`/proc/self/fd/${gates[0]!.fd}`), /queue\.sqlite-wal$/);
    gates[0]!.open();
    assert.ok(await p);
    const failing = q.enqueueBytes(Buffer.from('hi\n'), rec('b@b.test'), 1000);
    await gate(2);
    gates[1]!.open(new Error('EIO'));
    await assert.rejects(failing, /EIO/);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('orphan files (a crash before the commit) are swept at start, unless young', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const q = new QueueStore(dir);
  try {
    // over INLINE_MAX: a file in the queue directory
    const id = await q.enqueueBytes(Buffer.alloc(INLINE_MAX + 1, 'k'), rec('b@b.test'), 1000);
    writeFileSync(join(dir, 'queue', '00OLDORPHAN0001.eml'), 'old');
    utimesSync(join(dir, 'queue', '00OLDORPHAN0001.eml'), new Date(0), new Date(0));
    writeFileSync(join(dir, 'queue', '00NEWORPHAN0001.eml'), 'young');
    assert.equal(await q.sweepOrphans(), 1);
    assert.deepEqual(readdirSync(join(dir, 'queue')).sort(), ['00NEWORPHAN0001.eml', `${id}.eml`].sort());
    assert.ok(existsSync(q.filePath(id)));
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a queue database newer than the code refuses to open (schema_migrations, or user_version of an older Yubin)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  try {
    new QueueStore(dir).close();
    const file = join(dir, 'queue.sqlite');
    let db = new Database(file);
    db.prepare("INSERT INTO schema_migrations (module, version, name, applied_at) VALUES ('queue', 3, 'future', 0)").run();
    db.close();
    assert.throws(() => new QueueStore(dir), (err: unknown) => err instanceof Error && err.message.includes(file) && /schema version 3 for "queue" but this Yubin knows only up to 2/.test(err.message));
    db = new Database(file);
    db.prepare("DELETE FROM schema_migrations WHERE version = 3").run();
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => new QueueStore(dir), /schema version 99 for "queue"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a queue.sqlite made the old way (PRAGMA user_version, no schema_migrations) opens with its messages', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  try {
    const file = join(dir, 'queue.sqlite');
    let db = new Database(file);
    db.pragma('journal_mode = WAL');
    // What queue.ts did before the shared runner: the version-1 SQL, then user_version = 1.
    db.exec(shippedSql('sqlite', 'queue', 1));
    db.pragma('user_version = 1');
    db.prepare("INSERT INTO messages (id, mail_from, size, created_at) VALUES ('00OLD0001', 'a@a.test', 3, 1000)").run();
    db.prepare("INSERT INTO recipients (message_id, idx, address, domain, state, next_attempt) VALUES ('00OLD0001', 0, 'b@b.test', 'b.test', 'queued', 1000)").run();
    db.close();
    const q = new QueueStore(dir);
    try {
      assert.equal((await q.get('00OLD0001'))!.recipients[0]!.address, 'b@b.test');
      const id = await q.enqueueBytes(Buffer.from('new'), rec('c@c.test'), 2000);
      assert.equal(await q.count(), 2);
      assert.ok(await q.get(id));
    } finally {
      await q.close();
    }
    db = new Database(file);
    // version 1 adopted from user_version, version 2 run on it (and user_version kept in step)
    assert.deepEqual(db.prepare("SELECT version FROM schema_migrations WHERE module = 'queue' ORDER BY version").all(), [{ version: 1 }, { version: 2 }]);
    assert.equal(db.pragma('user_version', { simple: true }), 2);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('enqueues waiting when the queue closes fail and leave no file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const q = new QueueStore(dir);
  try {
    const p = q.enqueueBytes(Buffer.from('late'), rec('b@b.test'), 1000);
    await q.close();
    await assert.rejects(p, /closed|not open/);
    assert.deepEqual(readdirSync(join(dir, 'queue')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record, report and finish: the row and the file go once every recipient is final and reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const q = new QueueStore(dir);
  try {
    const id = await q.enqueueBytes(Buffer.from('x'), { ...rec('b@b.test'), recipients: [{ address: 'b@b.test' }, { address: 'c@c.test' }] }, 1000);
    await q.record(id, [{ idx: 0, state: 'delivered', status: '2.0.0', reply: '250 ok' }, { idx: 1, state: 'deferred', status: '4.0.0', reply: '451 later', nextAttempt: 5000 }], 2000);
    assert.equal(await q.markReported(id, [0]), false);
    const m = (await q.get(id))!;
    assert.deepEqual(m.recipients.map((r) => [r.state, r.attempts, r.reported]), [['delivered', 1, true], ['deferred', 1, false]]);
    // a later result never overwrites a final state
    await q.record(id, [{ idx: 0, state: 'bounced', status: '5.0.0', reply: '550 no' }], 3000);
    assert.equal((await q.get(id))!.recipients[0]!.state, 'delivered');
    assert.deepEqual(await q.housekeeping(), { unreported: [], finished: [] });
    await q.record(id, [{ idx: 1, state: 'bounced', status: '5.0.0', reply: '550 no' }], 6000);
    assert.deepEqual((await q.housekeeping()).unreported, [id]);
    assert.equal(await q.markReported(id, [1]), true);
    assert.equal(await q.get(id), null);
    assert.equal(existsSync(q.filePath(id)), false);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('small messages enqueued together share one job of the group commit; one that fails is undone alone (no row left), the others are stored', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const q = new QueueStore(dir);
  try {
    // the second one fails after its message row went in (its recipient's NOTIFY cannot be joined)
    const bad = { ...rec('bad@b.test'), recipients: [{ address: 'bad@b.test', notify: {} as Array<'SUCCESS'> }] };
    const outcomes = await Promise.allSettled([q.enqueueBytes(Buffer.from('1\n'), rec('a@b.test'), 1000), q.enqueueBytes(Buffer.from('2\n'), bad, 1000), q.enqueueBytes(Buffer.from('3\n'), rec('c@b.test'), 1000)]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal(await q.count(), 2);
    const kept = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    assert.deepEqual(await Promise.all(kept.map(async (id) => (await q.readMessage(id)).toString())), ['1\n', '3\n']);
    // alone in its batch, a failure rejects that enqueue and nothing else
    await assert.rejects(q.enqueueBytes(Buffer.from('4\n'), bad, 1000));
    assert.equal(await q.count(), 2);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('getForDelivery: the message, every recipient, and the bytes (in the row or in a file) when within maxContent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const q = new QueueStore(dir);
  try {
    const small = Buffer.from('Subject: s\r\n\r\nsmall\r\n');
    const large = Buffer.alloc(INLINE_MAX + 1, 'L');
    // every column of both rows set to something distinct: each field read from its own column
    const three = { ...rec('a@b.test'), size: small.length, submittedBy: 'alice@a.test', clientIp: '192.0.2.1', smtputf8: true, body: '8BITMIME' as const, requireTls: true };
    three.recipients = [...three.recipients, { address: 'b@c.test' }, { address: 'c@d.test' }] as typeof three.recipients;
    const s = await q.enqueueBytes(small, three, 1000);
    const l = await q.enqueueBytes(large, { ...rec('x@b.test'), size: large.length }, 1000);
    await q.addRecipients(s, [{ address: 'd@e.test' }], 1000);
    await q.record(s, [{ idx: 1, state: 'deferred', status: '4.2.0', reply: '451 4.2.0 later', remoteMta: 'mx.c.test', nextAttempt: 5000 }], 2000);
    await q.record(s, [{ idx: 2, state: 'delivered', status: '2.0.0', reply: '250 ok', remoteMta: 'mx.d.test', dsnAction: 'relayed' }], 2000);
    await q.markDelayWarned(s, [1]);
    const got = (await q.getForDelivery(s, 1000))!;
    assert.deepEqual(got.content, small);
    assert.deepEqual(got.message, await q.get(s));
    assert.deepEqual(got.message.recipients.map((r) => r.address), ['a@b.test', 'b@c.test', 'c@d.test', 'd@e.test']);
    assert.equal(got.message.recipients[1]!.lastReply, '451 4.2.0 later');
    assert.equal(got.message.recipients[2]!.dsnAction, 'relayed');
    assert.equal((await q.getForDelivery(s, small.length - 1))!.content, null);
    assert.equal((await q.getForDelivery(s, -1))!.content, null);
    assert.deepEqual((await q.getForDelivery(l, INLINE_MAX + 1))!.content, large);
    assert.equal((await q.getForDelivery(l, INLINE_MAX))!.content, null);
    assert.equal(await q.getForDelivery('0000000000DEADBEEF', 1000), null);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a burst of small enqueues commits in batches of at most 512: the first batch is acknowledged after its own fdatasync while the rest wait for the next', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qq-'));
  const gates: Array<() => void> = [];
  let held = true;
  const q = new QueueStore(dir, { syncWal: () => (held ? new Promise<void>((resolve) => gates.push(resolve)) : Promise.resolve()) });
  try {
    let done = 0;
    const all = Promise.all(Array.from({ length: 1100 }, (_, i) => q.enqueueBytes(Buffer.from(`m${i}\n`), rec(`r${i}@b.test`), 1000).then(() => done++)));
    const gate = async (n: number) => {
      for (const end = Date.now() + 5000; gates.length < n; await new Promise((r) => setImmediate(r))) {
        if (Date.now() > end) assert.fail(`fdatasync ${n} never came`);
      }
    };
    await gate(1);
    gates[0]!();
    await gate(2);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(done, 512);
    // the rest of the burst was committed meanwhile: the next fdatasyncs cover it
    held = false;
    for (const g of gates.slice(1)) g();
    await all;
    assert.equal(done, 1100);
    assert.equal(await q.count(), 1100);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
