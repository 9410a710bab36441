// For tests of state shared by nodes on PostgreSQL (src/checks/state): a throwaway cluster and pairs of "nodes", two
// PostgresStores on one database, each with its own data_dir; everything closed and removed at
// the end. Null (and a skipped test) when PostgreSQL is missing and not required.
import { after, it } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgresStore } from '../../src/store/postgres/open.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { databaseFor, openTestStore, PG_TEST_URL_ENV, postgresUnavailable, startCluster } from './postgres.js';

export interface TestNode {
  dir: string;
  store: PostgresStore;
}

/** Starts the cluster; returns a maker of two nodes on a fresh database, or null after registering a skipped test. */
export async function pgTestNodes(name: string): Promise<(() => Promise<[TestNode, TestNode]>) | null> {
  const cluster = await startCluster();
  if (!cluster) {
    it(name, { skip: postgresUnavailable }, () => undefined);
    return null;
  }
  process.env[PG_TEST_URL_ENV] = cluster.baseUrl;
  const stores: PostgresStore[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    await cluster.stop();
  });
  return async () => {
    const dirA = await mkdtemp(join(tmpdir(), 'yubin-node-a-'));
    const dirB = await mkdtemp(join(tmpdir(), 'yubin-node-b-'));
    dirs.push(dirA, dirB);
    const a = await openTestStore(dirA);
    const b = await openPostgresStore({ url: `${cluster.baseUrl}${databaseFor(dirA)}`, dataDir: dirB, poolSize: 4 });
    stores.push(a, b);
    return [
      { dir: dirA, store: a },
      { dir: dirB, store: b },
    ];
  };
}
