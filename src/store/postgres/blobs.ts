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
import { stagedFile, type BlobFiles } from '../blobs.js';
import { StoreError, type StagedBlob } from '../types.js';
import { transaction, type Pool, type PoolClient } from '../../db/postgres/pool.js';
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
   * Inside a transaction that changes no other blob row (the queue's enqueue: this row, then its
   * reference): makes the blob's bytes available under its id if they are not yet. In files mode
   * the file is linked and fsynced (outside the transaction); in database mode a row (refs 0) and
   * its chunks are inserted by `c` unless a committed row exists. A transaction that changes
   * several blob rows uses prepareAll instead (a row inserted here is held until COMMIT, outside
   * the blob lock order).
   */
  async prepare(c: PoolClient, staged: StagedBlob): Promise<void> {
    if (this.mode === 'files') return this.commitFiles([staged]);
    const r = await c.query('INSERT INTO blobs (id, size, refs, held, structure) VALUES ($1, $2, 0, 0, $3) ON CONFLICT (id) DO NOTHING', [staged.id, staged.size, JSON.stringify(staged.structure)]);
    if (r.rowCount === 1) await this.writeChunks(c, staged);
  }

  /**
   * Before the transaction that references them, holding no lock: makes the staged blobs' bytes
   * available under their ids. In files mode the files are linked and fsynced; in database mode
   * the rows that do not exist are inserted (refs 0) with their chunks, in id order, and
   * COMMITTED by a short transaction of their own, so the large writes happen before any account
   * or mailbox lock and no row stays held into the writing transaction. Inserted inside it (as
   * before), such a row was held from before the account lock and the transaction then went back
   * to lower blob ids in lockRows: with L < H, one MULTIAPPEND held H (inserted) and waited for L,
   * another held L and waited for H, which it had seen committed in its own prepare and found
   * collected and inserted again (issue 17). That commit does not wait for the WAL flush
   * (synchronous_commit = off): nothing is acknowledged on it, and the writing transaction's
   * COMMIT flushes the WAL past it. A row that has no reference when that transaction ends
   * (which may also fail or never come: a crash) is garbage like any other (collected, or swept
   * at start); one collected before the writing transaction takes it is inserted again there
   * (lockRows, addRef).
   */
  async prepareAll(staged: readonly StagedBlob[]): Promise<void> {
    if (staged.length === 0) return;
    if (this.mode === 'files') return this.commitFiles(staged);
    const byId = new Map(staged.map((s) => [s.id, s]));
    const ids = sortIds(byId.keys());
    // Rows that exist (committed) are not waited for: an insert of an existing row would wait for another transaction's update of it.
    const have = await this.pool.query<{ id: string }>('SELECT id FROM blobs WHERE id = ANY($1::text[])', [ids]);
    const found = new Set(have.rows.map((x) => x.id));
    const missing = ids.filter((id) => !found.has(id)).map((id) => byId.get(id)!);
    if (missing.length === 0) return;
    await transaction(this.pool, async (c) => {
      await c.query('SET LOCAL synchronous_commit = off');
      for (const s of missing) {
        const r = await c.query('INSERT INTO blobs (id, size, refs, held, structure) VALUES ($1, $2, 0, 0, $3) ON CONFLICT (id) DO NOTHING', [s.id, s.size, JSON.stringify(s.structure)]);
        if (r.rowCount === 1) await this.writeChunks(c, s);
      }
    });
  }

  private async commitFiles(staged: readonly StagedBlob[]): Promise<void> {
    const failed = await this.files.commitFiles(staged);
    for (const s of staged) {
      const err = failed.get(s.id);
      if (err) throw new StoreError('not-found', `could not store message ${s.id}: ${err.message}`);
    }
  }

  /**
   * Inside the transaction, after the account and mailbox rows, before any change to a blob row:
   * takes every blob row the transaction will change, at once and in id order (the last step of
   * the lock order, store.ts), in ONE pass: each row in turn is locked FOR NO KEY UPDATE if it
   * exists, or, for a staged blob whose row does not (files mode, or a row collected since
   * prepare because its count had reached 0), inserted with no reference. A transaction that
   * changes several blob rows and locked them one statement at a time, in its own order, could
   * wait for another that holds them in the opposite order: two MULTIAPPENDs or REPLACEs of the
   * same messages in two accounts, a COPY in one account while the other expunges. Locking the
   * existing rows first and inserting the missing ones after was such an order too (issue 17):
   * with L < H, this transaction held H and waited for another's uncommitted insert of L, which
   * had inserted L in its prepare and waited for H. Waiting for an insert or a lock of a row, in
   * id order, while holding only rows before it, closes no cycle. A transaction changing one blob
   * row may skip this (addRef, release).
   */
  async lockRows(c: PoolClient, staged: readonly StagedBlob[], ids: readonly string[] = []): Promise<void> {
    const byId = new Map(staged.map((s) => [s.id, s]));
    const all = sortIds([...byId.keys(), ...ids]);
    // Runs of consecutive ids, in order: staged blobs (lock or insert) and the rest (lock; they
    // exist, referenced by the messages whose references go). One statement per run, each taking
    // its rows in id order, so the whole is one pass in id order.
    for (let i = 0; i < all.length; ) {
      const insertable = byId.has(all[i]!);
      let j = i + 1;
      while (j < all.length && byId.has(all[j]!) === insertable) j++;
      const run = all.slice(i, j);
      if (insertable) await this.lockOrInsert(c, run.map((id) => byId.get(id)!));
      else await c.query('SELECT id FROM blobs WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR NO KEY UPDATE', [run]);
      i = j;
    }
  }

  /**
   * Rows of staged blobs (sorted by id), each locked FOR NO KEY UPDATE or inserted with no
   * reference, in id order, by one statement: the rows of its SELECT are inserted in the order of
   * its ORDER BY, and ON CONFLICT ... DO UPDATE ... WHERE false locks an existing row without
   * changing it (FOR NO KEY UPDATE, as the UPDATE would: refs is no key) and returns only the
   * inserted rows. A row another transaction is inserting or deleting is waited for, then
   * locked or inserted. An inserted row gets its bytes here (database mode); in files mode its
   * file is made sure of when its count rises from 0 (addRef).
   */
  private async lockOrInsert(c: PoolClient, sorted: readonly StagedBlob[]): Promise<void> {
    const r = await c.query<{ id: string }>(
      `INSERT INTO blobs (id, size, refs, held, structure)
       SELECT id, size, 0, 0, structure FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(id, size, structure) ORDER BY id COLLATE "C"
       ON CONFLICT (id) DO UPDATE SET refs = blobs.refs WHERE false
       RETURNING id`,
      [sorted.map((s) => s.id), sorted.map((s) => s.size), sorted.map((s) => JSON.stringify(s.structure))],
    );
    if (this.mode !== 'database') return;
    const byId = new Map(sorted.map((s) => [s.id, s]));
    for (const { id } of r.rows) await this.writeChunks(c, byId.get(id)!);
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
    if (staged.bytes) {
      // Staged in memory (under 64 KiB): its chunks straight from there.
      for (let off = 0, seq = 0; off < staged.bytes.length; off += CHUNK_SIZE) {
        await c.query('INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)', [staged.id, seq++, staged.bytes.subarray(off, off + CHUNK_SIZE)]);
      }
      return;
    }
    const fh = await openFile(stagedFile(staged), 'r').catch((err: Error) => {
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
    await transaction(this.pool, async (c) => {
      // Locked in id order first (the DELETE alone locks in its plan's order): a node reviving
      // several of these rows takes them in id order too (lockRows).
      const locked = await c.query<{ id: string }>('SELECT id FROM blobs WHERE id = ANY($1::text[]) AND refs <= 0 ORDER BY id COLLATE "C" FOR UPDATE', [sortIds(ids)]);
      if (locked.rows.length > 0) {
        const r = await c.query<{ id: string }>('DELETE FROM blobs WHERE id = ANY($1::text[]) AND refs <= 0 RETURNING id', [locked.rows.map((x) => x.id)]);
        if (this.mode === 'files') for (const { id } of r.rows) this.files.removeFileSync(id);
      }
    });
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
