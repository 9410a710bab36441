// Hourly rate limits (messages and recipients) per key: client IP or envelope sender inbound,
// authenticated user for submission. A sliding window over two fixed one-hour buckets (the
// previous bucket counts in proportion to how much of it is still inside the window), so memory
// is two counters per key. In memory: a restart forgets the counts.

const HOUR = 3_600_000;

interface Counter {
  bucket: number;
  current: number;
  previous: number;
}

export interface RateLimiter {
  /** The count in the last hour for key (the window slides). */
  count(key: string, now: number): number;
  /** Adds n to key's count. */
  add(key: string, n: number, now: number): void;
  /** True if adding n would stay within limit (limit 0 = no limit). */
  allows(key: string, n: number, limit: number, now: number): boolean;
}

export function createRateLimiter(windowMs: number = HOUR): RateLimiter {
  const counters = new Map<string, Counter>();
  let lastSweep = 0;

  function get(key: string, now: number): Counter {
    const bucket = Math.floor(now / windowMs);
    let c = counters.get(key);
    if (!c) {
      c = { bucket, current: 0, previous: 0 };
      counters.set(key, c);
    } else if (c.bucket !== bucket) {
      c.previous = c.bucket === bucket - 1 ? c.current : 0;
      c.current = 0;
      c.bucket = bucket;
    }
    return c;
  }

  function sweep(now: number): void {
    if (now - lastSweep < windowMs) return;
    lastSweep = now;
    const bucket = Math.floor(now / windowMs);
    for (const [k, c] of counters) if (c.bucket < bucket - 1) counters.delete(k);
  }

  function count(key: string, now: number): number {
    const c = get(key, now);
    const intoBucket = (now % windowMs) / windowMs;
    return c.current + c.previous * (1 - intoBucket);
  }

  return {
    count,
    add(key, n, now) {
      sweep(now);
      get(key, now).current += n;
    },
    allows(key, n, limit, now) {
      if (limit <= 0) return true;
      return count(key, now) + n <= limit;
    },
  };
}
