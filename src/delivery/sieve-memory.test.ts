// The Sieve memory pruner: prunes at start and on its interval with the clock it is given,
// logs (and survives) a failing prune, and does nothing after stop (which waits for a prune in flight).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../log/logger.js';
import { startSieveMemoryPruning } from './sieve-memory.js';

// The pruner's timer is unref'd (it never keeps a process alive): this one keeps the test's alive.
const keepAlive = setInterval(() => undefined, 60_000);
after(() => clearInterval(keepAlive));

function recordingLogger(errors: string[]): Logger {
  const l = { error: (_o: unknown, msg: string) => errors.push(msg), warn: () => undefined, info: () => undefined, debug: () => undefined, child: () => l };
  return l as unknown as Logger;
}

/** A store whose pruneSieveMemory calls are recorded; `until(n)` resolves once there were n calls. */
function fakeStore(fail = false) {
  const calls: Date[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let gate: Promise<void> = Promise.resolve();
  const store = {
    sieve: {
      async pruneSieveMemory(now: Date) {
        calls.push(now);
        for (const w of waiters.filter((x) => calls.length >= x.n)) w.resolve();
        await gate;
        if (fail) throw new Error('disk on fire');
      },
    },
  } as unknown as Pick<Store, 'sieve'>;
  return {
    store,
    calls,
    until: (n: number) => new Promise<void>((resolve) => (calls.length >= n ? resolve() : waiters.push({ n, resolve }))),
    hold: () => {
      let open!: () => void;
      gate = new Promise<void>((r) => (open = r));
      return open;
    },
  };
}

test('prunes at start, then on every interval, with the given clock; nothing after stop', async () => {
  const f = fakeStore();
  const t = new Date('2026-01-01T00:00:00Z');
  const p = startSieveMemoryPruning({ store: f.store, logger: recordingLogger([]), now: () => t, intervalMs: 5 });
  assert.equal(f.calls.length, 1, 'at start');
  assert.equal(f.calls[0], t);
  await f.until(3);
  await p.stop();
  const n = f.calls.length;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(f.calls.length, n, 'stopped');
});

test('stop waits for a prune in flight; a failing prune is logged and the next one still runs', async () => {
  const f = fakeStore(true);
  const errors: string[] = [];
  const open = f.hold();
  const p = startSieveMemoryPruning({ store: f.store, logger: recordingLogger(errors), now: () => new Date(), intervalMs: 5 });
  let stopped = false;
  const stopping = p.stop().then(() => (stopped = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(stopped, false, 'stop waits for the prune in flight');
  open();
  await stopping;
  assert.deepEqual(errors, ['could not prune the sieve memory (vacation, duplicate, redirects)']);

  const g = fakeStore(true);
  const errs: string[] = [];
  const q = startSieveMemoryPruning({ store: g.store, logger: recordingLogger(errs), now: () => new Date(), intervalMs: 5 });
  await g.until(2);
  await q.stop();
  assert.ok(errs.length >= 2, 'failures do not stop the schedule');
});

test('with a real store: an expired duplicate id is forgotten after the prune', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-sieve-prune-'));
  const store = await openStore(join(dir, 'data'));
  try {
    await store.addDomain('a.test');
    const acc = await store.addAccount('u@a.test', 'x');
    const t0 = new Date('2026-01-01T00:00:00Z');
    const until = new Date(t0.getTime() + 60_000);
    assert.equal(await store.sieve.duplicateSeen(acc.id, 'id-1', t0, until), false);
    assert.equal(await store.sieve.duplicateSeen(acc.id, 'id-1', t0, until), true, 'remembered');
    const p = startSieveMemoryPruning({ store, logger: recordingLogger([]), now: () => new Date(until.getTime() + 1) });
    await p.stop(); // waits for the prune at start
    assert.equal(await store.sieve.duplicateSeen(acc.id, 'id-1', t0, until), false, 'pruned: new again');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
