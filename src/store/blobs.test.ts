// Blob files: a deferSync writer's file is fsynced by the commit that first references it (the
// group commit's prepare step), never left unsynced when the metadata commits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobFiles } from './blobs.js';
import { createMessageParser } from '../message/parser.js';

const message = (n: number) => Buffer.from(`Subject: m${n}\r\nFrom: a@b.test\r\n\r\nbody ${n}\r\n`);

async function withFiles(fn: (files: BlobFiles) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-blobs-'));
  try {
    const files = new BlobFiles(dir, createMessageParser);
    await files.init();
    await fn(files);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function write(files: BlobFiles, bytes: Buffer, deferSync: boolean) {
  const w = files.createWriter({ deferSync });
  await w.write(bytes);
  return w.finish();
}

describe('blob files: deferred fsync', () => {
  it('commitFiles fsyncs the files of deferSync writers (one round for the batch), not the others', async () => {
    await withFiles(async (files) => {
      // Two small ones (written in one synchronous step) and one over the write buffer (streamed).
      const big = Buffer.concat([message(3), Buffer.alloc(200 * 1024, 0x61)]);
      const deferred = await Promise.all([write(files, message(1), true), write(files, message(2), true), write(files, big, true)]);
      assert.deepEqual(await readFile(deferred[2]!.tempPath), big);
      const synced = await write(files, message(4), false);
      assert.equal(files.syncedAtCommit, 0, 'finish() of a deferSync writer does not fsync');
      const failed = await files.commitFiles([...deferred, synced]);
      assert.equal(failed.size, 0);
      assert.equal(files.syncedAtCommit, 3, 'each deferred file fsynced once by the commit; the synced one not again');
      for (const s of [...deferred, synced]) assert.equal((await stat(files.pathOf(s.id))).size, s.size);
      // Committed again (another reference): nothing left to sync.
      await files.commitFiles(deferred);
      assert.equal(files.syncedAtCommit, 3);
    });
  });

  it('ensureFileSync (a first reference inside the transaction) fsyncs a deferred file before linking it', async () => {
    await withFiles(async (files) => {
      const s = await write(files, message(5), true);
      files.ensureFileSync(s);
      assert.equal(files.syncedAtCommit, 1);
      assert.equal((await stat(files.pathOf(s.id))).size, s.size);
      // The committed file removed (another process's last reference went): linked again, no sync needed.
      await unlink(files.pathOf(s.id));
      files.ensureFileSync(s);
      assert.equal(files.syncedAtCommit, 1);
      await files.discard(s);
    });
  });

  it('a deferred file stays open from finish() until the commit syncs it (or discard), then its descriptor is closed', async () => {
    await withFiles(async (files) => {
      const openOn = (path: string) => readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).replace(/ \(deleted\)$/, '') === path;
        } catch {
          return false;
        }
      }).length;
      const a = await write(files, message(6), true);
      const b = await write(files, message(7), true);
      assert.equal(openOn(a.tempPath), 1, 'kept open for the commit');
      await files.commitFiles([a]);
      assert.equal(openOn(a.tempPath), 0, 'closed by the commit');
      await files.discard(b);
      assert.equal(openOn(b.tempPath), 0, 'closed by discard');
      await files.discard(a);
    });
  });
});

describe('blob files: directories', () => {
  it('a new leaf directory has its parent synced; the root only when the middle level is new too', async () => {
    await withFiles(async (files) => {
      // Messages until two ids share their first level and differ in the second.
      const staged = await Promise.all(Array.from({ length: 64 }, (_, i) => write(files, message(100 + i), false)));
      let pair: [(typeof staged)[number], (typeof staged)[number]] | null = null;
      for (const x of staged) for (const y of staged) if (!pair && x.id.slice(0, 2) === y.id.slice(0, 2) && x.id.slice(2, 4) !== y.id.slice(2, 4)) pair = [x, y];
      assert.ok(pair, 'two ids with the same first level among 64');
      await files.commitFiles([pair[0]]);
      assert.equal(files.dirsSynced, 3, 'root (for the new middle level), middle, leaf');
      await files.commitFiles([pair[1]]);
      assert.equal(files.dirsSynced, 5, 'middle (for the new leaf) and leaf: not the root');
      for (const s of staged) await files.discard(s);
    });
  });
});
