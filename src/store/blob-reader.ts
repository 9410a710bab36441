// Reads many small blob ranges in one step, off the main thread (docs/store.md "Reading blobs").
//
// A FETCH of 1,000 bodies or a POP3 download would otherwise cost four asynchronous file
// operations per message (open, fstat, read, close), each a round trip through libuv's thread
// pool whose dispatch on the main thread costs more than the system call itself when the file is
// in the page cache. Here one message to a reader thread carries a whole batch: the thread opens
// and reads every range with plain synchronous calls into one buffer and hands that buffer back
// (transferred, not copied). The main thread never blocks on the disk, whatever its latency.
//
// The thread's code is plain JavaScript evaluated from this string, so it runs the same from the
// compiled server and from source through tsx, with nothing to register.
import { ThreadClient } from '../workers/thread-client.js';

export interface RangeRequest {
  /** A committed blob's id: 64 lowercase hex digits (its file is <dir>/ab/cd/abcd…). */
  blobId: string;
  start: number;
  /** Exclusive; clamped to the file's size. */
  end: number;
}

/** One range's bytes, or the error code that stopped it ('ENOENT': the blob was removed). */
export type RangeResult = Buffer | { code: string; message: string };

interface Reply {
  id: number;
  buf: ArrayBuffer;
  /** Per request: bytes read (at offs[i] in buf), or -1 with errs[i] set. */
  lens: number[];
  offs: number[];
  errs: Array<{ code: string; message: string } | null>;
}

/** How assemble reports a message whose blob is shorter than the range it was asked for. */
export const SHORT_BLOB = 'blob shorter than its stored size';

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { join, dirname } = require('node:path');
const dir = workerData.dir;
function pathOf(ids, i) {
  const id = Buffer.from(ids.buffer, ids.byteOffset + 32 * i, 32).toString('hex');
  return join(dir, id.slice(0, 2), id.slice(2, 4), id);
}
function readInto(u8, at, path, start, want) {
  const fd = fs.openSync(path, 'r');
  try {
    let got = 0;
    while (got < want) {
      const n = fs.readSync(fd, u8, at + got, want - got, start + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  } finally {
    fs.closeSync(fd);
  }
}
// Responses assembled here: text and blob ranges in order, into one buffer; a message whose
// blob cannot be read (or is shorter than its literal says) is left out whole and reported.
function assemble(m) {
  const n = m.segs.length / 3;
  let total = 0;
  for (let s = 0; s < n; s++) total += m.segs[3 * s + 2] - m.segs[3 * s + 1];
  const buf = new ArrayBuffer(total);
  const u8 = new Uint8Array(buf);
  const failed = new Int32Array(m.count);
  const errs = [];
  let pos = 0, msgStart = 0, cur = -1, range = 0;
  for (let s = 0; s < n; s++) {
    const kind = m.segs[3 * s], a = m.segs[3 * s + 1], b = m.segs[3 * s + 2], msg = m.msgOf[s];
    if (msg !== cur) { cur = msg; msgStart = pos; }
    if (kind === 1) range++;
    if (failed[msg]) continue;
    if (kind === 0) { u8.set(m.text.subarray(a, b), pos); pos += b - a; continue; }
    try {
      const got = readInto(u8, pos, pathOf(m.ids, range - 1), a, b - a);
      if (got !== b - a) { failed[msg] = 2; errs.push(${JSON.stringify(SHORT_BLOB)}); pos = msgStart; }
      else pos += got;
    } catch (e) {
      failed[msg] = e && e.code === 'ENOENT' ? 1 : 2;
      if (failed[msg] === 2) errs.push(String(e && e.message || e));
      pos = msgStart;
    }
  }
  parentPort.postMessage({ id: m.id, buf, len: pos, failed, errs }, [buf]);
}
// Committed files of messages staged in memory (BlobFiles.commitFiles): each written to a
// temporary file beside its content address, then one round of fsyncs, then renamed to its
// content address (never a partial file under that name), then the directories the renames
// changed fsynced. A crash may leave such a temporary file: the store's sweep after an unclean
// shutdown removes every name under blobs/ that is not a blob with a row.
const fsyncP = (fd) => new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
const fsyncPathP = (p) => new Promise((resolve, reject) => fs.open(p, 'r', (e, fd) => {
  if (e) return reject(e);
  fs.fsync(fd, (e2) => fs.close(fd, () => (e2 ? reject(e2) : resolve())));
}));
async function writeFiles(m) {
  const n = m.lens.length;
  const errs = new Array(n).fill(null);
  const done = [];
  const dirs = new Set();
  const message = (e) => String(e && e.message || e);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const len = m.lens[i];
    const bytes = m.data.subarray(off, off + len);
    off += len;
    const path = pathOf(m.ids, i);
    try {
      let st = null;
      try { st = fs.statSync(path); } catch (e) { if (e.code !== 'ENOENT') throw e; }
      if (st && st.size === len) continue; // already committed: just another reference
      // The temporary file goes in the blob's own directory, not in tmp/: creating a file in a
      // directory where files were just deleted makes ext4 scan its block group's inode table
      // for recently deleted inodes (recently_deleted(): most of this thread's time with tmp/).
      const dir = dirname(path);
      const tmp = path + '.' + m.tmpSuffix + i;
      let fd;
      try {
        fd = fs.openSync(tmp, 'wx', 0o600);
      } catch (e) {
        if (e.code !== 'ENOENT') throw e;
        // New directories: each one's entry in its parent must be durable too.
        const made = fs.mkdirSync(dir, { recursive: true });
        if (made) { dirs.add(dirname(made)); dirs.add(dirname(dir)); }
        fd = fs.openSync(tmp, 'wx', 0o600);
      }
      let ok = false;
      try {
        let w = 0;
        while (w < len) w += fs.writeSync(fd, bytes, w, len - w);
        ok = true;
      } finally {
        if (!ok) { fs.closeSync(fd); try { fs.unlinkSync(tmp); } catch {} }
      }
      done.push({ i, tmp, path, fd });
    } catch (e) { errs[i] = message(e); }
  }
  // The fsyncs in parallel (libuv's pool, from this thread): the file system can share one
  // journal commit among them; in series each waits for its own.
  await Promise.all(done.map((d) => fsyncP(d.fd).catch((e) => { errs[d.i] = message(e); }).finally(() => fs.closeSync(d.fd))));
  for (const d of done) {
    if (errs[d.i] === null) {
      try {
        fs.renameSync(d.tmp, d.path);
        dirs.add(dirname(d.path));
        continue;
      } catch (e) { errs[d.i] = message(e); }
    }
    try { fs.unlinkSync(d.tmp); } catch {}
  }
  await Promise.all([...dirs].map((dir) => fsyncPathP(dir).catch((e) => {
    for (const d of done) if (errs[d.i] === null) errs[d.i] = 'fsync of ' + dir + ': ' + message(e);
  })));
  parentPort.postMessage({ id: m.id, errs, written: done.length, dirs: dirs.size });
}
parentPort.on('message', (m) => {
  if (m.asm) return assemble(m);
  if (m.write) return void writeFiles(m).catch((e) => parentPort.postMessage({ id: m.id, errs: m.lens.map(() => String(e && e.message || e)), written: 0, dirs: 0 }));
  const count = m.ranges.length / 2;
  const starts = [], wants = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const start = Math.max(0, m.ranges[2 * i]);
    const want = Math.max(0, m.ranges[2 * i + 1] - start);
    starts.push(start); wants.push(want);
    total += want;
  }
  const buf = new ArrayBuffer(total);
  const u8 = new Uint8Array(buf);
  const lens = [], offs = [], errs = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    try {
      // no fstat: a read past the end of the file returns fewer bytes (or none), which clamps the range
      const got = readInto(u8, off, pathOf(m.ids, i), starts[i], wants[i]);
      offs.push(off); lens.push(got); errs.push(null);
      off += wants[i];
    } catch (e) {
      offs.push(0); lens.push(-1); errs.push({ code: String(e && e.code || 'EIO'), message: String(e && e.message || e) });
    }
  }
  parentPort.postMessage({ id: m.id, buf, lens, offs, errs }, [buf]);
});
`;

/**
 * One reader thread, started on first use and unreferenced while nothing waits on it (it never
 * keeps a process alive). Batches are answered in order.
 */
/** A message's response: protocol text and blob byte ranges, in order. */
export type AssemblyPart = string | Buffer | { blobId: string; start: number; end: number };

/** Assembled responses: the bytes of the messages that could be read, and per message why not. */
export interface Assembled {
  data: Buffer;
  /** Per message: null when it is in data, 'gone' when its blob no longer exists, else the error. */
  failed: Array<null | 'gone' | string>;
}

interface WriteReply {
  id: number;
  errs: Array<string | null>;
  written: number;
  dirs: number;
}

interface AsmReply {
  id: number;
  buf: ArrayBuffer;
  len: number;
  failed: Int32Array;
  errs: string[];
}

export class BlobReader {
  /** Reads the blobs under dir (the store's blobs/ folder; the layout of BlobFiles.pathOf). */
  constructor(dir: string) {
    this.thread = new ThreadClient(WORKER_CODE, { dir }, 'blob reader');
  }

  private readonly thread: ThreadClient<Reply | AsmReply | WriteReply>;

  private send(message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<Reply | AsmReply | WriteReply> {
    return this.thread.request(message, transfer);
  }

  /**
   * Responses made of protocol text and small blob ranges (IMAP FETCH of message data), put
   * together by the reader thread into one buffer that is written as it is: the main thread never
   * touches the message bytes. A message whose blob is gone is left out and reported.
   */
  async assemble(messages: ReadonlyArray<ReadonlyArray<AssemblyPart>>): Promise<Assembled> {
    let textMax = 0;
    let segCount = 0;
    let rangeCount = 0;
    for (const parts of messages)
      for (const p of parts) {
        segCount++;
        if (typeof p === 'string') textMax += p.length * 3;
        else if (Buffer.isBuffer(p)) textMax += p.length;
        else rangeCount++;
      }
    const text = Buffer.allocUnsafeSlow(textMax);
    const segs = new Float64Array(segCount * 3);
    const msgOf = new Int32Array(segCount);
    const ids = new Uint8Array(new ArrayBuffer(rangeCount * 32));
    let t = 0;
    let s = 0;
    let r = 0;
    messages.forEach((parts, msg) => {
      for (const p of parts) {
        msgOf[s] = msg;
        if (typeof p === 'string') {
          const n = text.write(p, t, 'utf8');
          segs.set([0, t, t + n], 3 * s);
          t += n;
        } else if (Buffer.isBuffer(p)) {
          // bytes the caller already has (a blob kept in the database): copied as text is
          p.copy(text, t);
          segs.set([0, t, t + p.length], 3 * s);
          t += p.length;
        } else {
          ids.set(Buffer.from(p.blobId, 'hex'), 32 * r++);
          segs.set([1, p.start, p.end], 3 * s);
        }
        s++;
      }
    });
    const reply = (await this.send({ asm: true, count: messages.length, text: text.subarray(0, t), segs, msgOf, ids }, [text.buffer as ArrayBuffer, segs.buffer, msgOf.buffer, ids.buffer])) as AsmReply;
    let e = 0;
    const failed = Array.from(reply.failed, (f) => (f === 0 ? null : f === 1 ? ('gone' as const) : (reply.errs[e++] ?? 'read error')));
    return { data: Buffer.from(reply.buf, 0, reply.len), failed };
  }

  /** Reads every range; resolves with one result per request, in order. */
  async read(reqs: readonly RangeRequest[]): Promise<RangeResult[]> {
    if (!reqs.length) return [];
    // Compact for the structured clone (strings cost far more): ids as bytes, ranges as numbers.
    const ids = new Uint8Array(new ArrayBuffer(reqs.length * 32));
    const ranges = new Float64Array(reqs.length * 2);
    for (let i = 0; i < reqs.length; i++) {
      ids.set(Buffer.from(reqs[i]!.blobId, 'hex'), 32 * i);
      ranges[2 * i] = reqs[i]!.start;
      ranges[2 * i + 1] = reqs[i]!.end;
    }
    const m = (await this.send({ ids, ranges }, [ids.buffer, ranges.buffer])) as Reply;
    return m.lens.map((len, i) => (len < 0 ? m.errs[i]! : Buffer.from(m.buf, m.offs[i]!, len)));
  }

  /**
   * Writes committed files of blobs staged in memory, durable when it resolves (each file and
   * every directory changed fsynced), in one step: one message to the thread for the whole
   * batch instead of several trips to libuv's pool per file. A blob whose file already exists
   * with its size is left as it is. tmpSuffix: unique to this call, it names the temporary
   * files (`<blob path>.<tmpSuffix><n>`). Per blob: null, or why it failed.
   */
  async writeFiles(blobs: ReadonlyArray<{ blobId: string; bytes: Uint8Array }>, tmpSuffix: string): Promise<{ errors: Array<string | null>; written: number; dirs: number }> {
    if (!blobs.length) return { errors: [], written: 0, dirs: 0 };
    const ids = new Uint8Array(new ArrayBuffer(blobs.length * 32));
    const lens = new Float64Array(blobs.length);
    let total = 0;
    blobs.forEach((b, i) => {
      ids.set(Buffer.from(b.blobId, 'hex'), 32 * i);
      lens[i] = b.bytes.length;
      total += b.bytes.length;
    });
    const data = new Uint8Array(new ArrayBuffer(total));
    let off = 0;
    for (const b of blobs) {
      data.set(b.bytes, off);
      off += b.bytes.length;
    }
    const m = (await this.send({ write: true, ids, lens, data, tmpSuffix }, [ids.buffer, lens.buffer, data.buffer])) as WriteReply;
    return { errors: m.errs, written: m.written, dirs: m.dirs };
  }

  /** Stops the thread once the requests already sent are answered. */
  close(): Promise<void> {
    return this.thread.close();
  }
}
