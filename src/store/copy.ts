// `yubin store copy --to URL` (docs/store.md "Moving to PostgreSQL"): copies the SQLite store of a
// data directory into an empty PostgreSQL database, table by table with the same ids, UIDs,
// UIDVALIDITY and MODSEQs (the two engines' tables are described by the same migrations, so the
// columns match), the blob files into blob_chunks (blobs = "database") or left in place for a
// shared blobs/ (blobs = "files"). One read snapshot of SQLite, one PostgreSQL transaction: a
// copy that fails leaves the target empty. Then it verifies: the row count of every table, and
// the sha256 of every blob's bytes as PostgreSQL (or the shared file) now has them.
//
// Everything else that is state moves too (issue 17): the outbound queue (queue.sqlite's messages
// and recipients into queue_messages and queue_recipients, with their states, attempts and next
// attempt times; each queued message's file becomes a blob of the store held by the queue, as the
// PostgreSQL queue keeps it) and the checks' state (checks.sqlite's greylisting, spam thresholds
// and Junk verdicts into the checks_ tables), in the same transaction and verified the same way.
// Rate-limit counters and the auth throttle live in memory with SQLite, and DKIM keys in files,
// which a PostgreSQL node imports at its first start.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openPool, redactUrl, type Pool, type PoolClient } from '../db/postgres/pool.js';
import { runPgMigrations } from '../db/postgres/migrate.js';
import { openDatabase } from '../db/sqlite/open.js';
import type { ModuleMigrations } from '../db/schema/schema.js';
import { QUEUE_MODULE } from '../db/schema/queue.js';
import { CHECKS_MODULE } from '../db/schema/checks.js';
import { createMessageParser } from '../message/parser.js';
import { PG_MIGRATIONS, CHUNK_SIZE } from './postgres/schema.js';
import { BlobFiles, stagedFile } from './blobs.js';
import { openSqliteStore } from './index.js';
import { databasePath } from './sqlite/store.js';
import { StoreError, type StagedBlob } from './types.js';

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
// blob_content (a small message's bytes, SQLite only) goes to blob_chunks or a file with its blob row below.
const SKIP = new Set(['schema_migrations', 'change_log', 'sqlite_sequence', 'sqlite_stat1', 'blob_content']);

/** The other SQLite databases of a data directory whose tables move: file, module, tables (SQLite name: PostgreSQL name). */
const OTHER_DATABASES: Array<{ file: string; spec: ModuleMigrations; tables: Array<[string, string]> }> = [
  { file: 'queue.sqlite', spec: QUEUE_MODULE, tables: [['messages', 'queue_messages'], ['recipients', 'queue_recipients']] },
  {
    file: 'checks.sqlite',
    spec: CHECKS_MODULE,
    tables: [['greylist', 'checks_greylist'], ['greylist_known', 'checks_greylist_known'], ['spam_threshold', 'checks_spam_threshold'], ['verdicts', 'checks_verdicts']],
  },
];

interface PlanEntry {
  /** The SQLite database and table the rows come from. */
  db: Database.Database;
  source: string;
  /** The PostgreSQL table they go to (the name shown in progress and reports). */
  table: string;
  columns: string[];
  rows: number;
}
/** Rows per INSERT. */
const BATCH = 200;

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The tables in an order where every table comes after the tables its foreign keys name (the
 * PostgreSQL side checks them at each INSERT), otherwise in the order given. Creation order is not
 * enough: a table rebuilt by a migration (store version 8: blobs) is created after its children.
 */
export function parentsFirst(db: Database.Database, tables: readonly string[]): string[] {
  const set = new Set(tables);
  const parents = new Map(tables.map((t) => [t, (db.prepare(`PRAGMA foreign_key_list(${quoteIdent(t)})`).all() as Array<{ table: string }>).map((f) => f.table).filter((p) => p !== t && set.has(p))]));
  const out: string[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const place = (t: string): void => {
    if (placed.has(t)) return;
    if (visiting.has(t)) throw new StoreError('invalid', `tables ${[...visiting].join(', ')} reference each other in a cycle: no order to copy them in`);
    visiting.add(t);
    for (const p of parents.get(t) ?? []) place(p);
    visiting.delete(t);
    placed.add(t);
    out.push(t);
  };
  for (const t of tables) place(t);
  return out;
}

export async function copyToPostgres(opts: { dataDir: string; url: string; blobs?: 'database' | 'files'; progress?: (p: CopyProgress) => void }): Promise<CopyReport> {
  const mode = opts.blobs ?? 'database';
  const progress = opts.progress ?? (() => undefined);
  // Bring the SQLite store to this version's schema (and sweep a crash's leftovers) first.
  await (await openSqliteStore(opts.dataDir)).close();
  const src = new Database(databasePath(opts.dataDir), { readonly: true, fileMustExist: true });
  // The queue's and the checks' databases, brought to this version's schema like the store's.
  const others: Array<{ db: Database.Database; tables: Array<[string, string]> }> = [];
  const files = new BlobFiles(opts.dataDir, createMessageParser);
  const staged: StagedBlob[] = [];
  const pool = openPool({ url: opts.url, max: 2, applicationName: 'yubin-store-copy' });
  try {
    for (const o of OTHER_DATABASES) {
      const path = join(opts.dataDir, o.file);
      if (existsSync(path)) others.push({ db: openDatabase(path, { synchronous: 'FULL', busyTimeoutMs: 10_000, foreignKeys: true, migrations: [o.spec] }), tables: o.tables });
    }
    for (const spec of [...PG_MIGRATIONS, QUEUE_MODULE, CHECKS_MODULE]) await runPgMigrations(pool, spec, redactUrl(opts.url));
    // One snapshot of each SQLite database for the whole copy (a read transaction each).
    src.exec('BEGIN');
    for (const o of others) o.db.exec('BEGIN');
    const tables = parentsFirst(src, (src.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid`).all() as Array<{ name: string }>).map((t) => t.name).filter((n) => !SKIP.has(n) && !n.startsWith('sqlite_')));
    const plan: PlanEntry[] = [];
    const sources: Array<{ db: Database.Database; source: string; table: string }> = [
      ...tables.map((t) => ({ db: src, source: t, table: t })),
      ...others.flatMap((o) => o.tables.map(([source, table]) => ({ db: o.db, source, table }))),
    ];
    for (const { db, source, table } of sources) {
      // queue.sqlite's messages.content (a small message's bytes, SQLite only) becomes the message's blob below
      // blobs.content: unused since store version 7 (always NULL; the bytes are in blob_content)
      const columns = (db.prepare(`PRAGMA table_info(${quoteIdent(source)})`).all() as Array<{ name: string }>).map((c) => c.name).filter((c) => !((table === 'queue_messages' || table === 'blobs') && c === 'content'));
      const pgCols = new Set((await pool.query<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [table])).rows.map((r) => r.column_name));
      if (!pgCols.size) throw new StoreError('invalid', `table ${source} of ${db.name} has no counterpart in PostgreSQL`);
      const missing = columns.filter((c) => !pgCols.has(c));
      if (missing.length) throw new StoreError('invalid', `table ${table}: columns ${missing.join(', ')} missing in PostgreSQL`);
      const rows = (db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(source)}`).get() as { n: number }).n;
      plan.push({ db, source, table, columns, rows });
    }
    /** Blobs the queue's messages added (not already a mailbox message's): id and size. */
    const queueBlobs: Array<{ id: string; size: number }> = [];
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
        const isQueue = p.table === 'queue_messages';
        const columns = isQueue ? [...p.columns, 'blob_id'] : p.columns;
        const flush = async (): Promise<void> => {
          if (!batch.length) return;
          if (isQueue) {
            // Each queued message's file becomes a blob of the store held by the queue.
            const idIdx = p.columns.indexOf('id');
            for (const row of batch) {
              const inline = (p.db.prepare('SELECT content FROM messages WHERE id = ?').get(row[idIdx]) as { content: Buffer | null } | undefined)?.content ?? null;
              const blob = await queueBlob(c, files, staged, opts.dataDir, row[idIdx] as string, mode, inline);
              if (blob.added) {
                queueBlobs.push({ id: blob.id, size: blob.size });
                blobs++;
                blobBytes += mode === 'database' ? blob.size : 0;
              }
              row.push(blob.id);
            }
          }
          const values: unknown[] = [];
          const tuples = batch.map((row) => `(${row.map((v) => (values.push(v), `$${values.length}`)).join(', ')})`);
          // OVERRIDING SYSTEM VALUE: ids of GENERATED ALWAYS columns (checks_verdicts) are kept too.
          await c.query(`INSERT INTO ${quoteIdent(p.table)} (${columns.map(quoteIdent).join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${tuples.join(', ')}`, values);
          if (p.table === 'blobs') {
            const idIdx = p.columns.indexOf('id');
            const sizeIdx = p.columns.indexOf('size');
            const inlineOf = p.db.prepare('SELECT content FROM blob_content WHERE id = ?');
            for (const row of batch) {
              const id = row[idIdx] as string;
              const size = row[sizeIdx] as number;
              // A small message kept in its row (SQLite): its bytes into blob_chunks, or a file of the shared blobs/.
              const inline = (inlineOf.get(id) as { content: Buffer } | undefined)?.content;
              if (inline && mode === 'files') files.ensureFileSync({ id, size, tempPath: null, bytes: inline });
              if (mode === 'database') blobBytes += inline ? await copyBlobBytes(c, inline, id, size) : await copyBlobFile(c, blobPath(opts.dataDir, id), id, size);
              blobs++;
            }
          }
          done += batch.length;
          allDone += batch.length;
          batch = [];
          progress({ table: p.table, done, total: p.rows, allDone, allTotal, phase: 'copy' });
        };
        for (const row of p.db.prepare(`SELECT ${p.columns.map(quoteIdent).join(', ')} FROM ${quoteIdent(p.source)}`).raw().iterate() as IterableIterator<unknown[]>) {
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
    for (const o of others) o.db.exec('COMMIT');
    await verify(pool, src, plan, queueBlobs, opts.dataDir, mode, (done, total) => progress({ table: 'blobs', done, total, allDone: done, allTotal: total, phase: 'verify' }));
    return { tables: plan.map((p) => ({ table: p.table, rows: p.rows })), blobs, blobBytes };
  } finally {
    for (const db of [src, ...others.map((o) => o.db)]) {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
    for (const s of staged) await files.discard(s).catch(() => undefined);
    await pool.end();
  }
}

/**
 * One queued message's file (data_dir/queue/<id>.eml) as a blob of the store with one more
 * reference held outside mailboxes (the PostgreSQL queue's own way: PgBlobs.addRef(c, blob, 1, 1)).
 * The file is staged (hashed and parsed, as a delivery would) and its bytes go to blob_chunks or
 * the shared blobs/ unless the blob is already there (a copy of a mailbox message).
 */
async function queueBlob(
  c: PoolClient,
  files: BlobFiles,
  staged: StagedBlob[],
  dataDir: string,
  queueId: string,
  mode: 'database' | 'files',
  /** The bytes of a message kept in its row (queue.sqlite's messages.content), else null: its file. */
  inline: Buffer | null,
): Promise<{ id: string; size: number; added: boolean }> {
  if (!/^[0-9A-Z]+$/.test(queueId)) throw new StoreError('invalid', `invalid queue id ${JSON.stringify(queueId)}`);
  const path = join(dataDir, 'queue', `${queueId}.eml`);
  const writer = files.createWriter();
  try {
    if (inline) await writer.write(inline);
    else for await (const chunk of createReadStream(path)) await writer.write(chunk as Buffer);
  } catch (err) {
    await writer.abort();
    throw new StoreError('not-found', `queued message ${queueId}: cannot read ${path} (${(err as Error).message})`);
  }
  const blob = await writer.finish();
  staged.push(blob);
  const r = await c.query<{ inserted: boolean }>(
    `INSERT INTO blobs (id, size, refs, held, structure) VALUES ($1, $2, 1, 1, $3)
     ON CONFLICT (id) DO UPDATE SET refs = blobs.refs + 1, held = blobs.held + 1 RETURNING (xmax = 0) AS inserted`,
    [blob.id, blob.size, JSON.stringify(blob.structure)],
  );
  const added = r.rows[0]!.inserted;
  if (added && mode === 'database') await copyBlobFile(c, stagedFile(blob), blob.id, blob.size);
  if (mode === 'files') {
    const failed = await files.commitFiles([blob]);
    const err = failed.get(blob.id);
    if (err) throw new StoreError('not-found', `queued message ${queueId}: could not store its blob (${err.message})`);
  }
  return { id: blob.id, size: blob.size, added };
}

function blobPath(dataDir: string, id: string): string {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new StoreError('invalid', `invalid blob id ${JSON.stringify(id)}`);
  return join(dataDir, 'blobs', id.slice(0, 2), id.slice(2, 4), id);
}

/** Copies a blob kept in its SQLite row into blob_chunks, checking its size and hash. */
async function copyBlobBytes(c: PoolClient, bytes: Buffer, id: string, size: number): Promise<number> {
  if (bytes.length !== size || createHash('sha256').update(bytes).digest('hex') !== id) throw new StoreError('invalid', `blob ${id}: its stored bytes do not match its size or hash (${bytes.length} bytes): run yubin on the SQLite store to check it before copying`);
  // The same chunks as copyBlobFile: an empty blob is one empty chunk.
  for (let seq = 0, off = 0; seq === 0 || off < bytes.length; seq++, off += CHUNK_SIZE) {
    await c.query('INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)', [id, seq, bytes.subarray(off, off + CHUNK_SIZE)]);
  }
  return bytes.length;
}

/** Copies one blob file into blob_chunks, CHUNK_SIZE at a time, checking its size and hash. */
async function copyBlobFile(c: PoolClient, path: string, id: string, size: number): Promise<number> {
  const fh = await openFile(path, 'r');
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
async function verify(pool: Pool, src: Database.Database, plan: PlanEntry[], queueBlobs: Array<{ id: string; size: number }>, dataDir: string, mode: 'database' | 'files', progress: (done: number, total: number) => void): Promise<void> {
  for (const p of plan) {
    const n = (await pool.query<{ n: number }>(`SELECT count(*) AS n FROM ${quoteIdent(p.table)}`)).rows[0]!.n;
    // blobs: the store's, and the queued messages' that were not a mailbox message's too
    const want = p.table === 'blobs' ? p.rows + queueBlobs.length : p.rows;
    if (n !== want) throw new StoreError('invalid', `verification failed: table ${p.table} has ${n} rows in PostgreSQL, ${want} in SQLite`);
  }
  const ids = [...(src.prepare('SELECT id, size FROM blobs').all() as Array<{ id: string; size: number }>), ...queueBlobs];
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
