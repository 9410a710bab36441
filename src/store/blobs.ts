// Raw message bytes as files, content-addressed by sha256 (DESIGN.md "Store"):
//
//   <dataDir>/tmp/<pid>-<random>          a message being written (BlobWriter), then a staged blob
//   <dataDir>/blobs/ab/cd/<sha256 hex>    a committed blob (ab, cd: the first two bytes of the hash)
//
// A writer streams into a temporary file while hashing it and feeding the streaming MIME parser,
// so the structure is computed once, as the message arrives. finish() fsyncs the file, except for
// a writer made with `deferSync` (SMTP delivery's local copy): its file is fsynced by the group
// commit that first references it (commitFiles, the batch's prepare step), together with every
// other file and directory of that batch, so the sessions waiting for a 250 at that moment share
// one round of fsyncs instead of each paying its own before joining the batch.
// Committing hard-links the staged file to its content address and fsyncs the directory, BEFORE
// the metadata that references it commits; a blob that already exists just gains a reference.
// Reference counts live in the metadata database (the backend); this module only handles files.
// The staged file stays usable (deliver again, queue) until discard(); every temporary file left
// by a crash is swept when the store opens.
import { createHash, randomBytes } from 'node:crypto';
import { BlobReader, type Assembled, type AssemblyPart } from './blob-reader.js';
import { createReadStream, constants as fsConstants, fsyncSync, linkSync, mkdirSync, openSync, closeSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { MessageStructure } from '../message/types.js';
import { StoreError, type BlobWriter, type BlobWriterOptions, type StagedBlob } from './types.js';

/** The streaming parser the writer feeds (src/message/parser.ts). */
export type MessageParserFactory = () => { write(chunk: Uint8Array): void; end(): MessageStructure };

const BLOB_ID = /^[0-9a-f]{64}$/;
/**
 * Small writes (SMTP lines, literals in pieces) are gathered into writes of this size; a writer
 * made with `memory` keeps a message smaller than this in memory (no temporary file).
 */
const WRITE_BUFFER = 64 * 1024;

export class BlobFiles {
  readonly blobDir: string;
  readonly tmpDir: string;
  private reader: BlobReader | undefined;
  /** The thread that writes the files of blobs staged in memory (commitFiles), apart from the reader's. */
  private writer: BlobReader | undefined;
  /** Blobs staged in memory whose files commits wrote so far (for tests and the benchmark). */
  writtenFromMemory = 0;

  constructor(
    readonly dataDir: string,
    private readonly parserFactory: MessageParserFactory,
  ) {
    this.blobDir = join(dataDir, 'blobs');
    this.tmpDir = join(dataDir, 'tmp');
  }

  async init(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    await fsyncDir(this.dataDir);
  }

  /** The file of a committed blob. Throws 'invalid' for anything but a sha256 hex id (no path tricks). */
  pathOf(blobId: string): string {
    if (!BLOB_ID.test(blobId)) throw new StoreError('invalid', `invalid blob id ${JSON.stringify(blobId)}`);
    return join(this.blobDir, blobId.slice(0, 2), blobId.slice(2, 4), blobId);
  }

  /**
   * Temporary files written without fsync (deferSync writers), with their descriptor still open,
   * fsynced (through it) and closed by commitFiles before the metadata referencing them commits:
   * no trips to the libuv pool to close the file after writing and open it again to sync it.
   * Such a staged blob may only be committed through the store (deliver, append): nothing else
   * (the queue's hard link) may take its file.
   */
  private readonly unsynced = new Map<string, FileHandle>();
  /** Deferred files commitFiles is syncing now (ensureFileSync syncs such a file by path). */
  private readonly syncing = new Set<string>();
  /** Deferred files fsynced by commits so far (for tests and the benchmark). */
  syncedAtCommit = 0;
  /** Directories fsynced by commitFiles so far (for tests). */
  dirsSynced = 0;

  createWriter(options?: BlobWriterOptions): BlobWriter {
    // The temporary file's name is drawn when the writer first needs a file (a message staged in memory never does).
    const tmpDir = this.tmpDir;
    const newPath = () => join(tmpDir, `${process.pid}-${randomBytes(12).toString('hex')}`);
    return new FileBlobWriter(newPath, this.parserFactory(), options?.deferSync ? (path, fh) => this.unsynced.set(path, fh) : null, options?.memory === true);
  }

  async stage(bytes: Uint8Array): Promise<StagedBlob> {
    const writer = this.createWriter({ memory: true });
    try {
      await writer.write(bytes);
      return await writer.finish();
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /** The bytes of a staged blob (its temporary file, until it is discarded). */
  openStaged(staged: StagedBlob): Readable {
    if (staged.bytes) return Readable.from([staged.bytes]);
    return createReadStream(stagedFile(staged));
  }

  open(blobId: string, range?: { start?: number; end?: number }): Readable {
    const start = range?.start ?? 0;
    const end = range?.end;
    if (end !== undefined && end <= start) {
      // An empty range: createReadStream cannot express it (its end is inclusive).
      return createReadStream(this.pathOf(blobId), { start: 0, end: -1 });
    }
    return createReadStream(this.pathOf(blobId), { start, end: end === undefined ? undefined : end - 1 });
  }

  async read(blobId: string, range?: { start?: number; end?: number }): Promise<Buffer> {
    const path = this.pathOf(blobId);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new StoreError('not-found', `blob ${blobId} does not exist`);
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      const start = Math.min(Math.max(0, range?.start ?? 0), size);
      const end = Math.min(Math.max(start, range?.end ?? size), size);
      const buf = Buffer.alloc(end - start);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return off === buf.length ? buf : buf.subarray(0, off);
    } finally {
      await fh.close();
    }
  }

  /** Many ranges in one step through the reader thread (blob-reader.ts); null for a blob that is gone. */
  async readMany(ranges: ReadonlyArray<{ blobId: string; start: number; end: number }>): Promise<Array<Buffer | null>> {
    for (const r of ranges) if (!BLOB_ID.test(r.blobId)) throw new StoreError('invalid', `invalid blob id ${JSON.stringify(r.blobId)}`);
    const got = await (this.reader ??= new BlobReader(this.blobDir)).read(ranges);
    return got.map((r, i) => {
      if (Buffer.isBuffer(r)) return r;
      if (r.code === 'ENOENT') return null;
      throw new Error(`reading blob ${ranges[i]!.blobId}: ${r.message}`);
    });
  }

  /** Responses of text and blob ranges, assembled by the reader thread (BlobReader.assemble). */
  assemble(messages: ReadonlyArray<ReadonlyArray<AssemblyPart>>): Promise<Assembled> {
    for (const parts of messages) for (const p of parts) if (typeof p !== 'string' && !Buffer.isBuffer(p) && !BLOB_ID.test(p.blobId)) throw new StoreError('invalid', `invalid blob id ${JSON.stringify(p.blobId)}`);
    return (this.reader ??= new BlobReader(this.blobDir)).assemble(messages);
  }

  /** Stops the reader thread (the store is closing). */
  async close(): Promise<void> {
    await this.reader?.close();
    this.reader = undefined;
    await this.writer?.close();
    this.writer = undefined;
  }

  async discard(staged: StagedBlob): Promise<void> {
    if (staged.tempPath === null) return; // in memory: nothing on disk
    const fh = this.unsynced.get(staged.tempPath);
    this.unsynced.delete(staged.tempPath);
    await fh?.close().catch(() => undefined);
    await unlink(staged.tempPath).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
  }

  /**
   * Makes committed files of staged blobs (before the metadata referencing them commits): hard
   * link (or copy) each to its content address, then fsync the files that were written without
   * (deferSync) and the directories, all in parallel: one round of fsyncs for the whole batch.
   * Returns the ids that could not be committed, with the reason.
   */
  async commitFiles(staged: readonly StagedBlob[]): Promise<Map<string, Error>> {
    const failed = new Map<string, Error>();
    const dirs = new Set<string>();
    const unique = new Map<string, StagedBlob>();
    for (const s of staged) if (!unique.has(s.id)) unique.set(s.id, s);
    const files = new Map<string, FileHandle>();
    const inMemory = [...unique.values()].filter((s) => s.bytes);
    const written = this.writeFromMemory(inMemory, failed);
    await Promise.all(
      [...unique.values()].map(async (s) => {
        if (s.bytes) return;
        const tempPath = stagedFile(s);
        try {
          const target = this.pathOf(s.id);
          // stat and link are synchronous (a trip each to the libuv pool costs more than they
          // do); the directory is made only when the link finds it missing, on the pool (making a
          // directory allocates an inode and a block and can wait for the file system's journal
          // behind other sessions' fsyncs: 0.4 ms per message on the main thread in the SMTP
          // profile with a fresh store). The fsyncs below stay asynchronous.
          const existing = statOrNull(target);
          if (existing && existing.size === s.size) return; // already committed: just another reference
          // The content's fsync: the link below names the same inode, so syncing it covers both.
          const fh = this.unsynced.get(tempPath);
          if (fh) {
            // This commit owns the descriptor now (a later ensureFileSync syncs by path meanwhile).
            this.unsynced.delete(tempPath);
            this.syncing.add(tempPath);
            files.set(tempPath, fh);
          }
          const dir = dirname(target);
          const makeDir = async () => {
            // New directories: each one's entry in its parent must be durable too (the leaf,
            // `dir`, is synced below for the link): the parent of the first one made, and the
            // middle level when the leaf was made under a new one.
            const made = await mkdir(dir, { recursive: true });
            if (made) dirs.add(dirname(made)).add(dirname(dir));
          };
          if (existing) {
            // A damaged file under this name (wrong size): replace it atomically.
            const fresh = `${target}.${randomBytes(6).toString('hex')}`;
            await linkOrCopy(tempPath, fresh, makeDir);
            await rename(fresh, target);
          } else {
            await linkOrCopy(tempPath, target, makeDir);
          }
          dirs.add(dir);
        } catch (err) {
          failed.set(s.id, err instanceof Error ? err : new Error(String(err)));
        }
      }),
    );
    await Promise.all([
      ...[...files].map(async ([f, fh]) => {
        try {
          await fh.sync();
          this.syncedAtCommit++;
        } catch (err) {
          for (const s of unique.values()) if (s.tempPath === f) failed.set(s.id, err instanceof Error ? err : new Error(String(err)));
        } finally {
          this.syncing.delete(f);
          await fh.close().catch(() => undefined);
        }
      }),
      ...[...dirs].map(async (d) => {
        await fsyncDir(d);
        this.dirsSynced++;
      }),
      written,
    ]);
    return failed;
  }

  /**
   * commitFiles' part for blobs staged in memory: their files written and fsynced by the writer
   * thread in one step (BlobReader.writeFiles); failures into `failed`. (With SQLite such blobs
   * live in their rows and never come here: PostgreSQL with blobs as files.)
   */
  private async writeFromMemory(blobs: readonly StagedBlob[], failed: Map<string, Error>): Promise<void> {
    if (!blobs.length) return;
    const list = blobs.map((s) => {
      this.pathOf(s.id); // validates the id
      return { blobId: s.id, bytes: s.bytes! };
    });
    try {
      const r = await (this.writer ??= new BlobReader(this.blobDir)).writeFiles(list, `${process.pid}-${randomBytes(8).toString('hex')}-`);
      this.writtenFromMemory += r.written;
      this.dirsSynced += r.dirs;
      r.errors.forEach((e, i) => {
        const s = blobs[i]!;
        if (e !== null) failed.set(s.id, new Error(e));
      });
    } catch (err) {
      for (const s of blobs) failed.set(s.id, err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Synchronous check, run inside the metadata transaction when a blob gains its first live
   * reference: the file must exist (another process may have deleted it after its own last
   * reference went). If it is missing it is linked again from the staged file.
   */
  ensureFileSync(staged: Pick<StagedBlob, 'id' | 'size' | 'tempPath' | 'bytes'>): void {
    const target = this.pathOf(staged.id);
    try {
      if (statSync(target).size === staged.size) return;
    } catch {
      // missing: link it below
    }
    const dir = dirname(target);
    mkdirSync(dir, { recursive: true });
    if (staged.bytes) {
      // In memory: written to a temporary file, fsynced, renamed into place.
      // Beside its content address (see blob-reader.ts writeFiles: not in tmp/).
      const tmp = `${target}.${process.pid}-${randomBytes(8).toString('hex')}`;
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        let w = 0;
        while (w < staged.bytes.length) w += writeSync(fd, staged.bytes, w, staged.bytes.length - w);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, target);
      fsyncDirsSync([dir, dirname(dir), this.blobDir]);
      return;
    }
    const tempPath = stagedFile(staged);
    const fh = this.unsynced.get(tempPath);
    if (fh) {
      fsyncSync(fh.fd);
      this.unsynced.delete(tempPath);
      void fh.close().catch(() => undefined);
      this.syncedAtCommit++;
    } else if (this.syncing.has(tempPath)) {
      // A commit is syncing it through its own descriptor right now: sync it here too.
      const fd = openSync(tempPath, fsConstants.O_RDONLY);
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    try {
      linkSync(tempPath, target);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw new StoreError('not-found', `staged blob ${staged.id} is gone (${(err as Error).message})`);
    }
    fsyncDirsSync([dir, dirname(dir), this.blobDir]);
  }

  /** True when the committed file exists (synchronous; for checks inside a transaction). */
  existsSync(blobId: string): boolean {
    try {
      statSync(this.pathOf(blobId));
      return true;
    } catch {
      return false;
    }
  }

  /** Synchronous unlink (inside the write transaction that deletes the row); a missing file is fine. */
  removeFileSync(blobId: string): void {
    try {
      unlinkSync(this.pathOf(blobId));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }

  async removeFile(blobId: string): Promise<void> {
    await unlink(this.pathOf(blobId)).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
  }

  /** Temporary files (writers, staged blobs), with their modification time. */
  async listTemp(): Promise<Array<{ path: string; mtimeMs: number }>> {
    const out: Array<{ path: string; mtimeMs: number }> = [];
    for (const name of await readdir(this.tmpDir).catch(() => [] as string[])) {
      const path = join(this.tmpDir, name);
      const st = await stat(path).catch(() => null);
      if (st) out.push({ path, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  /** Every file under blobs/, as ids (or stray names), with size and modification time. */
  async *walkCommitted(): AsyncGenerator<{ path: string; name: string; size: number; mtimeMs: number }> {
    for (const a of await readdir(this.blobDir).catch(() => [] as string[])) {
      const da = join(this.blobDir, a);
      for (const b of await readdir(da).catch(() => [] as string[])) {
        const db = join(da, b);
        for (const name of await readdir(db).catch(() => [] as string[])) {
          const path = join(db, name);
          const st = await stat(path).catch(() => null);
          if (st?.isFile()) yield { path, name, size: st.size, mtimeMs: st.mtimeMs };
        }
      }
    }
  }
}

class FileBlobWriter implements BlobWriter {
  private fh: Promise<FileHandle> | null = null;
  private chain: Promise<void> = Promise.resolve();
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private readonly hash = createHash('sha256');
  private state: 'open' | 'finishing' | 'finished' | 'aborted' = 'open';
  /** The temporary file, named when it is first opened. */
  private tempPath: string | null = null;
  private failure: unknown = null;
  size = 0;

  constructor(
    private readonly newPath: () => string,
    private readonly parser: { write(chunk: Uint8Array): void; end(): MessageStructure },
    /** deferSync: called at finish instead of fsync and close (the commit syncs and closes the file). */
    private readonly deferred: ((path: string, fh: FileHandle) => void) | null = null,
    /** A message smaller than WRITE_BUFFER stays in memory (BlobWriterOptions.memory). */
    private readonly memory = false,
  ) {}

  write(chunk: Uint8Array): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`blob writer is ${this.state}`));
    if (this.failure) return Promise.reject(this.failure);
    if (chunk.length === 0) return Promise.resolve();
    this.hash.update(chunk);
    this.parser.write(chunk);
    this.size += chunk.length;
    // Copied: the caller may reuse its buffer as soon as this resolves.
    this.buffered.push(Buffer.from(chunk));
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes < WRITE_BUFFER) return Promise.resolve();
    return this.flush();
  }

  private flush(): Promise<void> {
    if (this.bufferedBytes === 0) return this.chain;
    const data = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedBytes);
    this.buffered = [];
    this.bufferedBytes = 0;
    if (!this.fh) this.fh = open((this.tempPath = this.newPath()), 'wx', 0o600);
    const fh = this.fh;
    this.chain = this.chain.then(async () => {
      const handle = await fh;
      let off = 0;
      while (off < data.length) off += (await handle.write(data, off, data.length - off)).bytesWritten;
    });
    this.chain.catch((err: unknown) => {
      this.failure ??= err;
    });
    return this.chain;
  }

  async finish(): Promise<StagedBlob> {
    if (this.state !== 'open') throw new Error(`blob writer is ${this.state}`);
    this.state = 'finishing';
    try {
      if (this.memory && !this.fh) {
        // Never flushed: the whole message is in `buffered` (under WRITE_BUFFER).
        const bytes = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedBytes);
        this.buffered = [];
        this.bufferedBytes = 0;
        const structure = this.parser.end();
        this.state = 'finished';
        return { id: this.hash.digest('hex'), size: this.size, structure, tempPath: null, bytes };
      }
      if (!this.fh) this.fh = open((this.tempPath = this.newPath()), 'wx', 0o600);
      await this.flush();
      const fh = await this.fh;
      const structure = this.parser.end();
      if (this.deferred) {
        this.deferred(this.tempPath!, fh);
      } else {
        await fh.sync();
        await fh.close();
      }
      this.state = 'finished';
      return { id: this.hash.digest('hex'), size: this.size, structure, tempPath: this.tempPath! };
    } catch (err) {
      this.state = 'open';
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'aborted') return;
    const wasFinished = this.state === 'finished';
    this.state = 'aborted';
    if (wasFinished) {
      // finish() handed out a StagedBlob: from now on it is discard()'s to remove.
      return;
    }
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.chain.catch(() => undefined);
    if (this.fh) {
      const fh = await this.fh.catch(() => null);
      await fh?.close().catch(() => undefined);
      if (this.tempPath) await unlink(this.tempPath).catch(() => undefined);
    }
  }
}

/** The temporary file of a staged blob that has one (not staged in memory). */
export function stagedFile(staged: Pick<StagedBlob, 'id' | 'tempPath'>): string {
  if (staged.tempPath === null) throw new StoreError('invalid', `staged blob ${staged.id} is in memory, not in a file`);
  return staged.tempPath;
}

function fsyncDirsSync(dirs: readonly string[]): void {
  for (const d of dirs) {
    const fd = openSync(d, fsConstants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

function statOrNull(path: string): { size: number } | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Hard-links `from` as `to` (makeDir first when `to`'s directory is missing), else copies and fsyncs. */
async function linkOrCopy(from: string, to: string, makeDir: () => Promise<void>): Promise<void> {
  try {
    try {
      linkSync(from, to);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      await makeDir();
      linkSync(from, to);
    }
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return;
    if (!isErrno(err, 'EXDEV') && !isErrno(err, 'EPERM') && !isErrno(err, 'ENOTSUP')) throw err;
    // A file system without hard links: copy, then fsync the copy.
    await copyFile(from, to, fsConstants.COPYFILE_EXCL).catch((e: unknown) => {
      if (!isErrno(e, 'EEXIST')) throw e;
    });
    await fsyncPath(to);
  }
}

/** fsync a directory so the entries created in it are durable. */
export function fsyncDir(dir: string): Promise<void> {
  return fsyncPath(dir);
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
