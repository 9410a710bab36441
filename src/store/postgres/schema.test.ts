// The PostgreSQL migrations stay in step with the SQLite ones: the same modules, versions and
// names (schema.ts: one numbered description per module, each engine's SQL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STORE_MIGRATIONS } from '../sqlite/schema.js';
import { SIEVE_MIGRATIONS } from '../sqlite/sieve.js';
import { METADATA_MIGRATIONS } from '../sqlite/metadata.js';
import { PG_METADATA_MIGRATIONS } from './metadata.js';
import { checkPgMigrationList } from '../../db/postgres/migrate.js';
import { PG_MIGRATIONS, PG_SIEVE_MIGRATIONS, PG_STORE_MIGRATIONS } from './schema.js';

test('PostgreSQL and SQLite migrations have the same modules, versions and names', () => {
  const list = (ms: ReadonlyArray<{ version: number; name: string }>): string[] => ms.map((m) => `${m.version} ${m.name}`);
  assert.deepEqual(list(PG_STORE_MIGRATIONS.migrations), list(STORE_MIGRATIONS));
  assert.deepEqual(list(PG_SIEVE_MIGRATIONS.migrations), list(SIEVE_MIGRATIONS));
  assert.deepEqual(list(PG_METADATA_MIGRATIONS.migrations), list(METADATA_MIGRATIONS));
  for (const spec of PG_MIGRATIONS) checkPgMigrationList(spec.module, spec.migrations);
  assert.throws(() => checkPgMigrationList('x', [{ version: 2, name: 'gap', sql: '' }]), /numbered 1, 2, 3/);
});
