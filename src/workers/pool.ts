// A small pool of worker threads for the CPU-heavy per-message work (docs/checks.md "Worker
// pool"): DKIM/ARC/DMARC verification, DKIM signing and ARC sealing. Each worker runs one job at
// a time; a job past its time limit has its worker terminated (that really stops it, whatever
// loop it is in) and replaced, and fails with WorkerTimeoutError. Jobs wait in a bounded queue;
// when it is full a new job fails at once with WorkerBusyError. Callers map both to their own
// failure policy (the checks: [checks] timeout_action; the queue: a deferred delivery).
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { DNSResolver } from 'mailauth';
import type { Logger } from '../log/logger.js';
import type { JobInput, JobKind, JobOutput } from './jobs.js';
import { fromWire, toWire, type FromWorker, type ToWorker } from './protocol.js';

export class WorkerTimeoutError extends Error {
  constructor(kind: string, ms: number) {
    super(`${kind} job stopped after ${ms} ms (worker time limit)`);
    this.name = 'WorkerTimeoutError';
  }
}

export class WorkerBusyError extends Error {
  constructor(kind: string, queued: number) {
    super(`${kind} job refused: ${queued} jobs already waiting for a worker`);
    this.name = 'WorkerBusyError';
  }
}

export class WorkerPoolClosedError extends Error {
  constructor(kind: string) {
    super(`${kind} job refused: the worker pool is closed`);
    this.name = 'WorkerPoolClosedError';
  }
}

export interface PoolOptions {
  /** Worker threads (0 = defaultPoolSize()). */
  threads: number;
  /** Default time limit of a job, from the call (queue wait included), in ms. */
  jobTimeoutMs: number;
  /** Jobs that may wait for a worker; one more fails with WorkerBusyError. */
  maxQueue: number;
  logger: Logger;
}

export interface RunOptions {
  /** This job's time limit (ms); default the pool's. */
  timeoutMs?: number;
  /** Answers the job's DNS queries (mailauth's resolver shape); without it they fail. */
  resolver?: DNSResolver;
}

export interface PoolStats {
  threads: number;
  /** Worker threads running now (busy, idle, or terminated and not yet exited). */
  alive: number;
  busy: number;
  queued: number;
  completed: number;
  failed: number;
  timedOut: number;
  refused: number;
}

export interface WorkerPool {
  run<K extends JobKind>(kind: K, input: JobInput<K>, opts?: RunOptions): Promise<JobOutput<K>>;
  stats(): PoolStats;
  /** Fails the waiting jobs, terminates every worker and waits for them to exit. */
  close(): Promise<void>;
}

/** A couple of threads, at most half the CPUs (the main thread and libuv need the rest), at most 4. */
export function defaultPoolSize(): number {
  return Math.min(4, Math.max(2, Math.floor(availableParallelism() / 2)));
}

interface Job {
  id: number;
  kind: string;
  input: unknown;
  resolver?: DNSResolver;
  timeoutMs: number;
  deadline: number;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  exited: Promise<void>;
}

/**
 * The worker's entry. Compiled (dist/): worker.js beside this file. From source under tsx
 * (`node --import tsx`): Node 20 does not apply --import loader hooks to worker threads, so the
 * worker registers tsx itself before importing worker.ts.
 */
function spawnWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./worker.ts', here).href;
    const code = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(entry)});`;
    return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
  }
  return new Worker(new URL('./worker.js', here));
}

export function createWorkerPool(opts: PoolOptions): WorkerPool {
  const size = opts.threads > 0 ? opts.threads : defaultPoolSize();
  const slots: Slot[] = [];
  const queue: Job[] = [];
  const counts = { completed: 0, failed: 0, timedOut: 0, refused: 0 };
  /** Every worker's exit, including those terminated and no longer in slots. */
  const exits = new Set<Promise<void>>();
  let nextId = 0;
  let closed = false;

  function finish(slot: Slot, job: Job): void {
    clearTimeout(job.timer);
    slot.job = null;
    // an idle worker does not keep the process alive
    slot.worker.unref();
  }

  function onMessage(slot: Slot, m: FromWorker): void {
    const job = slot.job;
    if (!job || m.id === undefined) return;
    if (m.t === 'dns') {
      const reply = (msg: ToWorker) => {
        // the job may have ended (timed out) while the query was out
        if (slot.job === job) slot.worker.postMessage(msg);
      };
      if (!job.resolver) {
        reply({ t: 'dns', id: m.id, ok: false, error: { name: 'Error', message: `no resolver for ${m.rrtype} ${m.name}`, code: 'ENOTFOUND' } });
        return;
      }
      job.resolver(m.name, m.rrtype).then(
        (value) => reply({ t: 'dns', id: m.id, ok: true, value }),
        (err: unknown) => reply({ t: 'dns', id: m.id, ok: false, error: toWire(err) }),
      );
      return;
    }
    if (m.id !== job.id) return;
    finish(slot, job);
    if (m.ok) {
      counts.completed++;
      job.resolve(m.value);
    } else {
      counts.failed++;
      job.reject(fromWire(m.error));
    }
    pump();
  }

  function addSlot(): Slot {
    const worker = spawnWorker();
    worker.unref();
    let exitedResolve!: () => void;
    const slot: Slot = { worker, job: null, exited: new Promise<void>((r) => (exitedResolve = r)) };
    exits.add(slot.exited);
    void slot.exited.then(() => exits.delete(slot.exited));
    worker.on('message', (m: FromWorker) => onMessage(slot, m));
    worker.on('error', (err) => {
      opts.logger.error({ err: err.message }, 'worker thread failed');
      const job = slot.job;
      if (job) {
        finish(slot, job);
        counts.failed++;
        job.reject(new Error(`${job.kind} job failed: worker thread error: ${err.message}`));
      }
    });
    worker.on('exit', () => {
      exitedResolve();
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      const job = slot.job;
      if (job) {
        finish(slot, job);
        counts.failed++;
        job.reject(new Error(`${job.kind} job failed: worker thread exited`));
      }
      // a replacement is started when there is work for it
      if (!closed) pump();
    });
    slots.push(slot);
    return slot;
  }

  function start(slot: Slot, job: Job): void {
    clearTimeout(job.timer);
    slot.job = job;
    slot.worker.ref();
    const left = Math.max(0, job.deadline - Date.now());
    job.timer = setTimeout(() => {
      if (slot.job !== job) return;
      counts.timedOut++;
      opts.logger.warn({ job: job.kind, ms: job.timeoutMs }, 'worker job over its time limit: worker terminated');
      finish(slot, job);
      job.reject(new WorkerTimeoutError(job.kind, job.timeoutMs));
      // terminate() stops the thread even inside a synchronous loop; 'exit' removes the slot
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      void slot.worker.terminate();
      pump();
    }, left);
    const msg: ToWorker = { t: 'job', id: job.id, kind: job.kind, input: job.input };
    try {
      slot.worker.postMessage(msg);
    } catch (err) {
      finish(slot, job);
      counts.failed++;
      job.reject(err instanceof Error ? err : new Error(String(err)));
      pump();
    }
  }

  function pump(): void {
    while (queue.length) {
      let slot = slots.find((s) => !s.job);
      if (!slot && slots.length < size) slot = addSlot();
      if (!slot) return;
      start(slot, queue.shift()!);
    }
  }

  return {
    run<K extends JobKind>(kind: K, input: JobInput<K>, ro: RunOptions = {}): Promise<JobOutput<K>> {
      if (closed) return Promise.reject(new WorkerPoolClosedError(kind));
      const idle = slots.some((s) => !s.job) || slots.length < size;
      if (!idle && queue.length >= opts.maxQueue) {
        counts.refused++;
        return Promise.reject(new WorkerBusyError(kind, queue.length));
      }
      const timeoutMs = ro.timeoutMs ?? opts.jobTimeoutMs;
      return new Promise<JobOutput<K>>((resolve, reject) => {
        const job: Job = { id: ++nextId, kind, input, resolver: ro.resolver, timeoutMs, deadline: Date.now() + timeoutMs, resolve: resolve as (v: unknown) => void, reject };
        // a job still waiting at its deadline fails without ever starting
        job.timer = setTimeout(() => {
          const i = queue.indexOf(job);
          if (i < 0) return;
          queue.splice(i, 1);
          counts.timedOut++;
          reject(new WorkerTimeoutError(kind, timeoutMs));
        }, timeoutMs);
        job.timer.unref();
        queue.push(job);
        pump();
      });
    },
    stats() {
      return { threads: size, alive: exits.size, busy: slots.filter((s) => s.job).length, queued: queue.length, ...counts };
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) {
        clearTimeout(job.timer);
        job.reject(new WorkerPoolClosedError(job.kind));
      }
      for (const s of slots) void s.worker.terminate();
      await Promise.all([...exits]);
    },
  };
}

/** A message stream read into one Buffer, to be sent to a worker (the read itself does not block). */
export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
