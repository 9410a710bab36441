// The server's worker pool, found by its config. Code that is handed only the config (the ARC
// sealer, called from SMTP delivery with ctx.config) finds the running server's pool here; with
// none registered (CLI commands, unit tests) the work runs on the calling thread.
import type { Config } from '../config/schema.js';
import type { WorkerPool } from './pool.js';

const pools = new WeakMap<Config, WorkerPool>();

export function registerPool(config: Config, pool: WorkerPool): void {
  pools.set(config, pool);
}

export function unregisterPool(config: Config, pool: WorkerPool): void {
  if (pools.get(config) === pool) pools.delete(config);
}

export function poolFor(config: Config): WorkerPool | undefined {
  return pools.get(config);
}
