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
import { Worker } from 'node:worker_threads';

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

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { join } = require('node:path');
const dir = workerData.dir;
parentPort.on('message', (m) => {
  const count = m.ranges.length / 2;
  const paths = [];
  for (let i = 0; i < count; i++) {
    const id = Buffer.from(m.ids.buffer, m.ids.byteOffset + 32 * i, 32).toString('hex');
    paths.push(join(dir, id.slice(0, 2), id.slice(2, 4), id));
  }
  let total = 0;
  for (let i = 0; i < count; i++) total += Math.max(0, m.ranges[2 * i + 1] - m.ranges[2 * i]);
  const buf = new ArrayBuffer(total);
  const u8 = new Uint8Array(buf);
  const lens = [], offs = [], errs = [];
  let off = 0;
  for (let i = 0; i < paths.length; i++) {
    const r = { start: m.ranges[2 * i], end: m.ranges[2 * i + 1] };
    let fd = -1;
    try {
      fd = fs.openSync(paths[i], 'r');
      // no fstat: a read past the end of the file returns fewer bytes (or none), which clamps the range
      const start = Math.max(0, r.start);
      const want = Math.max(0, r.end - start);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, u8, off + got, want - got, start + got);
        if (n === 0) break;
        got += n;
      }
      offs.push(off); lens.push(got); errs.push(null);
      off += Math.max(0, r.end - r.start);
    } catch (e) {
      offs.push(0); lens.push(-1); errs.push({ code: String(e && e.code || 'EIO'), message: String(e && e.message || e) });
    } finally {
      if (fd >= 0) try { fs.closeSync(fd); } catch {}
    }
  }
  parentPort.postMessage({ id: m.id, buf, lens, offs, errs }, [buf]);
});
`;

/**
 * One reader thread, started on first use and unreferenced while nothing waits on it (it never
 * keeps a process alive). Batches are answered in order.
 */
export class BlobReader {
  /** Reads the blobs under dir (the store's blobs/ folder; the layout of BlobFiles.pathOf). */
  constructor(private readonly dir: string) {}

  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(r: RangeResult[]): void; reject(e: Error): void }>();
  private closed = false;

  private start(): Worker {
    const w = new Worker(WORKER_CODE, { eval: true, workerData: { dir: this.dir } });
    w.unref();
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (!this.pending.size) w.unref();
      const out: RangeResult[] = m.lens.map((len, i) => (len < 0 ? m.errs[i]! : Buffer.from(m.buf, m.offs[i]!, len)));
      p.resolve(out);
    });
    const fail = (err: Error): void => {
      if (this.worker === w) this.worker = null;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`blob reader thread exited (code ${code})`)));
    return w;
  }

  /** Reads every range; resolves with one result per request, in order. */
  read(reqs: readonly RangeRequest[]): Promise<RangeResult[]> {
    if (!reqs.length) return Promise.resolve([]);
    if (this.closed) return Promise.reject(new Error('blob reader is closed'));
    const w = (this.worker ??= this.start());
    const id = ++this.nextId;
    return new Promise<RangeResult[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      // Compact for the structured clone (strings cost far more): ids as bytes, ranges as numbers.
      const ids = new Uint8Array(new ArrayBuffer(reqs.length * 32));
      const ranges = new Float64Array(reqs.length * 2);
      for (let i = 0; i < reqs.length; i++) {
        ids.set(Buffer.from(reqs[i]!.blobId, 'hex'), 32 * i);
        ranges[2 * i] = reqs[i]!.start;
        ranges[2 * i + 1] = reqs[i]!.end;
      }
      w.postMessage({ id, ids, ranges }, [ids.buffer, ranges.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
