// Prometheus metrics (prom-client) for the whole process, served at /metrics on the admin
// listener. Counters are bumped through small hooks (server.ts wraps the session factories,
// the authenticator, the check pipeline and the queue's outcome hook); gauges that are cheap
// to read (queue size, event-loop delay, certificate expiry) are read at scrape time.
import { Counter, Gauge, Registry } from 'prom-client';

/** Read at scrape time; each may be absent (a test server without a queue, say). */
export interface MetricsSources {
  /** Messages in the outbound queue and the arrival time (ms since epoch) of the oldest. */
  queue?: () => { size: number; oldestArrival: number | null };
  /** Event-loop delay in ms: p99 and max of the last full interval, else of the current one. */
  eventLoop?: () => { p99Ms: number; maxMs: number };
  /** Every certificate in use: the names it covers and when it expires. */
  certificates?: () => Array<{ names: string[]; validTo: Date }>;
}

export interface Metrics {
  readonly registry: Registry;
  /** A connection was accepted on a listener (mail or HTTP) / it closed. */
  connectionOpened(listener: string): void;
  connectionClosed(listener: string): void;
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
  new Gauge({
    name: 'yubin_queue_messages',
    help: 'Messages in the outbound queue.',
    registers: [registry],
    collect() {
      const q = sources.queue?.();
      if (q) this.set(q.size);
    },
  });
  new Gauge({
    name: 'yubin_queue_oldest_age_seconds',
    help: 'Age of the oldest message in the outbound queue (0 when empty).',
    registers: [registry],
    collect() {
      const q = sources.queue?.();
      if (q) this.set(q.oldestArrival === null ? 0 : Math.max(0, (Date.now() - q.oldestArrival) / 1000));
    },
  });
  new Gauge({
    name: 'yubin_event_loop_delay_seconds',
    help: 'Event-loop delay of the main thread (p99 and max of the last interval).',
    labelNames: ['quantile'],
    registers: [registry],
    collect() {
      const d = sources.eventLoop?.();
      if (!d) return;
      this.set({ quantile: '0.99' }, d.p99Ms / 1000);
      this.set({ quantile: '1' }, d.maxMs / 1000);
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
