// Runs a module's PostgreSQL migrations once per pool, on first need (modules beside the store's:
// the checks' state, the auth failure log). A failed run is tried again by the next caller.
import type { Pool } from './pool.js';
import type { ModuleMigrations } from '../schema/schema.js';
import { runPgMigrations } from './migrate.js';

const ready = new WeakMap<Pool, Map<string, Promise<unknown>>>();

export function migrateOnce(pool: Pool, spec: ModuleMigrations): Promise<unknown> {
  let byModule = ready.get(pool);
  if (!byModule) ready.set(pool, (byModule = new Map()));
  let p = byModule.get(spec.module);
  if (!p) {
    p = runPgMigrations(pool, spec, 'the PostgreSQL database');
    p.catch(() => byModule.delete(spec.module));
    byModule.set(spec.module, p);
  }
  return p;
}
