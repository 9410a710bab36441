// The background checkpointer: the connection's own checkpoints are off; a thread copies the WAL
// back into the database file after commits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BackgroundCheckpointer } from './checkpoint.js';
import { until } from '../../../test/helpers/until.js';

async function withDb(fn: (db: Database.Database, path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-ckpt-'));
  const path = join(dir, 'x.sqlite');
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
    await fn(db, path);
  } finally {
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Commits `n` rows of 4 KiB, one transaction each. */
function write(db: Database.Database, n: number): void {
  const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
  for (let i = 0; i < n; i++) ins.run(Buffer.alloc(4096, i));
}

test('the connection no longer checkpoints in its COMMITs; the thread copies every page of the WAL back', async () => {
  await withDb(async (db, path) => {
    const c = new BackgroundCheckpointer(db, 10);
    try {
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
      const before = (await stat(path)).size;
      write(db, 1500); // over 1,000 pages: the connection would have checkpointed by itself
      assert.equal((await stat(path)).size, before, 'nothing copied into the database file by the commits');
      await c.checkpointNow();
      const r = c.last as { busy: number; log: number; checkpointed: number };
      assert.equal(r.busy, 0);
      assert.ok(r.log >= 1500, `the WAL held the commits (${r.log} pages)`);
      assert.equal(r.checkpointed, r.log, 'every page copied');
      assert.ok((await stat(path)).size > before + 1500 * 4096, 'the rows are in the database file');
      assert.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 1500);
    } finally {
      await c.close();
    }
  });
});

test('a commit noted schedules one checkpoint within the interval; none while nothing is written', async () => {
  await withDb(async (db) => {
    const c = new BackgroundCheckpointer(db, 10);
    try {
      write(db, 10);
      c.noteCommit();
      c.noteCommit();
      await until('a checkpoint', () => c.runs > 0, { everyMs: 10 });
      assert.equal(c.runs, 1);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(c.runs, 1, 'no commit since: no more checkpoints');
    } finally {
      await c.close();
    }
  });
});
