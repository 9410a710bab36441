// Raw message bytes with the PostgreSQL store (docs/store.md "PostgreSQL"). Staging is the same
// as with SQLite: a writer streams the message into a temporary file of this node
// (<dataDir>/tmp, BlobFiles), hashing and parsing it as it arrives; finish() fsyncs it. Committing
// puts the bytes where every node can read them, inside the transaction that references them:
//
//   blobs = "database": 256 KiB rows of blob_chunks, read from the staged file one chunk at a
//     time (a 50 MB message never sits whole in memory), committed with the metadata (one WAL
//     flush makes both durable);
//   blobs = "files": the existing content-addressed files (BlobFiles) on a filesystem every node
//     mounts, linked and fsynced before the metadata commits, as the SQLite store does.
//
// Rows are content-addressed and reference-counted in `blobs`; a row whose count reaches 0 is
// deleted after the commit (its chunks with it, or its file unlinked inside that transaction).
import { open as openFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { BlobFiles } from '../blobs.js';
import { StoreError, type StagedBlob } from '../types.js';
import type { Pool, PoolClient } from '../../db/postgres/pool.js';
import { CHUNK_SIZE } from './schema.js';

export type BlobMode = 'database' | 'files';

/** Chunks fetched per query while streaming (1 MiB). */
const CHUNKS_PER_READ = 4;

export class PgBlobs {
  constructor(
    private readonly pool: Pool,
    readonly files: BlobFiles,
    readonly mode: BlobMode,
  ) {}

  /**
   * Before any row lock of a write: makes the blob's bytes available under its id if they are not
   * yet. In files mode the file is linked and fsynced (outside the transaction); in database
   * mode a row (refs 0) and its chunks are inserted by `c` unless a committed row exists.
   */
  async prepare(c: PoolClient, staged: StagedBlob): Promise<void> {
    if (this.mode === 'files') {
      const failed = await this.files.commitFiles([staged]);
      const err = failed.get(staged.id);
      if (err) throw new StoreError('not-found', `could not store message ${staged.id}: ${err.message}`);
      return;
    }
    const r = await c.query('INSERT INTO blobs (id, size, refs, held, structure) VALUES ($1, $2, 0, 0, $3) ON CONFLICT (id) DO NOTHING', [staged.id, staged.size, JSON.stringify(staged.structure)]);
    if (r.rowCount === 1) await this.writeChunks(c, staged);
  }

  /**
   * Inside the transaction, after the account and mailbox rows, before any change to a blob row:
   * takes every blob row the transaction will change, at once and in id order (the last step of
   * the lock order, store.ts): existing rows FOR NO KEY UPDATE (sorted before LockRows, so
   * locked in that order), then the rows of staged blobs that do not exist (files mode, or a row
   * deleted since prepare because its count had reached 0) inserted with no reference, in the same
   * order. A transaction that changes several blob rows and locked them one statement at a time,
   * in its own order, could wait for another that holds them in the opposite order: two
   * MULTIAPPENDs or REPLACEs of the same messages in two accounts, a COPY in one account while
   * the other expunges. A transaction changing one blob row may skip this (addRef, release).
   */
  async lockRows(c: PoolClient, staged: readonly StagedBlob[], ids: readonly string[] = []): Promise<void> {
    const byId = new Map(staged.map((s) => [s.id, s]));
    const all = sortIds([...byId.keys(), ...ids]);
    if (all.length === 0) return;
    const r = await c.query<{ id: string }>('SELECT id FROM blobs WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR NO KEY UPDATE', [all]);
    if (r.rows.length === all.length) return;
    const found = new Set(r.rows.map((x) => x.id));
    for (const id of all) {
      const s = byId.get(id);
      if (!s || found.has(id)) continue;
      // Inserted meanwhile by another transaction (which we waited for): now visible, lock it.
      if (!(await this.insertRow(c, s, 0, 0)) && (await c.query('SELECT 1 FROM blobs WHERE id = $1 FOR NO KEY UPDATE', [id])).rowCount === 0) {
        throw new StoreError('not-found', `blob ${id} was inserted and deleted meanwhile`);
      }
    }
  }

  /**
   * Inside the transaction, after the mailbox rows are locked: `n` more references (`held` of
   * them from outside mailboxes). A row deleted meanwhile (its count had reached 0 on another
   * node) is inserted again with its bytes.
   */
  async addRef(c: PoolClient, staged: StagedBlob, n: number, held: number): Promise<void> {
    const r = await c.query<{ refs: number }>('UPDATE blobs SET refs = refs + $2, held = held + $3 WHERE id = $1 RETURNING refs', [staged.id, n, held]);
    if (r.rows[0]) {
      // A first live reference: in files mode the file may have gone with an earlier last reference.
      if (r.rows[0].refs === n && this.mode === 'files') this.files.ensureFileSync(staged);
      return;
    }
    if (await this.insertRow(c, staged, n, held)) return;
    // Inserted meanwhile by another transaction (which we waited for): counted now.
    const again = await c.query<{ refs: number }>('UPDATE blobs SET refs = refs + $2, held = held + $3 WHERE id = $1 RETURNING refs', [staged.id, n, held]);
    if (!again.rows[0]) throw new StoreError('not-found', `blob ${staged.id} was inserted and deleted meanwhile`);
    if (again.rows[0].refs === n && this.mode === 'files') this.files.ensureFileSync(staged);
  }

  /**
   * A blob row that does not exist, with its bytes: its chunks, or in files mode the file made
   * sure of once it has a reference (addRef does it when the count of a row inserted with none rises).
   */
  private async insertRow(c: PoolClient, staged: StagedBlob, n: number, held: number): Promise<boolean> {
    const r = await c.query('INSERT INTO blobs (id, size, refs, held, structure) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING', [
      staged.id,
      staged.size,
      n,
      held,
      JSON.stringify(staged.structure),
    ]);
    if (r.rowCount !== 1) return false; // another transaction's row, committed while this one waited
    if (this.mode === 'database') await this.writeChunks(c, staged);
    else if (n > 0) this.files.ensureFileSync(staged);
    return true;
  }

  /** The staged file into blob_chunks, one CHUNK_SIZE row at a time. */
  private async writeChunks(c: PoolClient, staged: StagedBlob): Promise<void> {
    const fh = await openFile(staged.tempPath, 'r').catch((err: Error) => {
      throw new StoreError('not-found', `staged blob ${staged.id} is gone (${err.message})`);
    });
    try {
      const buf = Buffer.alloc(CHUNK_SIZE);
      let seq = 0;
      let total = 0;
      for (;;) {
        let filled = 0;
        while (filled < CHUNK_SIZE) {
          const { bytesRead } = await fh.read(buf, filled, CHUNK_SIZE - filled, total + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        if (filled === 0) break;
        await c.query('INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)', [staged.id, seq++, buf.subarray(0, filled)]);
        total += filled;
        if (filled < CHUNK_SIZE) break;
      }
      if (total !== staged.size) throw new StoreError('not-found', `staged blob ${staged.id} has ${total} bytes, expected ${staged.size}`);
    } finally {
      await fh.close();
    }
  }

  /**
   * Deletes rows whose count is 0 (after the commit that released them): chunks go with the
   * row; in files mode the file is unlinked before this transaction commits, so a node that
   * revives the blob meanwhile waits for the row lock and links the file again (addRef).
   */
  async collect(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const c = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      // Locked in id order first (the DELETE alone locks in its plan's order): a node reviving
      // several of these rows takes them in id order too (lockRows).
      const locked = await c.query<{ id: string }>('SELECT id FROM blobs WHERE id = ANY($1::text[]) AND refs <= 0 ORDER BY id COLLATE "C" FOR UPDATE', [sortIds(ids)]);
      if (locked.rows.length > 0) {
        const r = await c.query<{ id: string }>('DELETE FROM blobs WHERE id = ANY($1::text[]) AND refs <= 0 RETURNING id', [locked.rows.map((x) => x.id)]);
        if (this.mode === 'files') for (const { id } of r.rows) this.files.removeFileSync(id);
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      c.release(broken);
    }
  }

  async size(blobId: string): Promise<number> {
    const r = await this.pool.query<{ size: number }>('SELECT size FROM blobs WHERE id = $1', [blobId]);
    if (!r.rows[0]) throw new StoreError('not-found', `blob ${blobId} does not exist`);
    return r.rows[0].size;
  }

  async read(blobId: string, range?: { start?: number; end?: number }): Promise<Buffer> {
    if (this.mode === 'files') return this.files.read(blobId, range);
    const size = await this.size(blobId);
    const start = Math.min(Math.max(0, range?.start ?? 0), size);
    const end = Math.min(Math.max(start, range?.end ?? size), size);
    if (end === start) return Buffer.alloc(0);
    const first = Math.floor(start / CHUNK_SIZE);
    const last = Math.floor((end - 1) / CHUNK_SIZE);
    const r = await this.pool.query<{ data: Buffer }>('SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq', [blobId, first, last]);
    const all = Buffer.concat(r.rows.map((x) => x.data));
    return all.subarray(start - first * CHUNK_SIZE, end - first * CHUNK_SIZE);
  }

  /** Many small ranges; with blobs in the database, each is one query (their chunks), run together. */
  async readMany(ranges: ReadonlyArray<{ blobId: string; start: number; end: number }>): Promise<Array<Buffer | null>> {
    if (this.mode === 'files') return this.files.readMany(ranges);
    return Promise.all(
      ranges.map((r) =>
        this.read(r.blobId, r).catch((e: unknown) => {
          if (e instanceof StoreError && e.code === 'not-found') return null;
          throw e;
        }),
      ),
    );
  }

  open(blobId: string, range?: { start?: number; end?: number }): Readable {
    if (this.mode === 'files') return this.files.open(blobId, range);
    const pool = this.pool;
    let pos = Math.max(0, range?.start ?? 0);
    let end = range?.end;
    let known = false;
    return new Readable({
      async read() {
        try {
          if (!known) {
            const r = await pool.query<{ size: number }>('SELECT size FROM blobs WHERE id = $1', [blobId]);
            if (!r.rows[0]) throw new StoreError('not-found', `blob ${blobId} does not exist`);
            end = Math.min(end ?? r.rows[0].size, r.rows[0].size);
            known = true;
          }
          if (pos >= end!) {
            this.push(null);
            return;
          }
          const first = Math.floor(pos / CHUNK_SIZE);
          const last = Math.min(first + CHUNKS_PER_READ - 1, Math.floor((end! - 1) / CHUNK_SIZE));
          const r = await pool.query<{ seq: number; data: Buffer }>('SELECT seq, data FROM blob_chunks WHERE blob_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq', [blobId, first, last]);
          if (r.rows.length !== last - first + 1) throw new StoreError('not-found', `blob ${blobId}: chunks ${first}..${last} missing`);
          const parts: Buffer[] = [];
          for (const row of r.rows) {
            const base = row.seq * CHUNK_SIZE;
            const from = Math.max(pos, base) - base;
            const to = Math.min(end!, base + row.data.length) - base;
            if (to > from) parts.push(row.data.subarray(from, to));
          }
          pos = Math.min(end!, (last + 1) * CHUNK_SIZE);
          this.push(Buffer.concat(parts));
        } catch (err) {
          this.destroy(err instanceof Error ? err : new Error(String(err)));
        }
      },
    });
  }
}

/**
 * Distinct blob ids in the order blob rows are locked: code-unit order, which is PostgreSQL's
 * `COLLATE "C"` (the ids are sha256 hex, but the order must not depend on the database's locale).
 */
export function sortIds(ids: Iterable<string>): string[] {
  return [...new Set(ids)].sort();
}
