// Store benchmark: durable deliveries per second with 1, 8 and 64 concurrent writers at 4 KB and
// 1 MB, beside the disk's raw fsync rate measured in the same run and directory, as a ratio.
// Every delivery is durable when counted (blob fsynced, metadata committed with synchronous=FULL).
//
//   node --import tsx bench/store.ts          (BENCH_DIR=/path to measure another disk;
//                                              BENCH_SECONDS=n per configuration, default 2.5)
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openSqliteStore } from '../src/store/index.js';

export interface StoreBenchRow {
  size: string;
  writers: number;
  deliveries: number;
  seconds: number;
  perSecond: number;
  /** perSecond / raw fsyncs per second. */
  ratio: number;
  /** Deliveries per SQLite commit on average (group commit at work). */
  perCommit: number;
}

export interface StoreBenchResult {
  dir: string;
  fsyncPerSecond: number;
  rows: StoreBenchRow[];
}

/** write(4 KB) + fsync of a new file, in a loop, for `seconds`. */
async function rawFsyncRate(dir: string, seconds: number): Promise<number> {
  const data = randomBytes(4096);
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() < end) {
    const path = join(dir, `fsync-${n}`);
    const fh = await open(path, 'w');
    await fh.write(data);
    await fh.sync();
    await fh.close();
    await unlink(path);
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

async function deliveries(baseDir: string, size: number, writers: number, seconds: number): Promise<{ n: number; elapsed: number; commits: number }> {
  const dir = await mkdtemp(join(baseDir, 'store-'));
  const store = await openSqliteStore(dir);
  try {
    await store.addDomain('bench.test');
    const acc = await store.addAccount('bench@bench.test', 'x');
    const body = Buffer.from(randomBytes(Math.ceil((size * 3) / 4)).toString('base64').slice(0, size - 200).replace(/(.{76})/g, '$1\r\n'));
    let n = 0;
    const commits0 = store.committer.batches;
    const start = performance.now();
    const end = start + seconds * 1000;
    const worker = async (): Promise<void> => {
      while (performance.now() < end) {
        // A unique header so every message is a new blob (no de-duplication shortcut).
        const w = store.blobs.createWriter();
        await w.write(Buffer.from(`Message-ID: <${randomBytes(12).toString('hex')}@bench.test>\r\nSubject: bench\r\n\r\n`));
        await w.write(body);
        const staged = await w.finish();
        const [r] = await store.deliver(staged, [{ accountId: acc.id }]);
        await store.blobs.discard(staged);
        if (!r?.ok) throw new Error(`delivery failed: ${r && !r.ok ? r.message : 'no result'}`);
        n++;
      }
    };
    await Promise.all(Array.from({ length: writers }, worker));
    const elapsed = (performance.now() - start) / 1000;
    return { n, elapsed, commits: store.committer.batches - commits0 };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchStore(opts: { dir?: string; seconds?: number; print?: boolean } = {}): Promise<StoreBenchResult> {
  const base = await mkdtemp(join(opts.dir ?? process.env.BENCH_DIR ?? tmpdir(), 'yubin-bench-'));
  const seconds = opts.seconds ?? (Number(process.env.BENCH_SECONDS) || 2.5);
  const print = opts.print ?? true;
  try {
    const fsyncPerSecond = await rawFsyncRate(base, 2);
    if (print) console.log(`store: raw fsync rate in ${base}: ${fsyncPerSecond.toFixed(0)}/s (write 4 KB + fsync)`);
    const rows: StoreBenchRow[] = [];
    for (const [label, size] of [
      ['4 KB', 4096],
      ['1 MB', 1024 * 1024],
    ] as const) {
      for (const writers of [1, 8, 64]) {
        const { n, elapsed, commits } = await deliveries(base, size, writers, seconds);
        const row: StoreBenchRow = {
          size: label,
          writers,
          deliveries: n,
          seconds: elapsed,
          perSecond: n / elapsed,
          ratio: n / elapsed / fsyncPerSecond,
          perCommit: commits > 0 ? n / commits : 0,
        };
        rows.push(row);
        if (print) {
          console.log(
            `store: ${label.padStart(4)} x ${String(writers).padStart(2)} writers: ${row.perSecond.toFixed(0).padStart(6)} durable deliveries/s` +
              ` = ${row.ratio.toFixed(2)} x raw fsync rate (${row.perCommit.toFixed(1)} per commit)`,
          );
        }
      }
    }
    return { dir: base, fsyncPerSecond, rows };
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchStore().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
