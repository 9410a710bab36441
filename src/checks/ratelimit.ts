// Hourly rate limits (messages and recipients) per key: client IP or envelope sender inbound,
// authenticated user for submission. A sliding window over two fixed one-hour buckets (the
// previous bucket counts in proportion to how much of it is still inside the window), so each key
// needs two counters. Where the counters live (RateBuckets): in memory for one node (SQLite, a
// restart forgets the counts), in the shared database with PostgreSQL
// (src/checks/state/postgres.ts), so every node counts against the same limit.

const HOUR = 3_600_000;

export interface RateLimiter {
  /** The count in the last hour for key (the window slides). */
  count(key: string, now: number): Promise<number>;
  /** Adds n to key's count. */
  add(key: string, n: number, now: number): Promise<void>;
  /** True if adding n would stay within limit (limit 0 = no limit). */
  allows(key: string, n: number, limit: number, now: number): Promise<boolean>;
}

/** Counters per (key, bucket number). */
export interface RateBuckets {
  /** The counts of `bucket` and `bucket - 1` (0 when absent). */
  get(key: string, bucket: number): Promise<{ current: number; previous: number }>;
  add(key: string, bucket: number, n: number): Promise<void>;
  /** Forgets buckets older than `bucket - 1`. */
  sweep(bucket: number): Promise<void>;
}

/** The sliding-window rules over any RateBuckets. */
export function rateLimiterOver(buckets: RateBuckets, windowMs: number = HOUR): RateLimiter {
  let lastSweep = 0;
  async function count(key: string, now: number): Promise<number> {
    const c = await buckets.get(key, Math.floor(now / windowMs));
    const intoBucket = (now % windowMs) / windowMs;
    return c.current + c.previous * (1 - intoBucket);
  }
  return {
    count,
    async add(key, n, now) {
      const bucket = Math.floor(now / windowMs);
      if (now - lastSweep >= windowMs) {
        lastSweep = now;
        await buckets.sweep(bucket);
      }
      await buckets.add(key, bucket, n);
    },
    async allows(key, n, limit, now) {
      if (limit <= 0) return true;
      return (await count(key, now)) + n <= limit;
    },
  };
}

/** Counters in this process's memory (one node). */
export function memoryRateBuckets(): RateBuckets {
  const counters = new Map<string, { bucket: number; current: number; previous: number }>();
  const at = (key: string, bucket: number) => {
    let c = counters.get(key);
    if (!c) counters.set(key, (c = { bucket, current: 0, previous: 0 }));
    else if (c.bucket !== bucket) {
      c.previous = c.bucket === bucket - 1 ? c.current : 0;
      c.current = 0;
      c.bucket = bucket;
    }
    return c;
  };
  return {
    async get(key, bucket) {
      const c = at(key, bucket);
      return { current: c.current, previous: c.previous };
    },
    async add(key, bucket, n) {
      at(key, bucket).current += n;
    },
    async sweep(bucket) {
      for (const [k, c] of counters) if (c.bucket < bucket - 1) counters.delete(k);
    },
  };
}

/** A rate limiter with its counters in memory. */
export function createRateLimiter(windowMs: number = HOUR): RateLimiter {
  return rateLimiterOver(memoryRateBuckets(), windowMs);
}
