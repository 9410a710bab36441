// The queue's own bookkeeping of a message, with no SMTP at all (issue 14, the queue-alone relay
// row): CPU per message of a durable enqueue (the row and its recipient, in the group commit)
// and of recording its delivery (the row's removal, in the shared state transaction), at several
// numbers of deliveries finishing per state transaction. The SQLite queue as `yubin serve` runs
// it (src/queue/queue.ts), a 1,935-byte message (the relay bench's), kept inline.
//
//   node --import tsx bench/queue-floor.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueStore, type EnqueueRecord } from '../src/queue/queue.js';

const N = Number(process.env.FLOOR_MESSAGES ?? 6000);
const bytes = Buffer.alloc(1935, 'a');
const rec: EnqueueRecord = { from: 'alice@a.test', recipients: [{ address: 'bob@sink.test' }], size: bytes.length, needsUtf8: false, headerFromDomain: 'a.test' };

/** CPU (user + system, every thread of this process) per message, in µs. */
async function cpuPer(n: number, fn: () => Promise<unknown>): Promise<number> {
  const c = process.cpuUsage();
  await fn();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / n;
}

async function round(q: QueueStore, perTx: number): Promise<{ enqueue: number; record: number }> {
  let ids: string[] = [];
  const enqueue = await cpuPer(N, async () => (ids = await Promise.all(Array.from({ length: N }, () => q.enqueueBytes(bytes, rec, Date.now())))));
  // `perTx` deliveries finish in one turn of the event loop: they share one state transaction
  const record = await cpuPer(N, async () => {
    for (let i = 0; i < N; i += perTx) await Promise.all(ids.slice(i, i + perTx).map((id) => q.record(id, [{ idx: 0, state: 'delivered', status: '2.0.0', reply: '250 2.0.0 ok', reported: true }], Date.now())));
  });
  if ((await q.count()) !== 0) throw new Error('messages left in the queue');
  return { enqueue, record };
}

export async function benchQueueFloor(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-queue-floor-'));
  const q = new QueueStore(dir);
  try {
    await round(q, 50); // warm-up: compiled code, prepared statements, a grown database
    console.log(`queue bookkeeping alone: ${N} messages of ${bytes.length} bytes, SQLite, CPU per message (all threads)`);
    for (const perTx of [8, 50, 400]) {
      const r = await round(q, perTx);
      console.log(`  ${String(perTx).padStart(3)} deliveries per state transaction: enqueue ${r.enqueue.toFixed(1)} µs, delivery recorded ${r.record.toFixed(1)} µs, both ${(r.enqueue + r.record).toFixed(1)} µs`);
    }
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchQueueFloor();
