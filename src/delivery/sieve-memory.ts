// Expiry of what Sieve at delivery remembers (src/delivery/sieve.ts): vacation replies sent
// (RFC 5230 §4.2), duplicate tracking ids (RFC 7352), redirect counters per day and the
// "already redirected" marks. The rows are dead once expired (every lookup compares the time);
// pruning only keeps the tables small. Runs at start and then every `intervalMs`.
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/types.js';

/** How often the server prunes (one hour). */
export const SIEVE_PRUNE_INTERVAL_MS = 3_600_000;

export interface SievePruner {
  /** Stops the timer and waits for a prune in progress (call before closing the store). */
  stop(): Promise<void>;
}

export function startSieveMemoryPruning(opts: { store: Pick<Store, 'sieve'>; logger: Logger; now: () => Date; intervalMs?: number }): SievePruner {
  let running: Promise<void> | null = null;
  let stopped = false;
  const prune = () => {
    if (running || stopped) return;
    running = opts.store.sieve
      .pruneSieveMemory(opts.now())
      .catch((err: unknown) => opts.logger.error({ err }, 'could not prune the sieve memory (vacation, duplicate, redirects)'))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(prune, opts.intervalMs ?? SIEVE_PRUNE_INTERVAL_MS);
  // Housekeeping never keeps the process alive on its own.
  timer.unref();
  prune();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
