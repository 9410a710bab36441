// store copy's table order (src/store/copy.ts parentsFirst): each table after the tables its
// foreign keys name, whatever order they were created in. SQLite only (the PostgreSQL copy is
// tested in copy.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { StoreError } from './types.js';
import { parentsFirst } from './copy.js';

describe('parentsFirst', () => {
  it('puts parents before children (a parent rebuilt after them too), keeps the given order otherwise, ignores self-references and tables not copied', () => {
    const db = new Database(':memory:');
    try {
      db.pragma('foreign_keys = OFF');
      db.exec(`CREATE TABLE a (x INTEGER);
        CREATE TABLE child (id INTEGER PRIMARY KEY, p TEXT REFERENCES parent(id), g INTEGER REFERENCES grand(id), up INTEGER REFERENCES child(id));
        CREATE TABLE b (x INTEGER, s TEXT REFERENCES skipped(id));
        CREATE TABLE parent (id TEXT PRIMARY KEY, g INTEGER REFERENCES grand(id));
        CREATE TABLE grand (id INTEGER PRIMARY KEY)`);
      assert.deepEqual(parentsFirst(db, ['a', 'child', 'b', 'parent', 'grand']), ['a', 'grand', 'parent', 'child', 'b']);
      assert.deepEqual(parentsFirst(db, ['a', 'b']), ['a', 'b']);
    } finally {
      db.close();
    }
  });

  it('refuses tables that reference each other in a cycle, naming them', () => {
    const db = new Database(':memory:');
    try {
      db.pragma('foreign_keys = OFF');
      db.exec('CREATE TABLE x (id INTEGER PRIMARY KEY, y INTEGER REFERENCES y(id)); CREATE TABLE y (id INTEGER PRIMARY KEY, x INTEGER REFERENCES x(id))');
      assert.throws(() => parentsFirst(db, ['x', 'y']), (err: unknown) => err instanceof StoreError && /x, y reference each other in a cycle/.test(err.message));
    } finally {
      db.close();
    }
  });
});
