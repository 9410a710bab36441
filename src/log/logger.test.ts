import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { LOG_FLUSH_BYTES, LOG_FLUSH_MS, BatchedLines } from './logger.js';

function recorder() {
  const writes: string[] = [];
  let synced = 0;
  return { writes, synced: () => synced, sink: { write: (s: string) => writes.push(s), flushSync: () => void synced++ } };
}

/** Resolves once `cond` holds, checking at every turn of the event loop. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((res) => setImmediate(res));
}

test('log lines written close together reach the output in one write, at most LOG_FLUSH_MS later', async () => {
  const r = recorder();
  const log = pino({ base: null, timestamp: false }, new BatchedLines(r.sink));
  const t0 = performance.now();
  log.info('one');
  log.info('two');
  await new Promise((res) => setImmediate(res));
  log.warn('three');
  assert.equal(r.writes.length, 0, 'nothing is written at once');
  await until(() => r.writes.length > 0);
  assert.ok(performance.now() - t0 >= LOG_FLUSH_MS - 1, 'the lines waited for others');
  assert.equal(r.writes.length, 1);
  assert.deepEqual(
    r.writes[0]!.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg),
    ['one', 'two', 'three'],
  );
  // A later line is a write of its own.
  log.info('four');
  await until(() => r.writes.length > 1);
  assert.equal(r.writes.length, 2);
  assert.match(r.writes[1]!, /"msg":"four"/);
});

test('LOG_FLUSH_BYTES of waiting lines are written at once', () => {
  const r = recorder();
  const log = pino({ base: null, timestamp: false }, new BatchedLines(r.sink));
  const line = 'x'.repeat(1000);
  for (let i = 0; i < LOG_FLUSH_BYTES / 1000 + 1; i++) log.info(line);
  assert.equal(r.writes.length, 1, 'written without waiting for the timer');
  assert.ok(r.writes[0]!.length >= LOG_FLUSH_BYTES);
});

test('flushSync (logger.flush(), process exit) writes what is waiting at once', () => {
  const r = recorder();
  const out = new BatchedLines(r.sink);
  const log = pino({ base: null, timestamp: false }, out);
  log.error('before exit');
  out.flushSync();
  assert.equal(r.writes.length, 1);
  assert.match(r.writes[0]!, /"msg":"before exit"/);
  assert.equal(r.synced(), 1);
});
