// The COMPRESS=DEFLATE layer (RFC 4978) on its own: output flushed per turn and closed only once
// flushed, input inflated, a decompression bomb held back while the session is paused, bad input
// failing the connection. The whole protocol over TCP is in test/integration/imap-compress.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, inflateRawSync, constants } from 'node:zlib';
import type { TlsInfo, Transport } from '../net/transport.js';
import { DeflateTransport } from './compress.js';
import { parseCompress } from './commands/compress.js';
import { checkGrammar } from '../../test/helpers/imap-context.js';

test('grammar: COMPRESS algorithm (RFC 4978 §4)', () => {
  checkGrammar(parseCompress, [
    ['DEFLATE', 'DEFLATE'],
    ['deflate', 'DEFLATE'],
    ['GZIP', 'BAD'],
    ['', 'BAD'],
    ['DEFLATE DEFLATE', 'BAD'],
    ['"DEFLATE"', 'BAD'],
  ]);
});

class Inner implements Transport {
  readonly listener = 'imap' as const;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 1;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 143;
  readonly id = 'x';
  readonly tls: TlsInfo | null = null;
  out: Buffer[] = [];
  closed = false;
  paused = false;
  write(d: string | Uint8Array): boolean {
    this.out.push(Buffer.from(d));
    return true;
  }
  async drain(): Promise<void> {}
  startTls(): Promise<TlsInfo> {
    return Promise.reject(new Error('no'));
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  close(): void {
    this.closed = true;
  }
  inflated(): string {
    return inflateRawSync(Buffer.concat(this.out), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
  }
}

test('output: the lines of one turn are flushed together and readable at once; close flushes first', async () => {
  const inner = new Inner();
  const t = new DeflateTransport(inner, () => undefined, (e) => assert.fail(String(e)));
  t.write('* 1 EXISTS\r\n');
  t.write('a OK done\r\n');
  await t.drain();
  // Z_SYNC_FLUSH: the output so far ends on a byte boundary with the empty stored block 00 00 ff ff.
  assert.deepEqual([...Buffer.concat(inner.out).subarray(-4)], [0, 0, 0xff, 0xff]);
  assert.equal(inner.inflated(), '* 1 EXISTS\r\na OK done\r\n');
  t.write('* BYE bye\r\n');
  t.close();
  assert.equal(inner.closed, false, 'not closed before the BYE is out');
  const deadline = Date.now() + 5000;
  while (!inner.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(inner.closed, true);
  assert.equal(inner.inflated(), '* 1 EXISTS\r\na OK done\r\n* BYE bye\r\n');
  assert.equal(t.write('late'), false);
});

test('input: inflated for the session; a bomb is held back while paused', async () => {
  const inner = new Inner();
  let got = 0;
  const t = new DeflateTransport(
    inner,
    (c) => {
      got += c.length;
      // The session pauses at once (its framer is full).
      t.pause();
    },
    (e) => assert.fail(String(e)),
  );
  const bomb = deflateRawSync(Buffer.alloc(20 * 1024 * 1024, 'a'), { finishFlush: constants.Z_SYNC_FLUSH });
  assert.ok(bomb.length < 100_000);
  t.ingest(bomb);
  // Time enough to inflate all of it (a few ms) if nothing held it back.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(inner.paused, true);
  // Without the inflater's pause, all 20 MiB would have been delivered by now.
  assert.ok(got > 0 && got < 1024 * 1024, `delivered ${got} octets while paused`);
  const total = await new Promise<number>((resolve) => {
    const step = (): void => {
      if (got >= 20 * 1024 * 1024) return resolve(got);
      t.resume();
      setImmediate(step);
    };
    step();
  });
  assert.equal(total, 20 * 1024 * 1024);
});

test('input that does not inflate fails the connection', async () => {
  const inner = new Inner();
  const failed = new Promise<unknown>((resolve) => {
    const t = new DeflateTransport(inner, () => undefined, resolve);
    t.ingest(Buffer.from([0x00, 0x05, 0x00, 0x05, 0x00, 0x41]));
  });
  assert.ok((await failed) instanceof Error);
});
