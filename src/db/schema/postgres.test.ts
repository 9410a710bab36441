// The one description in PostgreSQL: rendering every version on a fresh database makes the very
// schema the hand-kept PostgreSQL lists made (shipped.json); a database made by them opens with
// this code unchanged and takes writes; a database newer than the code refuses to open.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPool, type Pool } from '../postgres/pool.js';
import { runPgMigrations, SchemaTooNewError } from '../postgres/migrate.js';
import type { ModuleMigrations } from './schema.js';
import { PG_MIGRATIONS } from '../../store/postgres/schema.js';
import { QUEUE_MODULE } from './queue.js';
import { CHECKS_MODULE } from './checks.js';
import { AUTH_MODULE } from './auth.js';
import { shippedModules } from './shipped.fixture.js';
import { postgresSchema } from './inspect.fixture.js';
import { postgresUnavailable, startCluster } from '../../../test/helpers/postgres.js';

const cluster = await startCluster();

/** Every module PostgreSQL has, in the order a node runs them. */
const MODULES: ModuleMigrations[] = [...PG_MIGRATIONS, QUEUE_MODULE, CHECKS_MODULE, AUTH_MODULE];

if (!cluster) {
  it('PostgreSQL: the description renders the schema that shipped', { skip: postgresUnavailable }, () => undefined);
} else {
  after(() => cluster.stop());

  const pools: Pool[] = [];
  const pool = async (name: string): Promise<Pool> => {
    const p = openPool({ url: await cluster.createDatabase(name), max: 2 });
    pools.push(p);
    return p;
  };
  after(async () => {
    for (const p of pools) await p.end();
  });

  /** A database made by the hand-kept PostgreSQL lists, as the old runner left it. */
  const makeOld = async (p: Pool): Promise<void> => {
    await p.query('CREATE TABLE schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (module, version))');
    for (const spec of MODULES) {
      for (const m of shippedModules('postgresql')[spec.module] ?? []) {
        await p.query(m.sql);
        await p.query('INSERT INTO schema_migrations VALUES ($1, $2, $3, 0)', [spec.module, m.version, m.name]);
      }
    }
  };

  describe('PostgreSQL: the description renders the schema that shipped', () => {
    it('fresh from the description = made by the old lists; the old database opens unchanged', async () => {
      const fresh = await pool('schema_fresh');
      const old = await pool('schema_old');
      for (const spec of MODULES) await runPgMigrations(fresh, spec, 'fresh');
      await makeOld(old);
      const want = await postgresSchema(old);
      assert.ok(Object.keys(want).length >= 20, Object.keys(want).join(' '));
      assert.deepEqual(await postgresSchema(fresh), want);
      for (const spec of MODULES) assert.deepEqual(await runPgMigrations(old, spec, 'old'), [], spec.module);
      assert.deepEqual(await postgresSchema(old), want);
    });

    it('the comparison sees a difference (a column type, a default, an index)', async () => {
      const a = await pool('schema_diff_a');
      const b = await pool('schema_diff_b');
      await a.query('CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL DEFAULT 0); CREATE INDEX t_v ON t(COALESCE(v, 0))');
      for (const sql of [
        'CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL DEFAULT 0); CREATE INDEX t_v ON t(COALESCE(v, 0))',
        'CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL DEFAULT 1); CREATE INDEX t_v ON t(COALESCE(v, 0))',
        'CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL DEFAULT 0); CREATE INDEX t_v ON t(v)',
        'CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT GENERATED ALWAYS AS IDENTITY); CREATE INDEX t_v ON t(COALESCE(v, 0))',
      ]) {
        await b.query('DROP TABLE IF EXISTS t');
        await b.query(sql);
        assert.notDeepEqual(await postgresSchema(b), await postgresSchema(a), sql);
      }
    });

    it('a database made by the old code opens with the store and takes writes', async () => {
      const url = await cluster.createDatabase('schema_old_store');
      const p = openPool({ url, max: 2 });
      pools.push(p);
      await makeOld(p);
      const dir = await mkdtemp(join(tmpdir(), 'yubin-schema-pg-'));
      const { openPostgresStore } = await import('../../store/postgres/open.js');
      const store = await openPostgresStore({ url, dataDir: dir, poolSize: 2 });
      try {
        await store.addDomain('old.test');
        const acc = await store.addAccount('bob@old.test', 'h');
        assert.ok(await store.getAccountById(acc.id));
      } finally {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('refuses a database newer than the code, for a module that exists in PostgreSQL only as well', async () => {
      const p = await pool('schema_newer');
      for (const spec of MODULES) await runPgMigrations(p, spec, 'db');
      // checks: SQLite knows version 1 only, PostgreSQL 3; the database says 4.
      await p.query("INSERT INTO schema_migrations VALUES ('checks', 4, 'future', 0)");
      await assert.rejects(runPgMigrations(p, CHECKS_MODULE, 'db'), (err: unknown) => err instanceof SchemaTooNewError && err.module === 'checks' && err.found === 4 && err.known === 3);
      await p.query("INSERT INTO schema_migrations VALUES ('queue', 2, 'future', 0)");
      await assert.rejects(runPgMigrations(p, QUEUE_MODULE, 'db'), (err: unknown) => err instanceof SchemaTooNewError && err.found === 2 && err.known === 1);
    });
  });
}
