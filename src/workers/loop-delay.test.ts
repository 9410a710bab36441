// The event-loop delay monitor: a main thread held for 300 ms shows in the next interval's p99,
// logged as a warning at or above the threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../log/logger.js';
import { startLoopDelayMonitor } from './loop-delay.js';

test('a blocked event loop is reported: warning with its p99, and in stats()', async () => {
  const lines: Array<{ level: number; msg: string; eventLoopDelayP99Ms?: number }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
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
    assert.ok(monitor.stats().p99Ms! >= 250 || monitor.stats().maxMs! >= 250);
    // a quiet interval is logged at debug level only
    const before = lines.length;
    while (lines.length === before) await new Promise((r) => setTimeout(r, 50));
    assert.equal(lines.at(-1)!.msg, 'event loop delay');
    assert.equal(lines.at(-1)!.level, 20);
  } finally {
    monitor.stop();
  }
});
