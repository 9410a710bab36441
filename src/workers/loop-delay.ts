// Event-loop delay (perf_hooks.monitorEventLoopDelay): how long a ready callback waits for the
// main thread. Every protocol shares that one thread, so this is the delay every client feels.
// Each interval the p99 is logged (warn at or above the threshold, else debug) and kept for
// RunningServer.stats().
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';

export interface LoopDelayStats {
  /** p99 of the last full interval, in ms (null before the first interval ends). */
  p99Ms: number | null;
  /** Largest delay of the last full interval, in ms. */
  maxMs: number | null;
  /** p99 and max since the current interval began, in ms. */
  currentP99Ms: number;
  currentMaxMs: number;
}

export interface LoopDelayMonitor {
  stats(): LoopDelayStats;
  stop(): void;
}

export function startLoopDelayMonitor(opts: { logger: Logger; intervalMs: number; warnMs: number }): LoopDelayMonitor {
  const h: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  const ms = (ns: number): number => Math.round(ns / 1e5) / 10;
  let last: { p99Ms: number; maxMs: number } | null = null;
  const timer = setInterval(() => {
    last = { p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
    h.reset();
    const line = { eventLoopDelayP99Ms: last.p99Ms, eventLoopDelayMaxMs: last.maxMs };
    if (last.p99Ms >= opts.warnMs) opts.logger.warn(line, 'event loop delay high: every client waited this long');
    else opts.logger.debug(line, 'event loop delay');
  }, opts.intervalMs);
  timer.unref();
  return {
    stats() {
      return { p99Ms: last?.p99Ms ?? null, maxMs: last?.maxMs ?? null, currentP99Ms: ms(h.percentile(99)), currentMaxMs: ms(h.max) };
    },
    stop() {
      clearInterval(timer);
      h.disable();
    },
  };
}
