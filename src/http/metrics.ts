// Prometheus metrics (prom-client) for the whole process, served at /metrics on the admin
// listener. Counters are bumped through small hooks (server.ts wraps the session factories,
// the authenticator, the check pipeline, the store and the queue's outcome hook); gauges that
// are cheap to read (queue size, event-loop delay, certificate expiry, sessions by state, the
// worker pool's counters) are read at scrape time, so they cost nothing per command.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ListenerName } from '../config/schema.js';
import type { PoolStats } from '../workers/pool.js';

/**
 * The protocol states a session is counted in, per listener, and how a session's own `state`
 * word maps onto them. IMAP (RFC 9051 §3) and POP3 (RFC 1939 §3) report their states as they
 * are; SMTP is "idle" (before or between mail transactions) or "transaction" (after MAIL FROM,
 * RFC 5321 §3.3, until the end of data or RSET); ManageSieve (RFC 5804) "nonauth" or "auth".
 */
const SESSION_STATES = {
  smtp: { idle: ['init', 'ready'], transaction: ['mail', 'rcpt', 'bdat'] },
  imap: { notauth: ['notauth'], auth: ['auth'], selected: ['selected'], logout: ['logout'] },
  pop3: { authorization: ['authorization'], transaction: ['transaction'], update: ['update'] },
  managesieve: { nonauth: ['nonauth'], auth: ['auth'] },
} as const satisfies Record<string, Record<string, readonly string[]>>;

const PROTOCOL_OF: Record<ListenerName, keyof typeof SESSION_STATES> = {
  smtp: 'smtp',
  submission: 'smtp',
  submissions: 'smtp',
  imap: 'imap',
  imaps: 'imap',
  pop3: 'pop3',
  pop3s: 'pop3',
  managesieve: 'managesieve',
};

/** The metric state of a session's own state word on a listener ("other" for a word not in the table). */
export function sessionState(listener: ListenerName, raw: unknown): string {
  const table: Record<string, readonly string[]> = SESSION_STATES[PROTOCOL_OF[listener]];
  for (const [state, words] of Object.entries(table)) if (words.includes(raw as string)) return state;
  return 'other';
}

/** A protocol session as the census sees it: its current state word (ImapSession.state, ...), read at scrape time. */
export interface StatefulSession {
  readonly state?: unknown;
}

/** Store call durations are observed into these buckets (seconds). */
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Read at scrape time; each may be absent (a test server without a queue, say). */
export interface MetricsSources {
  /** Messages in the outbound queue and the arrival time (ms since epoch) of the oldest. */
  queue?: () => Promise<{ size: number; oldestArrival: number | null }>;
  /** Event-loop delay in ms: p99 and max of the last full interval, else of the current one. */
  eventLoop?: () => { p99Ms: number; maxMs: number };
  /** Every certificate in use: the names it covers and when it expires. */
  certificates?: () => Array<{ names: string[]; validTo: Date }>;
  /** The worker pool's counters (src/workers/pool.ts). */
  workers?: () => PoolStats;
}

export interface Metrics {
  readonly registry: Registry;
  /** A connection was accepted on a listener (mail or HTTP) / it closed. */
  connectionOpened(listener: string): void;
  connectionClosed(listener: string): void;
  /**
   * A protocol session opened on a mail listener: it is counted by its state at each scrape
   * until the returned function is called (once, when it closes).
   */
  sessionOpened(listener: ListenerName, session: StatefulSession): () => void;
  /** A store call took `seconds` (op: the Store method). */
  storeCall(op: string, seconds: number): void;
  /** A message was accepted (250 after DATA/BDAT) on the smtp or submission side. */
  messageReceived(listener: string): void;
  /** Recipient outcomes recorded by the outbound queue. */
  queueOutcome(state: 'delivered' | 'deferred' | 'bounced' | 'queued'): void;
  /** An authentication attempt's outcome. */
  authResult(protocol: string, result: 'success' | 'failure' | 'throttled'): void;
  /** A check pipeline stage's verdict. */
  checkVerdict(stage: string, action: string): void;
  /** Connects the scrape-time readings (the server calls it once its parts exist). */
  setSources(sources: MetricsSources): void;
  /** The text exposition format (version 0.0.4). */
  render(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  let sources: MetricsSources = {};
  const connections = new Gauge({ name: 'yubin_connections', help: 'Open connections per listener.', labelNames: ['listener'], registers: [registry] });
  const connectionsTotal = new Counter({ name: 'yubin_connections_total', help: 'Connections accepted per listener.', labelNames: ['listener'], registers: [registry] });
  const received = new Counter({ name: 'yubin_messages_received_total', help: 'Messages accepted (250 after DATA/BDAT) per listener.', labelNames: ['listener'], registers: [registry] });
  const outcomes = new Counter({ name: 'yubin_queue_recipients_total', help: 'Outbound recipient outcomes recorded by the queue (delivered, deferred, bounced).', labelNames: ['state'], registers: [registry] });
  const auth = new Counter({ name: 'yubin_auth_attempts_total', help: 'Authentication attempts by protocol and result (success, failure, throttled).', labelNames: ['protocol', 'result'], registers: [registry] });
  const verdicts = new Counter({ name: 'yubin_check_verdicts_total', help: 'Check pipeline verdicts by stage and action.', labelNames: ['stage', 'action'], registers: [registry] });
  const storeLatency = new Histogram({ name: 'yubin_store_operation_duration_seconds', help: 'Duration of store calls (until the promise settles) by Store method.', labelNames: ['op'], buckets: STORE_BUCKETS, registers: [registry] });
  /** Open protocol sessions per mail listener (their state is read at scrape time). */
  const sessions = new Map<ListenerName, Set<StatefulSession>>();
  new Gauge({
    name: 'yubin_sessions',
    help: 'Open protocol sessions by listener and protocol state (SMTP: idle or transaction; IMAP: notauth, auth, selected, logout; POP3: authorization, transaction, update; ManageSieve: nonauth, auth).',
    labelNames: ['listener', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [listener, open] of sessions) {
        // every state of the protocol is reported, 0 included, once the listener has had a session
        const counts = new Map<string, number>(Object.keys(SESSION_STATES[PROTOCOL_OF[listener]]).map((k) => [k, 0]));
        for (const s of open) {
          const state = sessionState(listener, s.state);
          counts.set(state, (counts.get(state) ?? 0) + 1);
        }
        for (const [state, n] of counts) this.set({ listener, state }, n);
      }
    },
  });
  /** A gauge without labels whose value is read at scrape time (none when its source is absent). */
  const readGauge = (name: string, help: string, read: () => number | undefined | Promise<number | undefined>) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const v = await read();
        if (v !== undefined) this.set(v);
      },
    });
  readGauge('yubin_worker_threads', 'Worker threads the pool runs (its size).', () => sources.workers?.().threads);
  readGauge('yubin_worker_threads_alive', 'Worker threads running now (busy, idle, or terminated and not yet exited).', () => sources.workers?.().alive);
  readGauge('yubin_worker_threads_busy', 'Worker threads running a job now.', () => sources.workers?.().busy);
  readGauge('yubin_worker_jobs_queued', 'Jobs waiting for a worker thread.', () => sources.workers?.().queued);
  // The pool counts its own jobs; the counter mirrors those counts at each scrape.
  new Counter({
    name: 'yubin_worker_jobs_total',
    help: 'Worker pool jobs by outcome: completed, failed, timeout (the worker was terminated), refused (the queue was full).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const s = sources.workers?.();
      if (!s) return;
      this.reset();
      for (const [outcome, n] of [['completed', s.completed], ['failed', s.failed], ['timeout', s.timedOut], ['refused', s.refused]] as const) this.inc({ outcome }, n);
    },
  });
  readGauge('yubin_queue_messages', 'Messages in the outbound queue.', async () => (await sources.queue?.())?.size);
  readGauge('yubin_queue_oldest_age_seconds', 'Age of the oldest message in the outbound queue (0 when empty).', async () => {
    const q = await sources.queue?.();
    return q && (q.oldestArrival === null ? 0 : Math.max(0, (Date.now() - q.oldestArrival) / 1000));
  });
  new Gauge({
    name: 'yubin_event_loop_delay_seconds',
    help: 'Event-loop delay of the main thread: stat p99 and max of the last interval.',
    // Not "quantile": that label belongs to summaries (promtool refuses it on a gauge).
    labelNames: ['stat'],
    registers: [registry],
    collect() {
      const d = sources.eventLoop?.();
      if (!d) return;
      this.set({ stat: 'p99' }, d.p99Ms / 1000);
      this.set({ stat: 'max' }, d.maxMs / 1000);
    },
  });
  new Gauge({
    name: 'yubin_certificate_expiry_timestamp_seconds',
    help: 'When the certificate serving a name expires (Unix time).',
    labelNames: ['name'],
    registers: [registry],
    collect() {
      const certs = sources.certificates?.();
      if (!certs) return;
      this.reset();
      for (const c of certs) for (const name of c.names) this.set({ name }, Math.floor(c.validTo.getTime() / 1000));
    },
  });

  return {
    registry,
    connectionOpened(listener) {
      connections.inc({ listener });
      connectionsTotal.inc({ listener });
    },
    connectionClosed: (listener) => connections.dec({ listener }),
    sessionOpened(listener, session) {
      let open = sessions.get(listener);
      if (!open) sessions.set(listener, (open = new Set()));
      open.add(session);
      return () => open.delete(session);
    },
    storeCall: (op, seconds) => storeLatency.observe({ op }, seconds),
    messageReceived: (listener) => received.inc({ listener }),
    queueOutcome(state) {
      if (state !== 'queued') outcomes.inc({ state });
    },
    authResult: (protocol, result) => auth.inc({ protocol, result }),
    checkVerdict: (stage, action) => verdicts.inc({ stage, action }),
    setSources(s) {
      sources = { ...sources, ...s };
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
