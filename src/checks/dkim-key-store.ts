// Where the DKIM keys of the local domains live, behind one asynchronous interface for the admin
// operations (`yubin dkim ...`, `yubin domain add`, `yubin dns-records`, the admin API): with the
// SQLite store the files of data_dir/dkim (dkim-keys.ts); with the PostgreSQL store the shared
// database (state/dkim.ts), each change then copied to this node's data_dir/dkim, which the
// signer reads (other nodes copy it within a minute: syncDkimKeys in the server).
import type { Store } from '../store/types.js';
import { PostgresStore } from '../store/postgres/store.js';
import {
  ensureDomainKeys,
  generateDomainKeys,
  listDomainKeys,
  mirrorDomainKeys,
  retireDomainKey,
  rotateDomainKeys,
  type DkimKeyInfo,
} from './dkim-keys.js';
import { pgDkimKeys, syncDkimKeys } from './state/dkim.js';

export interface DkimKeyStore {
  /** Every key of the domain, newest first. */
  list(domain: string): Promise<DkimKeyInfo[]>;
  generate(domain: string, now?: Date): Promise<DkimKeyInfo[]>;
  ensure(domain: string, now?: Date): Promise<DkimKeyInfo[]>;
  rotate(domain: string, now?: Date): Promise<DkimKeyInfo[]>;
  retire(domain: string, selector: string): Promise<void>;
}

export function dkimKeyStore(dataDir: string, store?: Store): DkimKeyStore {
  if (!(store instanceof PostgresStore)) {
    return {
      list: async (domain) => listDomainKeys(dataDir, domain),
      generate: async (domain, now) => generateDomainKeys(dataDir, domain, now),
      ensure: async (domain, now) => ensureDomainKeys(dataDir, domain, now),
      rotate: async (domain, now) => rotateDomainKeys(dataDir, domain, now),
      retire: async (domain, selector) => retireDomainKey(dataDir, domain, selector),
    };
  }
  const pg = pgDkimKeys(store.pool);
  // The result as this node's copy has it, so DkimKeyInfo.path is readable; `made` picks the new ones.
  const mirrored = async (domain: string, made?: Array<{ selector: string }>): Promise<DkimKeyInfo[]> => {
    const all = mirrorDomainKeys(dataDir, domain, await pg.list(domain));
    if (!made) return all;
    const want = new Set(made.map((k) => k.selector));
    return all.filter((k) => want.has(k.selector)).sort((a, b) => (a.algorithm === b.algorithm ? 0 : a.algorithm === 'rsa-sha256' ? -1 : 1));
  };
  return {
    list: (domain) => mirrored(domain),
    generate: async (domain, now = new Date()) => mirrored(domain, await pg.generate(domain, now)),
    ensure: async (domain, now = new Date()) => mirrored(domain, await pg.ensure(domain, now)),
    rotate: async (domain, now = new Date()) => mirrored(domain, await pg.rotate(domain, now)),
    async retire(domain, selector) {
      await pg.retire(domain, selector);
      await mirrored(domain);
    },
  };
}

/**
 * With the PostgreSQL store, keeps data_dir/dkim in step with the database (at once, then every
 * `everyMs`); with SQLite does nothing. Returns the stop function, which waits for a sync in flight
 * (call it before closing the store).
 */
export function startDkimKeySync(dataDir: string, store: Store, onError: (err: unknown) => void, everyMs = 60_000): () => Promise<void> {
  if (!(store instanceof PostgresStore)) return async () => undefined;
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const run = (): void => {
    running = syncDkimKeys(store.pool, dataDir).catch((err: unknown) => {
      if (!stopped) onError(err);
    });
  };
  run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
