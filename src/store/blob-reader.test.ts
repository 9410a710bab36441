// The reader thread: many ranges in one step, clamped to each file, a missing file reported by
// its error code (the caller maps ENOENT to "blob gone"), order kept across batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobReader } from './blob-reader.js';

/** Writes a blob file in the store's layout (<dir>/ab/cd/<sha256>); returns its id. */
function blob(dir: string, bytes: Buffer | string): string {
  const id = createHash('sha256').update(bytes).digest('hex');
  mkdirSync(join(dir, id.slice(0, 2), id.slice(2, 4)), { recursive: true });
  writeFileSync(join(dir, id.slice(0, 2), id.slice(2, 4), id), bytes);
  return id;
}

test('reads ranges of many blobs in one batch, in order, clamped to each file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-blob-reader-'));
  const reader = new BlobReader(dir);
  t.after(async () => {
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const bodies = Array.from({ length: 300 }, (_, i) => Buffer.from(`file ${i}: ${'x'.repeat(i)}\r\n`));
  const ids = bodies.map((b) => blob(dir, b));
  const got = await reader.read(ids.map((blobId, i) => ({ blobId, start: i % 3, end: i % 2 ? 10_000 : 6 })));
  assert.equal(got.length, bodies.length);
  got.forEach((r, i) => {
    assert.ok(Buffer.isBuffer(r), `request ${i} read`);
    assert.deepEqual(r, bodies[i]!.subarray(i % 3, i % 2 ? bodies[i]!.length : 6));
  });
});

test('a missing blob is its own result (ENOENT); the others in the batch are read; empty ranges are empty', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-blob-reader-'));
  const reader = new BlobReader(dir);
  t.after(async () => {
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const a = blob(dir, 'hello world');
  const got = await reader.read([
    { blobId: a, start: 6, end: 11 },
    { blobId: 'f'.repeat(64), start: 0, end: 10 },
    { blobId: a, start: 4, end: 4 },
    { blobId: a, start: 50, end: 60 },
  ]);
  assert.deepEqual(got[0], Buffer.from('world'));
  assert.ok(!Buffer.isBuffer(got[1]) && got[1]!.code === 'ENOENT');
  assert.deepEqual(got[2], Buffer.alloc(0));
  assert.deepEqual(got[3], Buffer.alloc(0));
});

test('concurrent batches each get their own answer; a closed reader refuses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-blob-reader-'));
  const reader = new BlobReader(dir);
  try {
    const ids = Array.from({ length: 20 }, (_, i) => blob(dir, `message ${i}`));
    const all = await Promise.all(ids.map((blobId) => reader.read([{ blobId, start: 0, end: 100 }])));
    all.forEach((r, i) => assert.deepEqual(r[0], Buffer.from(`message ${i}`)));
  } finally {
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(reader.read([{ blobId: 'a'.repeat(64), start: 0, end: 1 }]), /closed/);
});

test('assemble: text and ranges of several messages in order; a message whose blob is gone or short is left out whole', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-blob-reader-'));
  const reader = new BlobReader(dir);
  t.after(async () => {
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const a = blob(dir, 'Subject: a\r\n\r\nbody a\r\n');
  const b = blob(dir, 'Subject: b\r\n\r\nbody b, longer\r\n');
  const r = await reader.assemble([
    ['* 1 FETCH (BODY[] {22}\r\n', { blobId: a, start: 0, end: 22 }, ')\r\n'],
    ['* 2 FETCH (UID 7 BODY[] {', '0}\r\n', { blobId: 'e'.repeat(64), start: 0, end: 10 }, ')\r\n'],
    ['* 3 FETCH (BODY[TEXT] {16}\r\n', { blobId: b, start: 14, end: 30 }, ' UID 9 é)\r\n'],
    ['* 4 FETCH (BODY[] {99}\r\n', { blobId: a, start: 0, end: 99 }, ')\r\n'],
    ['* 5 FETCH (FLAGS ())\r\n'],
  ]);
  assert.deepEqual(r.failed.slice(0, 3), [null, 'gone', null]);
  assert.match(r.failed[3] ?? '', /shorter/);
  assert.equal(r.failed[4], null);
  assert.equal(r.data.toString('utf8'), '* 1 FETCH (BODY[] {22}\r\nSubject: a\r\n\r\nbody a\r\n)\r\n* 3 FETCH (BODY[TEXT] {16}\r\nbody b, longer\r\n UID 9 é)\r\n* 5 FETCH (FLAGS ())\r\n');
});
