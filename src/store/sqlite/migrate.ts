// Numbered schema migrations, run when the database opens (DESIGN.md "Store").
//
// Each module that keeps tables in the store's SQLite database has its own numbered list, keyed
// by (module, version) in the `schema_migrations` table:
//
//   | module | version | name          | applied_at |
//   | store  | 1       | initial       | 1764345600 |
//   | queue  | 1       | queue tables  | 1764345601 |
//
// To change the store's schema: append a Migration with the next version to STORE_MIGRATIONS in
// schema.ts. Never edit or renumber one that has shipped. Each migration runs in its own
// transaction together with its row in schema_migrations, so a crash leaves it applied or not.
//
// Another module (e.g. the outbound queue) adds its tables the same way, under its own name:
//
//   import { registerMigrations } from '../store/sqlite/migrate.js';
//   registerMigrations('queue', [{ version: 1, name: 'queue tables', up: (db) => db.exec('CREATE TABLE ...') }]);
//
// at module load (before openStore), or later with runMigrations(db, 'queue', list) on the
// database it gets from the SQLite store. A database whose version for a module is higher than
// the code knows refuses to open with StoreError('schema-too-new').
import type Database from 'better-sqlite3';
import { StoreError } from '../types.js';

export interface Migration {
  /** 1, 2, 3, ... without gaps, per module. */
  version: number;
  /** A few words for the log and the schema_migrations row. */
  name: string;
  /** Runs inside a transaction; throw to abort. */
  up(db: Database.Database): void;
}

const registered = new Map<string, Migration[]>();

/** Adds a module's migrations to every store opened afterwards (after the store's own). */
export function registerMigrations(module: string, migrations: Migration[]): void {
  if (module === 'store') throw new Error('the "store" module owns its migrations in schema.ts');
  checkList(module, migrations);
  registered.set(module, migrations);
}

export function registeredMigrations(): Array<[string, Migration[]]> {
  return [...registered.entries()];
}

function checkList(module: string, migrations: Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations of ${module} must be numbered 1, 2, 3...: found ${m.version} at position ${i + 1}`);
  });
}

/**
 * Brings a module's tables up to date. Returns the versions applied now.
 * Throws StoreError('schema-too-new') when the database is ahead of the code.
 */
export function runMigrations(db: Database.Database, module: string, migrations: Migration[], where = 'the database'): number[] {
  checkList(module, migrations);
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    module TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (module, version)
  )`);
  const current = (db.prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE module = ?').get(module) as { v: number | null }).v ?? 0;
  const known = migrations.length;
  if (current > known) {
    throw new StoreError(
      'schema-too-new',
      `${where} has schema version ${current} for "${module}" but this Yubin knows only up to ${known}: it was written by a newer Yubin; run that version (or upgrade) instead`,
    );
  }
  const applied: number[] = [];
  const record = db.prepare('INSERT INTO schema_migrations (module, version, name, applied_at) VALUES (?, ?, ?, ?)');
  const done = db.prepare('SELECT 1 FROM schema_migrations WHERE module = ? AND version = ?');
  for (const m of migrations.slice(current)) {
    // Checked again under the write lock: two processes starting at once apply it only once.
    const ran = db.transaction(() => {
      if (done.get(module, m.version)) return false;
      m.up(db);
      record.run(module, m.version, m.name, Math.floor(Date.now() / 1000));
      return true;
    }).immediate();
    if (ran) applied.push(m.version);
  }
  return applied;
}
