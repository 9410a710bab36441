// The one migration runner for every SQLite database Yubin keeps (yubin.sqlite, queue.sqlite,
// checks.sqlite). Each module keeps its own numbered list beside its code and the runner records
// what ran in the database's `schema_migrations` table, keyed by (module, version):
//
//   | module | version | name          | applied_at |
//   | store  | 1       | initial       | 1764345600 |
//   | store  | 2       | counters      | 1764345601 |
//
// Rules: versions are 1, 2, 3, ... without gaps; never edit or renumber a migration that has
// shipped, append a new one. Each migration runs in its own write transaction together with its
// row, so a crash (or a throwing `up`) leaves it applied or not, never half. A database whose
// version for a module is higher than the code knows refuses to open (SchemaTooNewError), naming
// the file and both versions.
//
// queue.sqlite and checks.sqlite were first versioned with `PRAGMA user_version`. A module that
// sets `legacyUserVersion` has that number adopted as its version (rows are written for it) and
// kept in step, so an older Yubin, which reads only user_version, still refuses a newer file.
import type Database from 'better-sqlite3';

export interface Migration {
  /** 1, 2, 3, ... without gaps, per module. */
  version: number;
  /** A few words for the log and the schema_migrations row. */
  name: string;
  /** Runs inside a transaction; throw to abort (nothing of it stays). */
  up(db: Database.Database): void;
}

/** One module's migrations in one database. */
export interface ModuleMigrations {
  module: string;
  migrations: readonly Migration[];
  /** The database once counted this module's schema in PRAGMA user_version (one module per file). */
  legacyUserVersion?: boolean;
}

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

export function checkMigrationList(module: string, migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations of ${module} must be numbered 1, 2, 3...: found ${m.version} at position ${i + 1}`);
  });
}

/**
 * Brings one module's tables up to date. Returns the versions applied now.
 * Throws SchemaTooNewError when the database is ahead of the code; `file` names it in the message.
 */
export function runMigrations(db: Database.Database, spec: ModuleMigrations, file: string): number[] {
  const { module, migrations } = spec;
  checkMigrationList(module, migrations);
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
  const known = migrations.length;
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
      for (const m of migrations.slice(0, v)) if (!done.get(module, m.version)) record.run(module, m.version, m.name, now());
    }).immediate();
  }

  const applied: number[] = [];
  for (const m of migrations.slice(current())) {
    // Checked again under the write lock: two processes starting at once apply it only once.
    const ran = db.transaction(() => {
      if (done.get(module, m.version)) return false;
      refuseIfNewer(current());
      m.up(db);
      record.run(module, m.version, m.name, now());
      if (spec.legacyUserVersion) db.pragma(`user_version = ${m.version}`);
      return true;
    }).immediate();
    if (ran) applied.push(m.version);
  }
  return applied;
}
