// The one group committer: concurrent writers share one commit, nobody is answered before it,
// one job's failure stays its own, a failed batch reaches every waiter.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GroupCommitter } from './group-commit.js';
import { until as untilShared } from '../../../test/helpers/until.js';
import { openDatabase, relaxedTransaction } from './open.js';

let dir: string;
let db: Database.Database;
/** A second connection: sees only what is committed. */
let reader: Database.Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'yubin-gc-'));
  const file = join(dir, 'g.sqlite');
  db = openDatabase(file, {
    synchronous: 'FULL',
    busyTimeoutMs: 1000,
    foreignKeys: true,
    migrations: [
      {
        module: 't',
        migrations: [
          {
            version: 1,
            name: 'rows',
            steps: [
              {
                sqlite: `CREATE TABLE parent (id INTEGER PRIMARY KEY);
                CREATE TABLE row (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)`,
              },
            ],
          },
        ],
      },
    ],
  });
  reader = new Database(file, { readonly: true });
});
afterEach(() => {
  reader.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const committed = (id: number): boolean => reader.prepare('SELECT 1 FROM row WHERE id = ?').get(id) !== undefined;

describe('GroupCommitter', () => {
  it('concurrent writers share one commit; each resolves with its value only once its row is committed', async () => {
    const gc = new GroupCommitter(db);
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    const seenAtResolve: boolean[] = [];
    const all = Array.from({ length: 20 }, (_, i) =>
      gc
        .run(() => {
          ins.run(i + 1);
          return i * 10;
        })
        .then((v) => {
          seenAtResolve[i] = committed(i + 1);
          return v;
        }),
    );
    assert.deepEqual(await Promise.all(all), Array.from({ length: 20 }, (_, i) => i * 10));
    assert.equal(gc.batches, 1);
    assert.deepEqual(seenAtResolve, Array.from({ length: 20 }, () => true));
    await gc.close();
  });

  it('the savepoint of a job keeps its statement journal in memory, not in a temporary file', async () => {
    const tempFiles = () => {
      const out: string[] = [];
      for (const fd of readdirSync('/proc/self/fd')) {
        try {
          const target = readlinkSync(`/proc/self/fd/${fd}`);
          if (/etilqs_/.test(target)) out.push(target);
        } catch {
          // closed meanwhile
        }
      }
      return out;
    };
    const g = new GroupCommitter(db);
    let during: string[] = ['not run'];
    await Promise.all([
      // The first job dirties many pages; the second changes them all again, so its savepoint
      // must keep their earlier images (more than SQLite's 64 KiB before a journal spills to a file).
      g.run(() => {
        const ins = db.prepare('INSERT INTO parent (id) VALUES (?)');
        for (let i = 1; i <= 20_000; i++) ins.run(i);
      }, undefined),
      g.run(() => {
        db.prepare('UPDATE parent SET id = id + 100000').run();
        during = tempFiles();
      }, undefined),
    ]);
    assert.deepEqual(during, []);
  });

  it('the committed hook runs after COMMIT and before any waiter settles', async () => {
    const order: string[] = [];
    const gc = new GroupCommitter<number>(db, {
      committed: (ids, ok) => order.push(`committed ${ids.join(',')} ${ok.join(',')} visible=${ids.every(committed)}`),
    });
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    await Promise.all([1, 2].map((id) => gc.run(() => ins.run(id), id).then(() => order.push(`resolved ${id}`))));
    assert.deepEqual(order, ['committed 1,2 true,true visible=true', 'resolved 1', 'resolved 2']);
  });

  it('a job that throws rejects alone; its changes are undone, the others commit', async () => {
    const gc = new GroupCommitter(db);
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    const results = await Promise.allSettled([
      gc.run(() => ins.run(1)),
      gc.run(() => {
        ins.run(2);
        throw new Error('over quota');
      }),
      gc.run(() => ins.run(3)),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /over quota/);
    assert.deepEqual([committed(1), committed(2), committed(3)], [true, false, true]);
    assert.equal(gc.batches, 1);
  });

  it('a failed COMMIT rejects every waiter with its error; nothing of the batch stays', async () => {
    const failed: unknown[] = [];
    const gc = new GroupCommitter<number>(db, { failed: (_ids, err) => failed.push(err) });
    const ins = db.prepare('INSERT INTO row (id, parent) VALUES (?, ?)');
    // The deferred foreign key is checked at COMMIT: the whole transaction fails there.
    const results = await Promise.allSettled([gc.run(() => ins.run(1, null), 1), gc.run(() => ins.run(2, 99), 2), gc.run(() => ins.run(3, null), 3)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    for (const r of results) assert.match(String((r as PromiseRejectedResult).reason), /FOREIGN KEY/);
    assert.equal(failed.length, 1);
    assert.deepEqual([committed(1), committed(2), committed(3)], [false, false, false]);
    assert.equal(db.inTransaction, false);
    assert.equal(gc.batches, 0);
    // The committer goes on.
    await gc.run(() => ins.run(4, null), 4);
    assert.ok(committed(4));
  });

  it('a failed prepare (fsync) rejects every waiter and runs no job; a per-job prepare error fails that job only', async () => {
    let mode: 'fail-all' | 'fail-2' = 'fail-all';
    const gc = new GroupCommitter<number>(db, {
      prepare: async (ids) => {
        if (mode === 'fail-all') throw new Error('EIO: fsync failed');
        return ids.map((id) => (id === 2 ? new Error('link failed') : undefined));
      },
    });
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    let ran = 0;
    const job = (id: number): Promise<unknown> =>
      gc.run(() => {
        ran++;
        return ins.run(id);
      }, id);
    const all = await Promise.allSettled([job(1), job(2)]);
    assert.deepEqual(all.map((r) => r.status === 'rejected' && String(r.reason)), ['Error: EIO: fsync failed', 'Error: EIO: fsync failed']);
    assert.equal(ran, 0);
    mode = 'fail-2';
    const some = await Promise.allSettled([job(1), job(2), job(3)]);
    assert.deepEqual(some.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(ran, 2);
    assert.deepEqual([committed(1), committed(2), committed(3)], [true, false, true]);
  });

  it('jobs arriving during a commit wait for the next batch; close waits for them and refuses new ones', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let prepares = 0;
    const gc = new GroupCommitter<number>(db, {
      prepare: async () => {
        if (prepares++ === 0) await gate;
      },
    });
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    const first = gc.run(() => ins.run(1), 1);
    await new Promise<void>((r) => setImmediate(r));
    // The first batch is being prepared: these two join the next one.
    const later = [gc.run(() => ins.run(2), 2), gc.run(() => ins.run(3), 3)];
    const closing = gc.close();
    await assert.rejects(gc.run(() => ins.run(9), 9), /closed/);
    release();
    await Promise.all([first, ...later, closing]);
    assert.equal(gc.batches, 2);
    assert.deepEqual([committed(1), committed(2), committed(3), committed(9)], [true, true, true, false]);
  });
});

describe('GroupCommitter with asyncWalSync', () => {
  /** A WAL sync the test releases by hand; records the file each call synced. */
  function gatedSync() {
    const calls: Array<{ file: string; release: () => void; fail: (err: Error) => void }> = [];
    const syncWal = (fd: number) =>
      new Promise<void>((resolve, reject) => calls.push({ file: readlinkSync(`/proc/self/fd/${fd}`), release: resolve, fail: reject }));
    return { calls, syncWal };
  }
  const turn = () => new Promise<void>((r) => setImmediate(r));
  /** Waits until `cond` holds, looking at every turn of the event loop; fails instead of hanging. */
  const until = (cond: () => boolean, what: string) => untilShared(what, cond, { everyMs: 0, timeoutMs: 10_000 });

  it('COMMITs with synchronous=NORMAL; the hook and the waiters wait for the fdatasync of the -wal file; other writers keep FULL', async () => {
    const { calls, syncWal } = gatedSync();
    const order: string[] = [];
    const gc = new GroupCommitter<number>(db, { committed: (ids) => order.push(`committed ${ids.join(',')}`) }, { asyncWalSync: true, syncWal });
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    const levels: unknown[] = [];
    const all = [1, 2].map((id) =>
      gc
        .run(() => {
          levels.push(db.pragma('synchronous', { simple: true }));
          return ins.run(id);
        }, id)
        .then(() => order.push(`resolved ${id}`)),
    );
    await until(() => calls.length > 0, 'an fdatasync of the WAL');
    // In the WAL (a reader sees it), not yet synced: nobody is answered.
    assert.deepEqual([committed(1), committed(2)], [true, true]);
    assert.deepEqual(levels, [1, 1]);
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    assert.equal(calls[0]!.file, join(dir, 'g.sqlite-wal'));
    await turn();
    assert.deepEqual(order, []);
    assert.equal(gc.batches, 0);
    calls[0]!.release();
    await Promise.all(all);
    assert.deepEqual(order, ['committed 1,2', 'resolved 1', 'resolved 2']);
    assert.equal(gc.batches, 1);
    await gc.close();
  });

  it('the read barrier: durable() waits until what was committed when it was asked is on disk, not for later batches', async () => {
    const { calls, syncWal } = gatedSync();
    const gc = new GroupCommitter<number>(db, {}, { asyncWalSync: true, syncWal });
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    assert.equal(gc.durable(), null, 'nothing committed: no wait');
    const first = gc.run(() => ins.run(1), 1);
    await until(() => calls.length > 0, 'an fdatasync of the WAL');
    const barrier = gc.durable();
    assert.ok(barrier, 'a batch in the WAL and not on disk: readers wait');
    let passed = false;
    void barrier.then(() => (passed = true));
    const second = gc.run(() => ins.run(2), 2);
    await turn();
    assert.equal(passed, false, 'the barrier holds while the fdatasync runs');
    calls[0]!.release();
    await first;
    await turn();
    assert.equal(passed, true, 'released with the fdatasync that covers its batch');
    // The second job waited for the first fdatasync; now it is in the WAL, not yet on disk.
    await until(() => committed(2), 'the second batch in the WAL');
    const barrier2 = gc.durable()!;
    assert.ok(barrier2, 'a later batch in the WAL: readers wait again');
    let passed2 = false;
    void barrier2.then(() => (passed2 = true));
    await until(() => calls.length === 2, 'the second fdatasync');
    await turn();
    assert.equal(passed2, false, 'a later barrier waits for the next fdatasync');
    calls[1]!.release();
    await second;
    await turn();
    assert.equal(passed2, true);
    assert.equal(gc.durable(), null, 'all on disk again');
    await gc.close();
  });

  it('a failed fdatasync releases the read barrier (writes fail from then on)', async () => {
    const { calls, syncWal } = gatedSync();
    const gc = new GroupCommitter<number>(db, {}, { asyncWalSync: true, syncWal });
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    const first = gc.run(() => ins.run(1), 1);
    await until(() => calls.length > 0, 'an fdatasync of the WAL');
    const barrier = gc.durable()!;
    calls[0]!.fail(new Error('EIO'));
    await assert.rejects(first, /EIO/);
    await barrier;
    assert.equal(gc.durable(), null);
    await assert.rejects(gc.run(() => ins.run(2), 2), /restart/);
    await gc.close();
  });

  it('jobs arriving while an fdatasync runs wait for it, then commit in one transaction and share the next; close waits for it', async () => {
    const { calls, syncWal } = gatedSync();
    const gc = new GroupCommitter<number>(db, {}, { asyncWalSync: true, syncWal });
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    const done = new Set<number>();
    const job = (id: number) => gc.run(() => ins.run(id), id).then(() => done.add(id));
    const first = job(1);
    await until(() => calls.length > 0, 'an fdatasync of the WAL');
    // In separate turns of the event loop (each would have been a transaction of its own).
    const later = [job(2)];
    await turn();
    later.push(job(3));
    await turn();
    await turn();
    assert.deepEqual([committed(2), committed(3)], [false, false], 'not committed while the fdatasync runs');
    assert.equal(calls.length, 1, 'one fdatasync at a time');
    calls[0]!.release();
    await first;
    await until(() => calls.length === 2, 'the second fdatasync');
    assert.deepEqual([committed(2), committed(3)], [true, true]);
    assert.deepEqual([...done], [1], 'the jobs wait for the second fdatasync');
    const closing = gc.close();
    await turn();
    calls[1]!.release();
    await Promise.all([...later, closing]);
    assert.deepEqual([...done].sort(), [1, 2, 3]);
    assert.equal(gc.batches, 2, 'jobs 2 and 3 shared one transaction');
  });

  it('a failed fdatasync rejects its waiters and the committer refuses every later job', async () => {
    const { calls, syncWal } = gatedSync();
    const failed: unknown[] = [];
    const gc = new GroupCommitter<number>(db, { failed: (_ids, err) => failed.push(err) }, { asyncWalSync: true, syncWal });
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    const first = gc.run(() => ins.run(1), 1);
    await until(() => calls.length > 0, 'an fdatasync of the WAL');
    calls[0]!.fail(new Error('EIO: i/o error, fdatasync'));
    await assert.rejects(first, /EIO/);
    assert.equal(failed.length, 1);
    await assert.rejects(gc.run(() => ins.run(2), 2), /could not be synced/);
    assert.equal(committed(2), false);
    await gc.close();
  });

  it('with the real fdatasync, each waiter resolves with its committed row', async () => {
    const gc = new GroupCommitter(db, {}, { asyncWalSync: true });
    const ins = db.prepare('INSERT INTO row (id) VALUES (?)');
    const ids = Array.from({ length: 30 }, (_, i) => i + 1);
    await Promise.all(ids.map((id) => gc.run(() => ins.run(id)).then(() => assert.ok(committed(id)))));
    await gc.close();
  });
});

describe('relaxedTransaction', () => {
  it('commits with synchronous=NORMAL, then gives the database its FULL back (also after a throw, which rolls back)', () => {
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    const inside = relaxedTransaction(db, () => {
      db.prepare('INSERT INTO row (id) VALUES (1)').run();
      return db.pragma('synchronous', { simple: true });
    });
    assert.equal(inside, 1);
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    assert.ok(committed(1));
    assert.throws(() =>
      relaxedTransaction(db, () => {
        db.prepare('INSERT INTO row (id) VALUES (2)').run();
        throw new Error('no');
      }),
    );
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    assert.equal(committed(2), false);
  });
});
