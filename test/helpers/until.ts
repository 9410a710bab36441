// Waiting for a condition in a test: the one way (a readiness wait with a deadline). Never a count
// of event-loop turns or a fixed sleep: a busy machine (CI, another engineer's benchmark) runs
// worker threads, fsyncs and peers slower than any count assumes.

export interface UntilOptions {
  /** Fails after this long (ms; default 30 s). */
  timeoutMs?: number;
  /** Looks again after this long (ms; default 20); 0: at every turn of the event loop. */
  everyMs?: number;
  /** An answer that throws counts as not yet (default: the error fails the wait at once). */
  retryErrors?: boolean;
}

/** An answer of `fn`: the value waited for, or a falsy "not yet". */
export type NotYet<T> = T | null | undefined | false | 0 | '';

/**
 * Resolves with `fn`'s first truthy answer, asking at once and then every `everyMs`. An answer
 * that throws fails the wait, unless `retryErrors` (then its error is named if the deadline
 * passes). Throws "timed out waiting for <what>" after `timeoutMs` (a number: the timeout).
 */
export async function until<T>(what: string, fn: () => NotYet<T> | Promise<NotYet<T>>, opts: UntilOptions | number = {}): Promise<T> {
  const { timeoutMs = 30_000, everyMs = 20, retryErrors = false } = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      if (!retryErrors) throw err;
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => (everyMs > 0 ? setTimeout(r, everyMs) : setImmediate(r)));
  }
}
