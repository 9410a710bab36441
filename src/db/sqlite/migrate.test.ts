// The one migration runner: order, refusal of a newer database, atomicity, adoption of the old
// PRAGMA user_version bookkeeping (queue.sqlite and checks.sqlite before schema_migrations).
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runMigrations, SchemaTooNewError, type Migration } from './migrate.js';
import { openDatabase } from './open.js';
import { closeChecksDbs, openChecksDb } from '../../checks/db.js';
import { shippedSql } from '../schema/shipped.fixture.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'yubin-migrate-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function rows(db: Database.Database, module: string): number[] {
  return (db.prepare('SELECT version FROM schema_migrations WHERE module = ? ORDER BY version').all(module) as Array<{ version: number }>).map((r) => r.version);
}

function tracing(log: number[], n: number): Migration[] {
  return Array.from({ length: n }, (_, i) => ({
    version: i + 1,
    name: `step ${i + 1}`,
    steps: [
      {
        sqlite: (db: Database.Database) => {
          log.push(i + 1);
          db.exec(`CREATE TABLE t${i + 1} (x INTEGER)`);
        },
      },
    ],
  }));
}

describe('runMigrations', () => {
  it('applies migrations in order, once, and only the new ones later', () => {
    const file = join(dir, 'a.sqlite');
    const log: number[] = [];
    const db = new Database(file);
    try {
      assert.deepEqual(runMigrations(db, { module: 'm', migrations: tracing(log, 2) }, file), [1, 2]);
      assert.deepEqual(runMigrations(db, { module: 'm', migrations: tracing(log, 2) }, file), []);
      assert.deepEqual(runMigrations(db, { module: 'm', migrations: tracing(log, 4) }, file), [3, 4]);
      assert.deepEqual(log, [1, 2, 3, 4]);
      assert.deepEqual(rows(db, 'm'), [1, 2, 3, 4]);
      // Another module in the same file counts on its own.
      assert.deepEqual(runMigrations(db, { module: 'other', migrations: [{ version: 1, name: 'x', steps: [{ sqlite: () => undefined }] }] }, file), [1]);
      assert.deepEqual(rows(db, 'm'), [1, 2, 3, 4]);
    } finally {
      db.close();
    }
  });

  it('rejects a list with a gap or out of order', () => {
    const db = new Database(':memory:');
    try {
      const list = tracing([], 3);
      assert.throws(() => runMigrations(db, { module: 'm', migrations: [list[0]!, list[2]!] }, 'mem'), /numbered 1, 2, 3/);
    } finally {
      db.close();
    }
  });

  it('refuses a database newer than the code, naming the file and both versions, and applies nothing', () => {
    const file = join(dir, 'new.sqlite');
    const log: number[] = [];
    let db = openDatabase(file, { synchronous: 'FULL', busyTimeoutMs: 1000, migrations: [{ module: 'm', migrations: tracing(log, 3) }] });
    db.close();
    log.length = 0;
    assert.throws(
      () => openDatabase(file, { synchronous: 'FULL', busyTimeoutMs: 1000, migrations: [{ module: 'm', migrations: tracing(log, 2) }, { module: 'later', migrations: tracing(log, 1) }] }),
      (err: unknown) =>
        err instanceof SchemaTooNewError &&
        err.code === 'schema-too-new' &&
        err.file === file &&
        err.found === 3 &&
        err.known === 2 &&
        err.message.includes(file) &&
        /schema version 3 for "m" but this Yubin knows only up to 2/.test(err.message),
    );
    assert.deepEqual(log, []);
    db = new Database(file);
    assert.deepEqual(rows(db, 'later'), []);
    db.close();
  });

  it('a failing migration leaves nothing of itself and no version row; the earlier ones stay', () => {
    const file = join(dir, 'fail.sqlite');
    const db = new Database(file);
    try {
      const list = tracing([], 1);
      const broken: Migration = {
        version: 2,
        name: 'half',
        steps: [
          {
            sqlite: (d) => {
              d.exec('CREATE TABLE half (x INTEGER); INSERT INTO half VALUES (1)');
              throw new Error('boom');
            },
          },
        ],
      };
      assert.throws(() => runMigrations(db, { module: 'm', migrations: [...list, broken] }, file), /boom/);
      assert.deepEqual(rows(db, 'm'), [1]);
      assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half'").get() as { n: number }).n, 0, 'the half-made table is gone');
      // Fixed, it runs.
      const fixed: Migration = { version: 2, name: 'whole', steps: [{ sqlite: 'CREATE TABLE half (x INTEGER)' }] };
      assert.deepEqual(runMigrations(db, { module: 'm', migrations: [...list, fixed] }, file), [2]);
    } finally {
      db.close();
    }
  });

  it('rebuilds a referenced table with foreign keys off, and refuses one that leaves children without parents', () => {
    const db = new Database(':memory:');
    try {
      db.pragma('foreign_keys = ON');
      const base: Migration = { version: 1, name: 'tables', steps: [{ sqlite: 'CREATE TABLE p (id TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID; CREATE TABLE c (k INTEGER PRIMARY KEY, pid TEXT REFERENCES p(id)); INSERT INTO p VALUES (\'a\'); INSERT INTO c VALUES (1, \'a\')' }] };
      const rebuild = (keep: string): Migration => ({
        version: 2,
        name: 'p as a rowid table',
        steps: [{ sqlite: `CREATE TABLE p_new (id TEXT PRIMARY KEY NOT NULL); INSERT INTO p_new SELECT * FROM p WHERE id = '${keep}'; DROP TABLE p; ALTER TABLE p_new RENAME TO p` }],
      });
      runMigrations(db, { module: 'm', migrations: [base] }, 'mem');
      // Leaving c's row without its parent: the migration is rolled back, the file as it was.
      assert.throws(() => runMigrations(db, { module: 'm', migrations: [base, rebuild('zz')] }, 'mem'), /migration m 2 \(p as a rowid table\) left 1 rows of c without their p row/);
      assert.deepEqual(rows(db, 'm'), [1]);
      assert.match((db.prepare("SELECT sql FROM sqlite_master WHERE name = 'p'").get() as { sql: string }).sql, /WITHOUT ROWID/);
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys back on');
      // Keeping every parent: applied (a DROP of a referenced table fails with foreign keys on).
      assert.deepEqual(runMigrations(db, { module: 'm', migrations: [base, rebuild('a')] }, 'mem'), [2]);
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
      assert.throws(() => db.prepare("INSERT INTO c VALUES (2, 'nope')").run(), /FOREIGN KEY/);
    } finally {
      db.close();
    }
  });

  it('a row already without its parent before a migration does not block it; one inside a transaction is refused', () => {
    const db = new Database(':memory:');
    try {
      db.pragma('foreign_keys = OFF'); // better-sqlite3 turns them on by default
      db.exec("CREATE TABLE p (id TEXT PRIMARY KEY NOT NULL); CREATE TABLE c (k INTEGER PRIMARY KEY, pid TEXT REFERENCES p(id)); INSERT INTO c VALUES (1, 'gone')");
      db.pragma('foreign_keys = ON');
      const add: Migration[] = [{ version: 1, name: 'another table', steps: [{ sqlite: 'CREATE TABLE d (x INTEGER)' }] }];
      db.exec('BEGIN');
      assert.throws(() => runMigrations(db, { module: 'm', migrations: add }, 'mem'), /cannot run inside an open transaction/);
      db.exec('ROLLBACK');
      assert.deepEqual(runMigrations(db, { module: 'm', migrations: add }, 'mem'), [1]);
    } finally {
      db.close();
    }
  });

  it('adopts PRAGMA user_version (the old bookkeeping) and keeps it in step', () => {
    const file = join(dir, 'legacy.sqlite');
    let db = new Database(file);
    // Made the old way: the tables of version 1 and user_version = 1, no schema_migrations.
    db.exec('CREATE TABLE t1 (x INTEGER); INSERT INTO t1 VALUES (7)');
    db.pragma('user_version = 1');
    db.close();
    const log: number[] = [];
    db = openDatabase(file, { synchronous: 'FULL', busyTimeoutMs: 1000, migrations: [{ module: 'm', migrations: tracing(log, 2), legacyUserVersion: true }] });
    try {
      assert.deepEqual(log, [2], 'migration 1 is not run again');
      assert.deepEqual(rows(db, 'm'), [1, 2]);
      assert.equal(db.pragma('user_version', { simple: true }), 2);
      assert.equal((db.prepare('SELECT x FROM t1').get() as { x: number }).x, 7);
    } finally {
      db.close();
    }
    // An older Yubin (user_version only) that migrated further is seen as newer.
    db = new Database(file);
    db.pragma('user_version = 5');
    db.close();
    assert.throws(
      () => openDatabase(file, { synchronous: 'FULL', busyTimeoutMs: 1000, migrations: [{ module: 'm', migrations: tracing([], 2), legacyUserVersion: true }] }),
      (err: unknown) => err instanceof SchemaTooNewError && err.found === 5 && err.known === 2,
    );
  });
});

describe('checks.sqlite made the old way', () => {
  it('opens, keeps its rows, and gets schema_migrations', () => {
    const file = join(dir, 'checks.sqlite');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    // What checks/db.ts did before: run the SQL, then user_version = 1.
    db.exec(shippedSql('sqlite', 'checks', 1));
    db.pragma('user_version = 1');
    db.prepare('INSERT INTO spam_threshold (address, threshold) VALUES (?, ?)').run('bob@a.test', 3.5);
    db.close();
    try {
      const checks = openChecksDb(dir);
      assert.equal((checks.prepare('SELECT threshold FROM spam_threshold WHERE address = ?').get('bob@a.test') as { threshold: number }).threshold, 3.5);
      assert.deepEqual(rows(checks, 'checks'), [1]);
      assert.equal(checks.pragma('user_version', { simple: true }), 1);
      assert.equal(checks.pragma('synchronous', { simple: true }), 1, 'NORMAL');
      assert.equal(checks.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      closeChecksDbs();
    }
  });
});
