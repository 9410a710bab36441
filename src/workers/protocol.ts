// The messages between the pool (main thread) and a worker (docs/checks.md "Worker pool").
// A worker runs one job at a time. While it runs, the job may ask the main thread for DNS
// answers: mailauth's lookups go through the server's resolver (src/dns/resolver.ts), which
// lives on the main thread, so they are proxied over the worker's message port.

/** An error as it crosses the port: its message, name and Node error code (mailauth switches on code). */
export interface WireError {
  name: string;
  message: string;
  code?: string;
}

/** Main thread → worker. */
export type ToWorker =
  | { t: 'job'; id: number; kind: string; input: unknown }
  | { t: 'dns'; id: number; ok: true; value: unknown }
  | { t: 'dns'; id: number; ok: false; error: WireError };

/** Worker → main thread. */
export type FromWorker =
  | { t: 'done'; id: number; ok: true; value: unknown }
  | { t: 'done'; id: number; ok: false; error: WireError }
  | { t: 'dns'; id: number; name: string; rrtype: string };

export function toWire(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

export function fromWire(w: WireError): Error {
  const e = new Error(w.message);
  e.name = w.name;
  if (w.code) (e as NodeJS.ErrnoException).code = w.code;
  return e;
}
