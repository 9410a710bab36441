// For the tests of the store's read barrier (docs/store.md "Durability"): runs a command while
// the barrier is closed and checks that the session asked for it and did not answer until it
// opened.
import assert from 'node:assert/strict';
import type { Store } from '../../src/store/types.js';
import { until } from './until.js';

/** Closes the store's read barrier, runs `command`, checks it waits, opens the barrier; returns the command's result. */
export async function runBehindClosedBarrier<T>(store: Store, command: () => Promise<T>): Promise<T> {
  const s = store as Store & { durable?: () => Promise<void> | null };
  const own = Object.prototype.hasOwnProperty.call(s, 'durable') ? s.durable : undefined;
  let release = (): void => {};
  let asked = 0;
  s.durable = () => {
    asked++;
    return new Promise<void>((r) => (release = r));
  };
  try {
    let answered = false;
    const result = command().then((r) => {
      answered = true;
      return r;
    });
    await until('the session to ask the store for its read barrier', () => asked > 0, { everyMs: 0, timeoutMs: 10_000 }).catch(() => undefined);
    assert.equal(asked, 1, 'the session asked the store for its read barrier');
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.equal(answered, false, 'no answer while changes are not on disk');
    release();
    return await result;
  } finally {
    if (own) s.durable = own;
    else delete s.durable;
  }
}
