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
// same); otherwise only those older than a day go.
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { silentLogger, type Logger } from '../log/logger.js';
import { createMessageParser } from '../message/parser.js';
import { BlobFiles, fsyncDir, isErrno } from './blobs.js';
import { databasePath, SqliteStore } from './sqlite/store.js';
import type { Store } from './types.js';

export { SqliteStore } from './sqlite/store.js';
export { registerMigrations, runMigrations, type Migration } from './sqlite/migrate.js';

/** Leftovers older than this are swept even while another process has the store open. */
const STALE_MS = 24 * 60 * 60 * 1000;

/** Stores open in this process, per data directory. */
const openHere = new Map<string, number>();

export async function openStore(dataDir: string, opts?: { logger?: Logger }): Promise<Store> {
  return openSqliteStore(dataDir, opts);
}

/** openStore with the concrete type (for modules that keep their tables in the same database). */
export async function openSqliteStore(dataDir: string, opts?: { logger?: Logger }): Promise<SqliteStore> {
  const dir = resolve(dataDir);
  const logger = opts?.logger ?? silentLogger();
  await mkdir(dir, { recursive: true });
  const files = new BlobFiles(dir, createMessageParser);
  await files.init();
  const others = await registerProcess(dir);
  let db;
  try {
    db = SqliteStore.openDatabase(databasePath(dir));
  } catch (err) {
    await unregisterProcess(dir);
    throw err;
  }
  const store = new SqliteStore(db, files, logger, () => unregisterProcess(dir));
  try {
    const swept = await sweep(store, others);
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
async function sweep(store: SqliteStore, othersAlive: boolean): Promise<{ temp: number; orphans: number; dead: number }> {
  const files = store.files;
  const db = store.db;
  const cutoff = othersAlive ? Date.now() - STALE_MS : Infinity;
  // 1. Rows at refs = 0: delete row and file together under the write lock (see commit.ts).
  const dead = db.prepare('SELECT id FROM blobs WHERE refs <= 0').all() as Array<{ id: string }>;
  if (dead.length > 0) {
    db.transaction(() => {
      for (const { id } of dead) {
        if (db.prepare('DELETE FROM blobs WHERE id = ? AND refs <= 0').run(id).changes) files.removeFileSync(id);
      }
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
  // 3. Committed files without a row.
  let orphans = 0;
  const has = db.prepare('SELECT 1 FROM blobs WHERE id = ?');
  for await (const f of files.walkCommitted()) {
    if (f.mtimeMs >= cutoff) continue;
    if (/^[0-9a-f]{64}$/.test(f.name) && has.get(f.name)) continue;
    await unlink(f.path).catch(() => undefined);
    orphans++;
  }
  return { temp, orphans, dead: dead.length };
}

/** Records this process in <dataDir>/run; returns whether another live process has the store open. */
async function registerProcess(dir: string): Promise<boolean> {
  const runDir = join(dir, 'run');
  await mkdir(runDir, { recursive: true });
  let others = (openHere.get(dir) ?? 0) > 0;
  for (const name of await readdir(runDir)) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    if (isAlive(pid)) others = true;
    else await unlink(join(runDir, name)).catch(() => undefined);
  }
  openHere.set(dir, (openHere.get(dir) ?? 0) + 1);
  await writeFile(join(runDir, String(process.pid)), `${new Date().toISOString()}\n`);
  await fsyncDir(runDir).catch(() => undefined);
  return others;
}

async function unregisterProcess(dir: string): Promise<void> {
  const n = (openHere.get(dir) ?? 1) - 1;
  if (n > 0) {
    openHere.set(dir, n);
    return;
  }
  openHere.delete(dir);
  await unlink(join(dir, 'run', String(process.pid))).catch((err: unknown) => {
    if (!isErrno(err, 'ENOENT')) throw err;
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
