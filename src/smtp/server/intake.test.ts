// The intake keeps a small message in memory (no spool file) and spools a longer one, with every
// octet in order, and never holds more than IN_MEMORY_LIMIT of message in memory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_MEMORY_LIMIT, Intake, messageBytes, messageChunks, releaseMessage } from './intake.js';

async function withSpool(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-intake-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A message of about `size` octets in lines of 78 + CRLF, each line numbered. */
function message(size: number): Buffer {
  const lines = ['Subject: intake\r\n', '\r\n'];
  for (let i = 0, n = 19; n < size; i++) {
    const line = `${String(i).padStart(8, '0')} ${'x'.repeat(69)}\r\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join(''));
}

async function receive(dir: string, bytes: Buffer, chunk: number) {
  const intake = new Intake(dir, 0, 'bdat');
  // The caller's buffers are reused after each write: the intake must have copied what it keeps.
  const scratch = Buffer.alloc(chunk);
  for (let off = 0; off < bytes.length; off += chunk) {
    const n = bytes.copy(scratch, 0, off, off + chunk);
    await intake.write([scratch.subarray(0, n)]);
    scratch.fill(0x21);
  }
  return intake.finish();
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

describe('smtp intake: memory or spool', () => {
  it('a small message stays in memory: no spool file, every octet kept', async () => {
    await withSpool(async (dir) => {
      const bytes = message(4096);
      const r = await receive(dir, bytes, 1000);
      assert.equal(r.path, null);
      assert.ok(r.bytes);
      assert.deepEqual(r.bytes, bytes);
      assert.equal(r.size, bytes.length);
      assert.deepEqual(await messageBytes(r), bytes);
      assert.deepEqual(await collect(messageChunks(r, 17)), bytes.subarray(17));
      assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.eml')), []);
    });
  });

  it('a message over IN_MEMORY_LIMIT goes to the spool file, what was kept first, in order, and nothing stays in memory', async () => {
    await withSpool(async (dir) => {
      const bytes = message(IN_MEMORY_LIMIT * 3);
      const r = await receive(dir, bytes, 7000);
      assert.equal(r.bytes, null);
      assert.ok(r.path);
      assert.deepEqual(await readFile(r.path), bytes);
      assert.equal(r.size, bytes.length);
      assert.deepEqual(await collect(messageChunks(r, 100)), bytes.subarray(100));
      await releaseMessage(r);
      assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.eml')), []);
    });
  });

  it('exactly IN_MEMORY_LIMIT octets stay in memory; one more spools', async () => {
    await withSpool(async (dir) => {
      const at = Buffer.alloc(IN_MEMORY_LIMIT, 0x61);
      assert.equal((await receive(dir, at, 4096)).path, null);
      const over = Buffer.alloc(IN_MEMORY_LIMIT + 1, 0x61);
      const r = await receive(dir, over, 4096);
      assert.equal(r.bytes, null);
      assert.equal((await readFile(r.path!)).length, IN_MEMORY_LIMIT + 1);
    });
  });
});
