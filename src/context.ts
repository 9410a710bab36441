// Everything a protocol session needs, in one object passed in (DESIGN.md): no globals.
import type { Config } from './config/schema.js';
import type { Store } from './store/types.js';
import type { Authenticator } from './auth/types.js';
import type { Outbound } from './queue/types.js';
import type { Resolver } from './dns/resolver.js';
import type { CheckPipeline } from './pipeline/types.js';
import type { Logger } from './log/logger.js';
import type { Metrics } from './http/metrics.js';

export interface ServerContext {
  config: Config;
  store: Store;
  auth: Authenticator;
  /** Remote recipients go here (the durable outbound queue). */
  outbound: Outbound;
  resolver: Resolver;
  /** Checks on the inbound smtp listener (SPF/DKIM/DMARC/...); an empty pipeline accepts. */
  checks: CheckPipeline;
  logger: Logger;
  /** Prometheus counters (src/http/metrics.ts); absent in tests that build a bare context. */
  metrics?: Metrics;
  /** The clock (tests move it). */
  now(): Date;
}
