// The migration runner for PostgreSQL, with the semantics of the SQLite one
// (src/db/sqlite/migrate.ts) and the same lists: each module keeps ONE numbered list for both
// engines (src/db/schema/), rendered here to PostgreSQL's DDL. The database records what ran in
// `schema_migrations (module, version, name, applied_at)`, each migration runs in its own
// transaction together with its row, a migration that renders nothing for PostgreSQL (SQLite's
// only) is neither run nor recorded, and a database whose version for a module is higher than the
// last one PostgreSQL knows refuses to open (SchemaTooNewError, the same error as SQLite's).
// Several nodes starting at once on one database apply each migration once: every migration
// transaction takes one advisory lock and checks again under it.
import { SchemaTooNewError } from '../sqlite/migrate.js';
import { checkMigrationList, type ModuleMigrations } from '../schema/schema.js';
import { migrationsFor, postgresSql } from '../schema/render.js';
import { transaction, type Pool, type PoolClient } from './pool.js';

export { SchemaTooNewError };

/** pg_advisory_xact_lock key of the migration runner ("YMIG"). */
const MIGRATION_LOCK = 0x594d4947;

async function ensureTable(client: PoolClient): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    module TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (module, version)
  )`);
}

async function currentVersion(client: PoolClient, module: string): Promise<number> {
  const r = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations WHERE module = $1', [module]);
  return r.rows[0]?.v ?? 0;
}

/**
 * Brings one module's tables up to date; returns the versions applied now. Throws
 * SchemaTooNewError when the database is ahead of the code (`name` names the database in it).
 */
export async function runPgMigrations(pool: Pool, spec: ModuleMigrations, name: string): Promise<number[]> {
  const { module } = spec;
  checkMigrationList(module, spec.migrations);
  const migrations = migrationsFor(spec, 'postgresql').map((m) => ({ version: m.version, name: m.name, sql: postgresSql(m.run) }));
  const known = migrations.at(-1)?.version ?? 0;
  const applied: number[] = [];
  for (let round = 0; ; round++) {
    const done = await transaction(pool, async (client) => {
      // One runner at a time per database (CREATE TABLE IF NOT EXISTS itself can race).
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await ensureTable(client);
      const v = await currentVersion(client, module);
      if (v > known) throw new SchemaTooNewError(name, module, v, known);
      const m = migrations.find((x) => x.version > v);
      if (!m) return true;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (module, version, name, applied_at) VALUES ($1, $2, $3, $4)', [module, m.version, m.name, Math.floor(Date.now() / 1000)]);
      applied.push(m.version);
      return false;
    });
    if (done) return applied;
    if (round > migrations.length) throw new Error(`migrations of ${module} did not converge`);
  }
}
