// Opens the embedded store in a data directory (docs/store.md):
//
//   <dataDir>/yubin.sqlite (+ -wal, -shm)   metadata (SQLite, WAL)
//   <dataDir>/blobs/ab/cd/<sha256>           raw messages, content-addressed
//   <dataDir>/tmp/                           messages being written, staged blobs
//   <dataDir>/run/<pid>                      processes that have the store open
//
// The server and `yubin` CLI commands may have the same data directory open at the same time
// (SQLite serialises their writes). Files that belong to nobody — temporary files and blob files
// without a row, left by a crash between writing a blob and committing its metadata — are swept
// at open, but only when no other live process has the store open (its in-flight files look the
// same; then only temporary files older than a day go). Blob files are walked only after an
// unclean shutdown: the last process to close marks a clean one in the database.
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { silentLogger, type Logger } from '../log/logger.js';
import { createMessageParser } from '../message/parser.js';
import { BlobFiles, fsyncDir, isErrno } from './blobs.js';
import { deadBlobRemover } from './sqlite/commit.js';
import { databasePath, SqliteStore } from './sqlite/store.js';
import { StoreError, type Store } from './types.js';

export { SqliteStore } from './sqlite/store.js';
export { registerMigrations, runMigrations, type Migration } from './sqlite/migrate.js';

/** Leftovers older than this are swept even while another process has the store open. */
const STALE_MS = 24 * 60 * 60 * 1000;

/** Stores open in this process, per data directory. */
const openHere = new Map<string, number>();

/** The [store] section of the config (src/config/schema.ts): which backend holds the mail. */
export interface StoreConfig {
  backend: 'sqlite' | 'postgresql';
  /** "" = the environment variable YUBIN_DATABASE_URL (so the password need not be in the file). */
  url: string;
  pool_size: number;
  blobs: 'database' | 'files';
}

/**
 * Opens the store the config names: SQLite in dataDir (the default), or PostgreSQL
 * (src/store/postgres; dataDir then holds this node's temporary files, and the shared blob files
 * with blobs = "files").
 */
export async function openStore(dataDir: string, opts?: { logger?: Logger; config?: StoreConfig }): Promise<Store> {
  const config = opts?.config;
  if (!config || config.backend === 'sqlite') return openSqliteStore(dataDir, opts);
  const url = config.url || process.env.YUBIN_DATABASE_URL || '';
  if (!url) throw new StoreError('invalid', '[store] backend = "postgresql" needs url, or the environment variable YUBIN_DATABASE_URL');
  const { openPostgresStore } = await import('./postgres/open.js');
  return openPostgresStore({ url, dataDir, poolSize: config.pool_size, blobs: config.blobs, logger: opts?.logger });
}

/** openStore with the concrete type (for modules that keep their tables in the same database). */
export async function openSqliteStore(dataDir: string, opts?: { logger?: Logger }): Promise<SqliteStore> {
  const dir = resolve(dataDir);
  const logger = opts?.logger ?? silentLogger();
  await mkdir(dir, { recursive: true });
  const files = new BlobFiles(dir, createMessageParser);
  await files.init();
  const { others, crashed } = await registerProcess(dir);
  let db;
  try {
    db = SqliteStore.openDatabase(databasePath(dir));
  } catch (err) {
    await unregisterProcess(dir);
    throw err;
  }
  const store = new SqliteStore(db, files, logger, async (handle) => {
    // The last one out marks a clean shutdown: the next start need not walk every blob file.
    if (await unregisterProcess(dir)) setMeta(handle, 'clean_shutdown', 1);
  });
  try {
    const clean = getMeta(db, 'clean_shutdown') === 1;
    setMeta(db, 'clean_shutdown', 0);
    // Another opener (the server, while a CLI command runs) keeps the walk for the next lone start.
    const swept = await sweep(store, others, (!clean || crashed) && !others);
    if (swept.temp + swept.orphans + swept.dead > 0) logger.info({ dataDir: dir, ...swept }, 'swept leftovers from an interrupted run');
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/**
 * Removes what a crash can leave behind: blob rows without references (and their files),
 * temporary files, and blob files without a row (linked, but the metadata never committed).
 */
async function sweep(store: SqliteStore, othersAlive: boolean, walk: boolean): Promise<{ temp: number; orphans: number; dead: number }> {
  const files = store.files;
  const db = store.db;
  const cutoff = othersAlive ? Date.now() - STALE_MS : Infinity;
  // 1. Rows at refs = 0: delete row, kept bytes and file together under the write lock (commit.ts).
  const dead = db.prepare('SELECT id FROM blobs WHERE refs <= 0').all() as Array<{ id: string }>;
  if (dead.length > 0) {
    const remove = deadBlobRemover(db, files);
    db.transaction(() => {
      for (const { id } of dead) remove(id);
    }).immediate();
  }
  // 2. Temporary files.
  let temp = 0;
  for (const t of await files.listTemp()) {
    if (t.mtimeMs < cutoff) {
      await unlink(t.path).catch(() => undefined);
      temp++;
    }
  }
  // 3. Committed files without a row: only after an unclean shutdown (a crash between linking
  // a blob and committing its row); a clean one leaves none, and walking every file is slow.
  let orphans = 0;
  const has = db.prepare('SELECT 1 FROM blobs WHERE id = ?');
  for await (const f of walk ? files.walkCommitted() : []) {
    if (f.mtimeMs >= cutoff) continue;
    if (/^[0-9a-f]{64}$/.test(f.name) && has.get(f.name)) continue;
    await unlink(f.path).catch(() => undefined);
    orphans++;
  }
  return { temp, orphans, dead: dead.length };
}

/**
 * Records this process in <dataDir>/run. Returns whether another live process has the store
 * open, and whether one died with it open (a crash: its leftovers need a sweep).
 */
async function registerProcess(dir: string): Promise<{ others: boolean; crashed: boolean }> {
  const runDir = join(dir, 'run');
  await mkdir(runDir, { recursive: true });
  let others = (openHere.get(dir) ?? 0) > 0;
  let crashed = false;
  for (const name of await readdir(runDir)) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    if (isAlive(pid)) others = true;
    else {
      crashed = true;
      await unlink(join(runDir, name)).catch(() => undefined);
    }
  }
  openHere.set(dir, (openHere.get(dir) ?? 0) + 1);
  await writeFile(join(runDir, String(process.pid)), `${new Date().toISOString()}\n`);
  await fsyncDir(runDir).catch(() => undefined);
  return { others, crashed };
}

/** Removes this process from <dataDir>/run; returns whether no other opener is left. */
async function unregisterProcess(dir: string): Promise<boolean> {
  const n = (openHere.get(dir) ?? 1) - 1;
  if (n > 0) {
    openHere.set(dir, n);
    return false;
  }
  openHere.delete(dir);
  const runDir = join(dir, 'run');
  await unlink(join(runDir, String(process.pid))).catch((err: unknown) => {
    if (!isErrno(err, 'ENOENT')) throw err;
  });
  // Another opener's file, alive or not (a dead one crashed: its leftovers still need a sweep).
  const names = await readdir(runDir).catch(() => [] as string[]);
  return !names.some((name) => Number(name) > 0 && Number(name) !== process.pid);
}

function getMeta(db: Database.Database, key: string): number | null {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: number } | undefined;
  return row ? row.value : null;
}

function setMeta(db: Database.Database, key: string, value: number): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
