// The event-loop delay monitor: a main thread held for 300 ms shows in the next interval's p99,
// logged as a warning at or above the threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../log/logger.js';
import { startLoopDelayMonitor } from './loop-delay.js';

/** A destination for pino that parses each JSON line into `lines`. */
function collect(lines: unknown[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
}

test('a blocked event loop is reported: warning with its p99, and in stats()', async () => {
  const lines: Array<{ level: number; msg: string; eventLoopDelayP99Ms?: number }> = [];
  const sink = collect(lines);
  const monitor = startLoopDelayMonitor({ logger: createLogger('debug', sink), intervalMs: 500, warnMs: 100 });
  try {
    assert.equal(monitor.stats().p99Ms, null);
    // hold the main thread (what a CPU-bound step on it does to every client)
    await new Promise((r) => setTimeout(r, 50));
    const until = Date.now() + 300;
    while (Date.now() < until);
    const warned = () => lines.find((l) => l.msg.startsWith('event loop delay high'));
    while (!warned()) await new Promise((r) => setTimeout(r, 50));
    assert.ok(warned()!.eventLoopDelayP99Ms! >= 250, JSON.stringify(warned()));
    // stats() holds the last full interval from then on
    assert.notEqual(monitor.stats().p99Ms, null);
  } finally {
    monitor.stop();
  }
});

test('an interval below the threshold is logged at debug level only', async () => {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = collect(lines);
  const monitor = startLoopDelayMonitor({ logger: createLogger('debug', sink), intervalMs: 200, warnMs: 60_000 });
  try {
    while (!lines.length) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual({ level: lines[0]!.level, msg: lines[0]!.msg }, { level: 20, msg: 'event loop delay' });
  } finally {
    monitor.stop();
  }
});
