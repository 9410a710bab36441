// `yubin store copy --to URL` (docs/store.md "Moving to PostgreSQL"): copies the SQLite store of a
// data directory into an empty PostgreSQL database, table by table with the same ids, UIDs,
// UIDVALIDITY and MODSEQs (the two engines' tables are described by the same migrations, so the
// columns match), the blob files into blob_chunks (blobs = "database") or left in place for a
// shared blobs/ (blobs = "files"). One read snapshot of SQLite, one PostgreSQL transaction: a
// copy that fails leaves the target empty. Then it verifies: the row count of every table, and
// the sha256 of every blob's bytes as PostgreSQL (or the shared file) now has them.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openPool, redactUrl, type Pool, type PoolClient } from '../db/postgres/pool.js';
import { runPgMigrations } from '../db/postgres/migrate.js';
import { PG_MIGRATIONS, CHUNK_SIZE } from './postgres/schema.js';
import { openSqliteStore } from './index.js';
import { databasePath } from './sqlite/store.js';
import { StoreError } from './types.js';

export interface CopyProgress {
  table: string;
  /** Rows of this table copied so far, and its total. */
  done: number;
  total: number;
  /** Rows of every table copied so far, and the total (the bar). */
  allDone: number;
  allTotal: number;
  phase: 'copy' | 'verify';
}

export interface CopyReport {
  tables: Array<{ table: string; rows: number }>;
  blobs: number;
  blobBytes: number;
}

/** SQLite tables that are not copied: the runner's own, and the SQLite-only cross-process log. */
const SKIP = new Set(['schema_migrations', 'change_log', 'sqlite_sequence', 'sqlite_stat1']);
/** Rows per INSERT. */
const BATCH = 200;

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export async function copyToPostgres(opts: { dataDir: string; url: string; blobs?: 'database' | 'files'; progress?: (p: CopyProgress) => void }): Promise<CopyReport> {
  const mode = opts.blobs ?? 'database';
  const progress = opts.progress ?? (() => undefined);
  // Bring the SQLite store to this version's schema (and sweep a crash's leftovers) first.
  await (await openSqliteStore(opts.dataDir)).close();
  const src = new Database(databasePath(opts.dataDir), { readonly: true, fileMustExist: true });
  const pool = openPool({ url: opts.url, max: 2, applicationName: 'yubin-store-copy' });
  try {
    for (const spec of PG_MIGRATIONS) await runPgMigrations(pool, spec, redactUrl(opts.url));
    // One snapshot of SQLite for the whole copy (a read transaction).
    src.exec('BEGIN');
    const tables = (src.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid`).all() as Array<{ name: string }>).map((t) => t.name).filter((n) => !SKIP.has(n) && !n.startsWith('sqlite_'));
    const plan: Array<{ table: string; columns: string[]; rows: number }> = [];
    for (const table of tables) {
      const columns = (src.prepare(`PRAGMA table_info(${quoteIdent(table)})`).all() as Array<{ name: string }>).map((c) => c.name);
      const pgCols = new Set((await pool.query<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [table])).rows.map((r) => r.column_name));
      if (!pgCols.size) throw new StoreError('invalid', `table ${table} of the SQLite store has no counterpart in PostgreSQL`);
      const missing = columns.filter((c) => !pgCols.has(c));
      if (missing.length) throw new StoreError('invalid', `table ${table}: columns ${missing.join(', ')} missing in PostgreSQL`);
      const rows = (src.prepare(`SELECT count(*) AS n FROM ${quoteIdent(table)}`).get() as { n: number }).n;
      plan.push({ table, columns, rows });
    }
    for (const t of [...plan.map((p) => p.table), 'blob_chunks']) {
      const r = await pool.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${quoteIdent(t)}) AS any`);
      if (r.rows[0]!.any) throw new StoreError('exists', `the target database is not empty (table ${t} has rows): store copy only fills an empty database`);
    }
    const allTotal = plan.reduce((n, p) => n + p.rows, 0);
    let allDone = 0;
    let blobs = 0;
    let blobBytes = 0;
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      for (const p of plan) {
        let done = 0;
        progress({ table: p.table, done, total: p.rows, allDone, allTotal, phase: 'copy' });
        let batch: unknown[][] = [];
        const flush = async (): Promise<void> => {
          if (!batch.length) return;
          const values: unknown[] = [];
          const tuples = batch.map((row) => `(${row.map((v) => (values.push(v), `$${values.length}`)).join(', ')})`);
          await c.query(`INSERT INTO ${quoteIdent(p.table)} (${p.columns.map(quoteIdent).join(', ')}) VALUES ${tuples.join(', ')}`, values);
          if (p.table === 'blobs' && mode === 'database') {
            const idIdx = p.columns.indexOf('id');
            const sizeIdx = p.columns.indexOf('size');
            for (const row of batch) {
              blobBytes += await copyBlobFile(c, opts.dataDir, row[idIdx] as string, row[sizeIdx] as number);
              blobs++;
            }
          } else if (p.table === 'blobs') {
            blobs += batch.length;
          }
          done += batch.length;
          allDone += batch.length;
          batch = [];
          progress({ table: p.table, done, total: p.rows, allDone, allTotal, phase: 'copy' });
        };
        for (const row of src.prepare(`SELECT ${p.columns.map(quoteIdent).join(', ')} FROM ${quoteIdent(p.table)}`).raw().iterate() as IterableIterator<unknown[]>) {
          batch.push(row);
          if (batch.length >= BATCH) await flush();
        }
        await flush();
      }
      // The identity columns continue after the copied ids.
      const idents = await c.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'`,
      );
      for (const { table_name, column_name } of idents.rows) {
        if (!plan.some((p) => p.table === table_name)) continue;
        await c.query(`SELECT setval(pg_get_serial_sequence($1, $2), GREATEST((SELECT max(${quoteIdent(column_name)}) FROM ${quoteIdent(table_name)}), 1))`, [table_name, column_name]);
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
    src.exec('COMMIT');
    await verify(pool, src, plan, opts.dataDir, mode, (done, total) => progress({ table: 'blobs', done, total, allDone: done, allTotal: total, phase: 'verify' }));
    return { tables: plan.map((p) => ({ table: p.table, rows: p.rows })), blobs, blobBytes };
  } finally {
    if (src.inTransaction) src.exec('ROLLBACK');
    src.close();
    await pool.end();
  }
}

function blobPath(dataDir: string, id: string): string {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new StoreError('invalid', `invalid blob id ${JSON.stringify(id)}`);
  return join(dataDir, 'blobs', id.slice(0, 2), id.slice(2, 4), id);
}

/** Copies one blob file into blob_chunks, CHUNK_SIZE at a time, checking its size and hash. */
async function copyBlobFile(c: PoolClient, dataDir: string, id: string, size: number): Promise<number> {
  const fh = await openFile(blobPath(dataDir, id), 'r');
  const hash = createHash('sha256');
  let total = 0;
  try {
    for (let seq = 0; ; seq++) {
      const buf = Buffer.alloc(CHUNK_SIZE);
      const { bytesRead } = await fh.read(buf, 0, CHUNK_SIZE, null);
      if (bytesRead === 0 && seq > 0) break;
      const data = buf.subarray(0, bytesRead);
      hash.update(data);
      total += bytesRead;
      await c.query('INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)', [id, seq, data]);
      if (bytesRead < CHUNK_SIZE) break;
    }
  } finally {
    await fh.close();
  }
  if (total !== size || hash.digest('hex') !== id) throw new StoreError('invalid', `blob ${id}: the file does not match its size or hash (${total} bytes): run yubin on the SQLite store to check it before copying`);
  return total;
}

/** Row counts of every table, and every blob's bytes hashed as the target now has them. */
async function verify(pool: Pool, src: Database.Database, plan: Array<{ table: string; rows: number }>, dataDir: string, mode: 'database' | 'files', progress: (done: number, total: number) => void): Promise<void> {
  for (const p of plan) {
    const n = (await pool.query<{ n: number }>(`SELECT count(*) AS n FROM ${quoteIdent(p.table)}`)).rows[0]!.n;
    if (n !== p.rows) throw new StoreError('invalid', `verification failed: table ${p.table} has ${n} rows in PostgreSQL, ${p.rows} in SQLite`);
  }
  const ids = (src.prepare('SELECT id, size FROM blobs').all() as Array<{ id: string; size: number }>);
  let done = 0;
  for (const b of ids) {
    const hash = createHash('sha256');
    let size = 0;
    if (mode === 'database') {
      // a chunk at a time: a large message never sits whole in memory
      for (let seq = 0; ; seq++) {
        const r = await pool.query<{ data: Buffer }>('SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2', [b.id, seq]);
        if (!r.rows[0]) break;
        hash.update(r.rows[0].data);
        size += r.rows[0].data.length;
      }
    } else {
      const fh = await openFile(blobPath(dataDir, b.id), 'r');
      try {
        for await (const chunk of fh.createReadStream()) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
      } finally {
        await fh.close().catch(() => undefined);
      }
    }
    if (size !== b.size || hash.digest('hex') !== b.id) throw new StoreError('invalid', `verification failed: blob ${b.id} has ${size} bytes with another hash in the target`);
    if (++done % 100 === 0 || done === ids.length) progress(done, ids.length);
  }
}
