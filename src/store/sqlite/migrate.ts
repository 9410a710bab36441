// Which migrations run in the store's database, yubin.sqlite (the runner itself is the one of
// every Yubin database: src/db/sqlite/migrate.ts, where the rules are).
//
// To change the store's schema: append a migration with the next version to the module's list in
// src/db/schema/store.ts (one description for SQLite and PostgreSQL; docs/store.md "Migrations").
// Never edit or renumber one that has shipped.
//
// Another module can keep its tables in the store's database, under its own module name:
//
//   import { registerMigrations } from '../store/sqlite/migrate.js';
//   registerMigrations('mymodule', [{ version: 1, name: 'tables', steps: [table('mine', [text('x')])] }]);
//
// at module load (before openStore), or later with runMigrations(db, { module, migrations }, file)
// on the database it gets from the SQLite store. A database whose version for a module is higher
// than the code knows refuses to open with StoreError('schema-too-new').
import { checkMigrationList, type Migration, type ModuleMigrations } from '../../db/sqlite/migrate.js';

export { runMigrations, type Migration } from '../../db/sqlite/migrate.js';

const registered = new Map<string, readonly Migration[]>();

/** Adds a module's migrations to every store opened afterwards (after the store's own). */
export function registerMigrations(module: string, migrations: readonly Migration[]): void {
  if (module === 'store') throw new Error('the "store" module owns its migrations in schema.ts');
  checkMigrationList(module, migrations);
  registered.set(module, migrations);
}

/** The modules registered, in registration order. */
export function registeredMigrations(): ModuleMigrations[] {
  return [...registered.entries()].map(([module, migrations]) => ({ module, migrations }));
}
