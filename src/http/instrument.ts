// Metrics hooks that wrap what the server hands to the protocols, so no protocol file needs to
// know about metrics: session factories (connections per listener, sessions by state), the
// authenticator (auth outcomes), the check pipeline (verdicts per stage) and the store (call
// durations).
import { performance } from 'node:perf_hooks';
import type { Authenticator } from '../auth/types.js';
import type { CheckPipeline } from '../pipeline/types.js';
import type { ListenerName } from '../config/schema.js';
import type { Session, SessionFactory } from '../net/transport.js';
import type { Store } from '../store/types.js';
import type { Metrics, StatefulSession } from './metrics.js';

/**
 * Counts a session open from its creation until closed() (once, however it ends), and enters
 * it in the census of sessions by state: the session's own `state` field (every mail protocol
 * session has one) is read at scrape time, so nothing is added to any command.
 */
export function countSessions(listener: ListenerName, factory: SessionFactory, metrics: Metrics): SessionFactory {
  return (t) => {
    const s = factory(t);
    metrics.connectionOpened(listener);
    const leave = metrics.sessionOpened(listener, s as Session & StatefulSession);
    let open = true;
    const wrapped: Session = {
      start: () => s.start(),
      ingest: (chunk) => s.ingest(chunk),
      closed: () => {
        if (open) {
          open = false;
          metrics.connectionClosed(listener);
          leave();
        }
        s.closed();
      },
      shutdown: () => s.shutdown(),
    };
    if (s.peerEnd) wrapped.peerEnd = () => s.peerEnd!();
    return wrapped;
  };
}

export function countAuth(auth: Authenticator, metrics: Metrics): Authenticator {
  return {
    async authenticate(attempt) {
      const r = await auth.authenticate(attempt);
      metrics.authResult(attempt.protocol, r.ok ? 'success' : r.reason === 'throttled' ? 'throttled' : 'failure');
      return r;
    },
  };
}

export function countVerdicts(checks: CheckPipeline, metrics: Metrics): CheckPipeline {
  const stages = ['connect', 'helo', 'mailFrom', 'rcptTo', 'data'] as const;
  const out = {} as CheckPipeline;
  for (const stage of stages) {
    const fn = checks[stage].bind(checks) as (...a: unknown[]) => ReturnType<CheckPipeline['connect']>;
    (out as unknown as Record<string, unknown>)[stage] = async (...args: unknown[]) => {
      const v = await fn(...args);
      metrics.checkVerdict(stage, v.action);
      return v;
    };
  }
  return out;
}

/**
 * The store with every method call timed into the store latency histogram (op: the method name),
 * from the call until its promise settles. The result has the store as its prototype, so its
 * other properties (blobs, changes, sieve, ...) and `instanceof` are the store's; each method
 * runs on the store itself.
 */
export function timeStore<S extends Store>(store: S, metrics: Metrics): S {
  const timed = Object.create(store) as S;
  const methods = new Set<string>();
  for (let p: object | null = Object.getPrototypeOf(store); p && p !== Object.prototype; p = Object.getPrototypeOf(p))
    for (const name of Object.getOwnPropertyNames(p)) if (name !== 'constructor' && typeof (store as unknown as Record<string, unknown>)[name] === 'function') methods.add(name);
  for (const name of Object.keys(store)) if (typeof (store as unknown as Record<string, unknown>)[name] === 'function') methods.add(name);
  // the read barrier is not a store call (it runs before every protocol command)
  methods.delete('durable');
  for (const name of methods) {
    const fn = (store as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!;
    Object.defineProperty(timed, name, {
      value: (...args: unknown[]) => {
        const t0 = performance.now();
        const observe = () => metrics.storeCall(name, (performance.now() - t0) / 1000);
        const r = fn.apply(store, args);
        if (r instanceof Promise) r.then(observe, observe);
        else observe();
        return r;
      },
    });
  }
  return timed;
}
