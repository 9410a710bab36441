// Which pages a delivery writes to the SQLite store's WAL, by table (issue 14): N small messages
// delivered by C concurrent writers (the group commit shares one transaction between them), the
// background checkpoints held back so the WAL keeps every frame, then each frame's page named by
// the dbstat virtual table. Every frame is a page the COMMIT writes (two pwrite calls) and the
// fdatasync flushes.
//
//   node --import tsx bench/wal-pages.ts [messages=2000] [writers=2]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/index.js';
import { testMessage } from '../src/store/contract.js';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2000);
  const writers = Number(process.argv[3] ?? 2);
  const dir = mkdtempSync(join(tmpdir(), 'yubin-wal-pages-'));
  try {
    const store = await openSqliteStore(dir);
    // No checkpoint while this runs: the WAL then holds every frame written.
    if (store.checkpointer) store.checkpointer.noteCommit = () => undefined;
    await store.addDomain('a.test');
    const acc = await store.addAccount('bob@a.test', 'h');
    const body = 'x'.repeat(3900); // about 4 KB, the SMTP bench's size
    const deliver = async (tag: string) => {
      const s = await store.blobs.stage(Buffer.concat([testMessage(tag), Buffer.from(body)]));
      const [r] = await store.deliver(s, [{ accountId: acc.id }]);
      if (!r?.ok) throw new Error(`delivery failed: ${JSON.stringify(r)}`);
    };
    for (let i = 0; i < 50; i++) await deliver(`warm-up ${i}`);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    let next = 0;
    const cpu0 = process.cpuUsage();
    await Promise.all(Array.from({ length: writers }, async () => {
      while (next < n) await deliver(`message ${next++}`);
    }));
    const cpu = process.cpuUsage(cpu0);
    const wal = readFileSync(join(dir, 'yubin.sqlite-wal'));
    const pageSize = wal.readUInt32BE(8);
    const frames: number[] = [];
    let commits = 0;
    // WAL format: a 32-byte header, then frames of a 24-byte header (page number, database size
    // after a commit frame, else 0) and the page.
    for (let off = 32; off + 24 + pageSize <= wal.length; off += 24 + pageSize) {
      frames.push(wal.readUInt32BE(off));
      if (wal.readUInt32BE(off + 4) !== 0) commits++;
    }
    const names = new Map<number, string>();
    for (const r of store.db.prepare('SELECT name, pageno, pagetype FROM dbstat').all() as Array<{ name: string; pageno: number; pagetype: string }>) {
      names.set(r.pageno, r.pagetype === 'overflow' ? `${r.name} (overflow)` : r.pagetype === 'internal' ? `${r.name} (interior)` : r.name);
    }
    const tally = new Map<string, number>();
    for (const p of frames) {
      const k = p === 1 ? 'page 1 (database header)' : (names.get(p) ?? 'free or reused');
      tally.set(k, (tally.get(k) ?? 0) + 1);
    }
    console.log(`${n} messages, ${writers} writers: ${commits} commits (${(n / commits).toFixed(2)} messages each), ${frames.length} WAL frames of ${pageSize} bytes = ${(frames.length / n).toFixed(1)} per message; ${((cpu.user + cpu.system) / n).toFixed(0)} µs CPU per message`);
    for (const [k, v] of [...tally].sort((a, b) => b[1] - a[1])) console.log(`  ${(v / n).toFixed(2).padStart(6)} per message  ${k}`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
