// The reader thread: many ranges in one step, clamped to each file, a missing file reported by
// its error code (the caller maps ENOENT to "blob gone"), order kept across batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobReader } from './blob-reader.js';

test('reads ranges of many files in one batch, in order, clamped to each file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-blob-reader-'));
  const reader = new BlobReader();
  t.after(async () => {
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const files = Array.from({ length: 300 }, (_, i) => {
    const path = join(dir, `f${i}`);
    writeFileSync(path, Buffer.from(`file ${i}: ${'x'.repeat(i)}\r\n`));
    return path;
  });
  const reqs = files.map((path, i) => ({ path, start: i % 3, end: i % 2 ? 1_000_000 : 6 }));
  const got = await reader.read(reqs);
  assert.equal(got.length, files.length);
  got.forEach((r, i) => {
    const whole = Buffer.from(`file ${i}: ${'x'.repeat(i)}\r\n`);
    assert.ok(Buffer.isBuffer(r), `request ${i} read`);
    assert.deepEqual(r, whole.subarray(i % 3, i % 2 ? whole.length : 6));
  });
});

test('a missing file is its own result (ENOENT); the others in the batch are read; empty ranges are empty', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-blob-reader-'));
  const reader = new BlobReader();
  t.after(async () => {
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'a'), 'hello world');
  const got = await reader.read([
    { path: join(dir, 'a'), start: 6, end: 11 },
    { path: join(dir, 'gone'), start: 0, end: 10 },
    { path: join(dir, 'a'), start: 4, end: 4 },
    { path: join(dir, 'a'), start: 50, end: 60 },
  ]);
  assert.deepEqual(got[0], Buffer.from('world'));
  assert.ok(!Buffer.isBuffer(got[1]) && got[1]!.code === 'ENOENT');
  assert.deepEqual(got[2], Buffer.alloc(0));
  assert.deepEqual(got[3], Buffer.alloc(0));
});

test('concurrent batches each get their own answer; a closed reader refuses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-blob-reader-'));
  const reader = new BlobReader();
  try {
    for (let i = 0; i < 20; i++) writeFileSync(join(dir, `m${i}`), `message ${i}`);
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => reader.read([{ path: join(dir, `m${i}`), start: 0, end: 100 }])));
    all.forEach((r, i) => assert.deepEqual(r[0], Buffer.from(`message ${i}`)));
  } finally {
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(reader.read([{ path: '/nonexistent', start: 0, end: 1 }]), /closed/);
});
