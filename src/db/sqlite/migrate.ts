// The one migration runner for every SQLite database Yubin keeps (yubin.sqlite, queue.sqlite,
// checks.sqlite, search.sqlite). Each module keeps ONE numbered list of migrations for both engines
// (src/db/schema/: a portable description rendered to each engine's DDL; PostgreSQL's runner,
// src/db/postgres/migrate.ts, takes the same list) and the runner records what ran in the
// database's `schema_migrations` table, keyed by (module, version):
//
//   | module | version | name          | applied_at |
//   | store  | 1       | initial       | 1764345600 |
//   | store  | 2       | counters      | 1764345601 |
//
// Rules: versions are 1, 2, 3, ... without gaps; never edit or renumber a migration that has
// shipped, append a new one. Each migration runs in its own write transaction together with its
// row, so a crash (or a throwing step) leaves it applied or not, never half. A migration that
// renders nothing for SQLite (PostgreSQL's only) is neither run nor recorded, and the highest
// version SQLite knows is that of its last one that renders something. A database whose version for
// a module is higher than that refuses to open (SchemaTooNewError), naming the file and both
// versions.
//
// queue.sqlite and checks.sqlite were first versioned with `PRAGMA user_version`. A module that
// sets `legacyUserVersion` has that number adopted as its version (rows are written for it) and
// kept in step, so an older Yubin, which reads only user_version, still refuses a newer file.
import type Database from 'better-sqlite3';
import { checkMigrationList, type ModuleMigrations } from '../schema/schema.js';
import { migrationsFor, type Rendered } from '../schema/render.js';

export { checkMigrationList, type Migration, type ModuleMigrations } from '../schema/schema.js';

/** The database was written by a newer Yubin. */
export class SchemaTooNewError extends Error {
  readonly code = 'schema-too-new';
  /** Shown as it is by the CLI. */
  readonly userFacing = true;
  constructor(
    readonly file: string,
    readonly module: string,
    readonly found: number,
    readonly known: number,
  ) {
    super(`${file} has schema version ${found} for "${module}" but this Yubin knows only up to ${known}: it was written by a newer Yubin; run that version (or upgrade) instead`);
    this.name = 'SchemaTooNewError';
  }
}

/** Runs one migration's SQLite steps without recording it (tests that make a database the old way). */
export function applyMigration(db: Database.Database, spec: ModuleMigrations, version: number): void {
  const m = migrationsFor(spec, 'sqlite').find((x) => x.version === version);
  if (!m) throw new Error(`${spec.module} has no SQLite migration ${version}`);
  run(db, m.run);
}

function run(db: Database.Database, steps: readonly Rendered[]): void {
  for (const r of steps) {
    if (typeof r === 'string') db.exec(r);
    else r(db);
  }
}

/**
 * Brings one module's tables up to date. Returns the versions applied now.
 * Throws SchemaTooNewError when the database is ahead of the code; `file` names it in the message.
 */
export function runMigrations(db: Database.Database, spec: ModuleMigrations, file: string): number[] {
  const { module } = spec;
  checkMigrationList(module, spec.migrations);
  const migrations = migrationsFor(spec, 'sqlite');
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    module TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (module, version)
  )`);
  const maxRow = db.prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE module = ?');
  const done = db.prepare('SELECT 1 FROM schema_migrations WHERE module = ? AND version = ?');
  const record = db.prepare('INSERT INTO schema_migrations (module, version, name, applied_at) VALUES (?, ?, ?, ?)');
  const now = (): number => Math.floor(Date.now() / 1000);
  const known = migrations.at(-1)?.version ?? 0;
  const current = (): number => {
    const rows = (maxRow.get(module) as { v: number | null }).v ?? 0;
    return spec.legacyUserVersion ? Math.max(rows, db.pragma('user_version', { simple: true }) as number) : rows;
  };
  const refuseIfNewer = (v: number): void => {
    if (v > known) throw new SchemaTooNewError(file, module, v, known);
  };

  refuseIfNewer(current());
  if (spec.legacyUserVersion) {
    // Adopt what user_version says was applied: write the rows it never had (under the write lock).
    db.transaction(() => {
      const v = current();
      refuseIfNewer(v);
      for (const m of migrations.filter((x) => x.version <= v)) if (!done.get(module, m.version)) record.run(module, m.version, m.name, now());
    }).immediate();
  }

  const applied: number[] = [];
  const from = current();
  const pending = migrations.filter((x) => x.version > from);
  if (pending.length === 0) return applied;
  // SQLite's procedure for a change ALTER TABLE cannot make (https://www.sqlite.org/lang_altertable.html
  // §7: a new table, the rows copied, the old one dropped, the new one renamed): foreign keys off
  // while it runs (the pragma is a no-op inside a transaction, so it is set around them), and
  // PRAGMA foreign_key_check before each migration's COMMIT, which it aborts on any violation.
  // ON DELETE CASCADE and SET NULL do not fire while a migration runs: a migration deletes what it
  // means to delete itself (docs/store.md "Migrations").
  if (db.inTransaction) throw new Error(`${file}: migrations of ${module} cannot run inside an open transaction (foreign keys could not be turned off)`);
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) === 1;
  if (foreignKeys) db.pragma('foreign_keys = OFF');
  /** Rows without their parent, by child table: a migration is refused only for ones it adds. */
  const orphans = (): Map<string, { count: number; parent: string }> => {
    const out = new Map<string, { count: number; parent: string }>();
    for (const v of db.pragma('foreign_key_check') as Array<{ table: string; parent: string }>) {
      const e = out.get(v.table) ?? { count: 0, parent: v.parent };
      e.count++;
      out.set(v.table, e);
    }
    return out;
  };
  try {
    // What each migration is compared with: the check after the one before it (one scan each).
    let baseline = foreignKeys ? orphans() : null;
    for (const m of pending) {
      // Checked again under the write lock: two processes starting at once apply it only once.
      const ran = db.transaction(() => {
        if (done.get(module, m.version)) return false;
        refuseIfNewer(current());
        run(db, m.run);
        if (baseline) {
          const after = orphans();
          for (const [table, found] of after) {
            const added = found.count - (baseline.get(table)?.count ?? 0);
            if (added > 0) throw new Error(`${file}: migration ${module} ${m.version} (${m.name}) left ${added} rows of ${table} without their ${found.parent} row`);
          }
          baseline = after;
        }
        record.run(module, m.version, m.name, now());
        if (spec.legacyUserVersion) db.pragma(`user_version = ${m.version}`);
        return true;
      }).immediate();
      if (ran) applied.push(m.version);
      // another process applied it: what it changed is the new baseline
      else if (baseline) baseline = orphans();
    }
  } finally {
    if (foreignKeys) db.pragma('foreign_keys = ON');
  }
  return applied;
}
