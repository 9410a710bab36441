// One dedicated worker thread that answers requests in order, each reply carrying its request's
// id (the store's blob reader and writer, the full-text index's writer, the WAL checkpointer): started on first use,
// referenced only while a request waits (an idle thread never keeps the process alive), started
// again after it dies (the requests in flight reject). The thread's code is plain JavaScript
// evaluated from a string, so it runs the same from the compiled server and from source.
import { Worker, type Transferable } from 'node:worker_threads';

export class ThreadClient<Reply extends { id: number }> {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
  /** Settles when every request sent so far is answered. */
  private last: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly code: string,
    private readonly workerData: unknown,
    /** For errors: "<name> thread exited", "<name> is closed". */
    private readonly name: string,
  ) {}

  private start(): Worker {
    const w = new Worker(this.code, { eval: true, workerData: this.workerData });
    w.unref();
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (!this.pending.size) w.unref();
      p.resolve(m);
    });
    const fail = (err: Error): void => {
      if (this.worker === w) this.worker = null;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`${this.name} thread exited (code ${code})`)));
    return w;
  }

  /** Sends `message` (with an id added); resolves with the thread's reply to it. */
  request(message: Record<string, unknown>, transfer: Transferable[] = []): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error(`${this.name} is closed`));
    const w = (this.worker ??= this.start());
    const id = ++this.nextId;
    const p = new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...message, id }, transfer);
    });
    this.last = p.catch(() => undefined);
    return p;
  }

  /** Stops the thread once the requests already sent are answered; later requests reject. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    await this.last;
    await w.terminate();
  }
}
