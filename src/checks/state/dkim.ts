// DKIM keys in the shared PostgreSQL database (table checks_dkim_keys, migration module "checks"):
// a domain's keys are generated once, by whichever node asks first, and every node signs with the
// same selectors. The signer and the ARC sealer read keys synchronously from
// data_dir/dkim/<domain>/, so each node keeps a copy there, rewritten from the database
// (syncDkimKeys: at start and every minute, and after every change made through this node); the
// database is the truth, the copy can be deleted and is rebuilt, like the TLS cache.
import { transaction, type Pool, type PoolClient } from '../../db/postgres/pool.js';
import {
  checkDomain,
  checkSelector,
  DkimKeyError,
  listKeyDomains,
  mirrorDomainKeys,
  nameGeneration,
  newKeyPairs,
  readDomainKeyMaterial,
  type DkimAlgorithm,
  type DkimKeyMaterial,
} from '../dkim-keys.js';
import { migrateChecks } from './postgres.js';

/** pg_advisory_xact_lock(DKIM_LOCK, hashtext(domain)): one writer of a domain's keys at a time ("YDKM"). */
export const DKIM_LOCK = 0x59444b4d;

interface Row {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  created: number;
  pem: string;
}

const material = (r: Row): DkimKeyMaterial => ({ selector: r.selector, algorithm: r.algorithm, created: new Date(r.created), pem: r.pem });

/** Newest first, as listDomainKeys orders them. */
const ORDER = 'ORDER BY created DESC, selector DESC';

async function rowsOf(q: Pool | PoolClient, domain: string): Promise<DkimKeyMaterial[]> {
  const r = await q.query<Row>(`SELECT domain, selector, algorithm, created, pem FROM checks_dkim_keys WHERE domain = $1 ${ORDER}`, [domain]);
  return r.rows.map(material);
}

async function insert(c: PoolClient, domain: string, keys: readonly DkimKeyMaterial[]): Promise<void> {
  for (const k of keys)
    await c.query('INSERT INTO checks_dkim_keys (domain, selector, algorithm, created, pem) VALUES ($1, $2, $3, $4, $5)', [domain, k.selector, k.algorithm, k.created.getTime(), k.pem]);
}

/** Runs fn in a transaction holding the domain's key lock (nodes generating at once: one wins). */
async function locked<T>(pool: Pool, domain: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  await migrateChecks(pool);
  return transaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [DKIM_LOCK, domain]);
    return fn(c);
  });
}

export interface PgDkimKeys {
  list(domain: string): Promise<DkimKeyMaterial[]>;
  /** The first generation; refused when the domain has keys. */
  generate(domain: string, now: Date): Promise<DkimKeyMaterial[]>;
  /** The domain's keys, generating the first generation if it has none (exactly once across nodes). */
  ensure(domain: string, now: Date): Promise<DkimKeyMaterial[]>;
  /** A new generation beside the old ones. */
  rotate(domain: string, now: Date): Promise<DkimKeyMaterial[]>;
  retire(domain: string, selector: string): Promise<void>;
}

export function pgDkimKeys(pool: Pool): PgDkimKeys {
  const addGeneration = async (domain: string, now: Date, mode: 'generate' | 'ensure' | 'rotate'): Promise<DkimKeyMaterial[]> => {
    const d = checkDomain(domain);
    await migrateChecks(pool);
    if (mode === 'ensure') {
      const have = await rowsOf(pool, d);
      if (have.length) return have;
    }
    // The RSA key takes a while: made before the lock, thrown away if another node got there first.
    const pairs = newKeyPairs();
    return locked(pool, d, async (c) => {
      const have = await rowsOf(c, d);
      if (have.length && mode === 'ensure') return have;
      if (have.length && mode === 'generate') throw new DkimKeyError(`${d} already has DKIM keys (use "yubin dkim rotate" for new ones)`);
      const made = nameGeneration(pairs, new Set(have.map((k) => k.selector)), now);
      await insert(c, d, made);
      return made;
    });
  };
  return {
    async list(domain) {
      await migrateChecks(pool);
      return rowsOf(pool, checkDomain(domain));
    },
    generate: (domain, now) => addGeneration(domain, now, 'generate'),
    ensure: (domain, now) => addGeneration(domain, now, 'ensure'),
    rotate: (domain, now) => addGeneration(domain, now, 'rotate'),
    async retire(domain, selector) {
      const d = checkDomain(domain);
      const s = checkSelector(selector);
      await locked(pool, d, async (c) => {
        const have = await rowsOf(c, d);
        const key = have.find((k) => k.selector === s);
        if (!key) throw new DkimKeyError(`${d} has no DKIM selector ${s}`);
        if (!have.some((k) => k.selector !== s && k.algorithm === key.algorithm)) throw new DkimKeyError(`${s} is the last ${key.algorithm} key of ${d}; rotate first`);
        await c.query('DELETE FROM checks_dkim_keys WHERE domain = $1 AND selector = $2', [d, s]);
      });
    },
  };
}

/**
 * Brings data_dir/dkim in step with the database: first a domain whose keys exist only here (a
 * node that kept its keys in files before it moved to PostgreSQL) is imported, unless the
 * database already has keys for it; then every domain's copy is rewritten from the database, and
 * a domain the database has no keys for loses its copy. Returns the domains mirrored.
 */
export async function syncDkimKeys(pool: Pool, dataDir: string): Promise<string[]> {
  await migrateChecks(pool);
  const known = new Set((await pool.query<{ domain: string }>('SELECT DISTINCT domain FROM checks_dkim_keys')).rows.map((r) => r.domain));
  for (const d of listKeyDomains(dataDir)) {
    if (known.has(d)) continue;
    const local = readDomainKeyMaterial(dataDir, d);
    if (!local.length) continue;
    await locked(pool, d, async (c) => {
      if ((await rowsOf(c, d)).length) return;
      await insert(c, d, local);
    });
    known.add(d);
  }
  const all = await pool.query<Row>(`SELECT domain, selector, algorithm, created, pem FROM checks_dkim_keys ${ORDER}`);
  const byDomain = new Map<string, DkimKeyMaterial[]>();
  for (const r of all.rows) {
    const list = byDomain.get(r.domain) ?? [];
    list.push(material(r));
    byDomain.set(r.domain, list);
  }
  for (const [d, keys] of byDomain) mirrorDomainKeys(dataDir, d, keys);
  for (const d of listKeyDomains(dataDir)) if (!byDomain.has(d)) mirrorDomainKeys(dataDir, d, []);
  return [...byDomain.keys()];
}
