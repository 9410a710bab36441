// What the HTTP side needs from the server, in one object (as ServerContext is for the protocols).
import type { Config, ListenerName } from '../config/schema.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from './metrics.js';
import type { AcmeChallenges } from './acme-challenges.js';

export interface Readiness {
  ready: boolean;
  /** Why not ready ("listeners not bound", "store closed", ...); empty when ready. */
  problems: string[];
}

export interface HttpDeps {
  config: Config;
  store: Pick<Store, 'isLocalDomain'>;
  logger: Logger;
  metrics: Metrics;
  /** The mail listeners' bound addresses (what autoconfig and friends advertise). */
  mailAddresses(): Partial<Record<ListenerName, readonly string[]>>;
  /** ACME http-01 tokens (filled by the ACME client). */
  challenges: AcmeChallenges;
  /** /readyz: every listener bound and the store open. */
  readiness(): Promise<Readiness>;
}
