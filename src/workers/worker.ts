// A worker thread of the pool (src/workers/pool.ts): runs one job at a time from src/workers/jobs.ts.
// mailauth's DNS queries are sent to the main thread, which answers them with the server's
// resolver (the configured [dns] servers), so a worker never opens a socket of its own.
import { parentPort } from 'node:worker_threads';
import type { DNSResolver } from 'mailauth';
import { jobs, type JobContext } from './jobs.js';
import { fromWire, toWire, type FromWorker, type ToWorker } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('src/workers/worker.ts runs as a worker thread of the pool');

const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
let nextDns = 0;

const resolver: DNSResolver = (name, rrtype) =>
  new Promise((resolve, reject) => {
    const id = ++nextDns;
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    const msg: FromWorker = { t: 'dns', id, name, rrtype };
    port.postMessage(msg);
  });

const ctx: JobContext = { resolver };
type AnyJob = (input: unknown, ctx: JobContext) => Promise<unknown>;

port.on('message', (m: ToWorker) => {
  if (m.t === 'dns') {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(fromWire(m.error));
    return;
  }
  const run = (jobs as unknown as Record<string, AnyJob | undefined>)[m.kind];
  const done = (msg: FromWorker) => port.postMessage(msg);
  if (!run) {
    done({ t: 'done', id: m.id, ok: false, error: { name: 'Error', message: `unknown job kind ${m.kind}` } });
    return;
  }
  run(m.input, ctx).then(
    (value) => done({ t: 'done', id: m.id, ok: true, value }),
    (err: unknown) => done({ t: 'done', id: m.id, ok: false, error: toWire(err) }),
  );
});
