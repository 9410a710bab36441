import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionLimiter, createIdleTimer, normalizeIp, type TimerApi } from './limits.js';

/** Timers driven by hand: advance(ms) fires what is due. */
function fakeTimers() {
  let now = 0;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const api: TimerApi = {
    set: (fn, ms) => {
      pending.set(++seq, { at: now + ms, fn });
      return seq;
    },
    clear: (h) => void pending.delete(h as number),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const [id, t] of [...pending].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= now && pending.delete(id)) t.fn();
    }
  };
  return { api, advance, count: () => pending.size };
}

test('ConnectionLimiter: per-IP and total limits, released slots come back', () => {
  const l = new ConnectionLimiter(3, 2);
  assert.equal(l.tryAcquire('a'), true);
  assert.equal(l.tryAcquire('a'), true);
  assert.equal(l.tryAcquire('a'), false);
  assert.equal(l.tryAcquire('b'), true);
  assert.equal(l.tryAcquire('c'), false, 'total reached');
  assert.equal(l.connections, 3);
  l.release('a');
  assert.equal(l.connectionsFrom('a'), 1);
  assert.equal(l.tryAcquire('c'), true);
  l.release('nobody');
  assert.equal(l.connections, 3);
});

test('idle timer: fires once after the timeout without activity; touch() restarts it', () => {
  const t = fakeTimers();
  let fired = 0;
  const idle = createIdleTimer(100, () => fired++, t.api);
  t.advance(90);
  idle.touch();
  t.advance(90);
  assert.equal(fired, 0);
  t.advance(10);
  assert.equal(fired, 1);
  assert.equal(idle.fired, true);
  idle.touch();
  t.advance(500);
  assert.equal(fired, 1, 'fires only once');
});

test('idle timer: set() changes the timeout, 0 disables, stop() ends it', () => {
  const t = fakeTimers();
  let fired = 0;
  const idle = createIdleTimer(100, () => fired++, t.api);
  idle.set(0);
  t.advance(1000);
  assert.equal(fired, 0);
  idle.set(30);
  t.advance(30);
  assert.equal(fired, 1);
  const other = createIdleTimer(50, () => fired++, t.api);
  other.stop();
  other.touch();
  t.advance(100);
  assert.equal(fired, 1);
  assert.equal(t.count(), 0);
});

test('normalizeIp: IPv4-mapped IPv6 becomes IPv4', () => {
  assert.equal(normalizeIp('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(normalizeIp('::1'), '::1');
  assert.equal(normalizeIp('2001:db8::1'), '2001:db8::1');
  assert.equal(normalizeIp(undefined), 'unknown');
});
