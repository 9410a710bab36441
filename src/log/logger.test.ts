import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { TurnBatched } from './logger.js';

function recorder() {
  const writes: string[] = [];
  let synced = 0;
  return { writes, synced: () => synced, sink: { write: (s: string) => writes.push(s), flushSync: () => void synced++ } };
}

test('log lines of one turn of the event loop reach the output in one write, at the end of the turn', async () => {
  const r = recorder();
  const log = pino({ base: null, timestamp: false }, new TurnBatched(r.sink));
  log.info('one');
  log.info('two');
  log.warn('three');
  assert.equal(r.writes.length, 0, 'nothing is written before the turn ends');
  await new Promise((res) => setImmediate(res));
  assert.equal(r.writes.length, 1);
  assert.deepEqual(
    r.writes[0]!.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg),
    ['one', 'two', 'three'],
  );
  // A later turn's line is a write of its own.
  log.info('four');
  await new Promise((res) => setImmediate(res));
  assert.equal(r.writes.length, 2);
  assert.match(r.writes[1]!, /"msg":"four"/);
});

test('flushSync (logger.flush(), process exit) writes what is waiting at once', () => {
  const r = recorder();
  const out = new TurnBatched(r.sink);
  const log = pino({ base: null, timestamp: false }, out);
  log.error('before exit');
  out.flushSync();
  assert.equal(r.writes.length, 1);
  assert.match(r.writes[0]!, /"msg":"before exit"/);
  assert.equal(r.synced(), 1);
});
