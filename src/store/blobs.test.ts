// Blob files: a deferSync writer's file is fsynced by the commit that first references it (the
// group commit's prepare step), never left unsynced when the metadata commits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
      assert.deepEqual(await readFile(deferred[2]!.tempPath!), big);
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
      assert.equal(openOn(a.tempPath!), 1, 'kept open for the commit');
      await files.commitFiles([a]);
      assert.equal(openOn(a.tempPath!), 0, 'closed by the commit');
      await files.discard(b);
      assert.equal(openOn(b.tempPath!), 0, 'closed by discard');
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

describe('blob files: small messages staged in memory', () => {
  async function writeMemory(files: BlobFiles, bytes: Buffer, deferSync = true) {
    const w = files.createWriter({ deferSync, memory: true });
    for (let off = 0; off < bytes.length; off += 4000) await w.write(bytes.subarray(off, off + 4000));
    return w.finish();
  }

  it('no temporary file; the commit writes the content-addressed file (fsynced by the writer thread), directories synced as for linked files', async () => {
    await withFiles(async (files) => {
      const s = await writeMemory(files, message(1));
      assert.equal(s.tempPath, null);
      assert.deepEqual(s.bytes, message(1));
      assert.deepEqual(readdirSync(files.tmpDir), [], 'nothing written before the commit');
      assert.equal(s.structure.envelope.subject, 'm1', 'parsed as it was written');
      const chunks: Buffer[] = [];
      for await (const c of files.openStaged(s)) chunks.push(c as Buffer);
      assert.deepEqual(Buffer.concat(chunks), message(1), 'openStaged reads the bytes');
      const failed = await files.commitFiles([s, s]);
      assert.equal(failed.size, 0);
      assert.equal(files.writtenFromMemory, 1, 'written once for two references in one batch');
      assert.deepEqual(await readFile(files.pathOf(s.id)), message(1));
      assert.equal(files.dirsSynced, 3, 'root (new middle level), middle (new leaf), leaf (the new entry)');
      assert.deepEqual(readdirSync(dirname(files.pathOf(s.id))), [s.id], 'the temporary file (beside it) was renamed into place');
      assert.deepEqual(readdirSync(files.tmpDir), [], 'nothing in tmp/');
      // Committed again: the file exists with its size, nothing written.
      await files.commitFiles([s]);
      assert.equal(files.writtenFromMemory, 1);
      await files.discard(s); // nothing on disk to remove; the committed file stays
      assert.deepEqual(await readFile(files.pathOf(s.id)), message(1));
    });
  });

  it('a damaged file under the id (wrong size) is replaced whole and reads back; a removed one is gone', async () => {
    await withFiles(async (files) => {
      const s = await writeMemory(files, message(2));
      await files.commitFiles([s]); // makes the directories
      await unlink(files.pathOf(s.id));
      await writeFile(files.pathOf(s.id), 'torn');
      const again = await writeMemory(files, message(2));
      assert.equal((await files.commitFiles([again])).size, 0);
      assert.deepEqual(await readFile(files.pathOf(s.id)), message(2));
      assert.deepEqual(await files.read(s.id, { start: 0, end: 7 }), message(2).subarray(0, 7));
      assert.deepEqual(await files.read(s.id, { start: 5, end: 1e9 }), message(2).subarray(5));
      assert.deepEqual((await files.readMany([{ blobId: s.id, start: 0, end: 1e9 }]))[0], message(2));
      files.removeFileSync(s.id);
      await assert.rejects(files.read(s.id), /does not exist/);
      assert.deepEqual(await files.readMany([{ blobId: s.id, start: 0, end: 10 }]), [null]);
    });
  });

  it('a message of 64 KiB or more is written to a temporary file as without the option', async () => {
    await withFiles(async (files) => {
      const big = Buffer.concat([message(3), Buffer.alloc(64 * 1024, 0x61)]);
      const s = await writeMemory(files, big, false);
      assert.equal(s.bytes, undefined);
      assert.ok(s.tempPath);
      assert.deepEqual(await readFile(s.tempPath), big);
      await files.commitFiles([s]);
      assert.deepEqual(await readFile(files.pathOf(s.id)), big);
      await files.discard(s);
    });
  });

  it('ensureFileSync (a first reference inside the transaction) writes the file from memory', async () => {
    await withFiles(async (files) => {
      const s = await writeMemory(files, message(4));
      files.ensureFileSync(s);
      assert.deepEqual(await readFile(files.pathOf(s.id)), message(4));
      assert.deepEqual(readdirSync(files.tmpDir), []);
      await unlink(files.pathOf(s.id));
      files.ensureFileSync(s);
      assert.deepEqual(await readFile(files.pathOf(s.id)), message(4));
    });
  });

  it('a file that cannot be written fails its blob alone', async () => {
    await withFiles(async (files) => {
      const good = await writeMemory(files, message(5));
      const bad = await writeMemory(files, message(6));
      // A directory where the blob's file must go: the rename fails for that one only.
      await mkdir(files.pathOf(bad.id), { recursive: true });
      await writeFile(join(files.pathOf(bad.id), 'x'), 'x');
      const failed = await files.commitFiles([good, bad]);
      assert.deepEqual([...failed.keys()], [bad.id]);
      assert.deepEqual(await readFile(files.pathOf(good.id)), message(5));
      assert.deepEqual(readdirSync(dirname(files.pathOf(bad.id))), [bad.id], 'the failed one\'s temporary file removed');
      await files.close();
    });
  });
});
