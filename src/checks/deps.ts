// What every check of the smtp listener is built from, and the small rules they share.
import type { Config } from '../config/schema.js';
import type { Resolver } from '../dns/resolver.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../log/logger.js';
import type { CheckConnection, CheckVerdict } from './types.js';
import { parseCidr, type Cidr } from './ip.js';
import type { ChecksStorage } from './storage.js';

export interface CheckDeps {
  config: Config;
  resolver: Resolver;
  store: Store;
  logger: Logger;
  /** The clock (tests move it); default the system clock. */
  now?: () => Date;
  /** Random numbers in [0, 1) for DMARC pct sampling (tests fix it); default Math.random. */
  random?: () => number;
  /** data_dir/checks.sqlite (greylisting, per-user thresholds), as the server built it; default one of the checks' own. */
  storage?: ChecksStorage;
}

export const ACCEPT: CheckVerdict = { action: 'accept' };

export function trustedNets(config: Config, logger: Logger): Cidr[] {
  const nets: Cidr[] = [];
  for (const s of config.checks.trusted_networks) {
    const c = parseCidr(s);
    if (c) nets.push(c);
    else logger.warn({ network: s }, 'checks: ignoring malformed trusted_networks entry');
  }
  return nets;
}

/** Only mail from outside is checked: the smtp listener, not authenticated. */
export function isInbound(c: CheckConnection & { authenticated?: string | null }): boolean {
  return c.listener === 'smtp' && !c.authenticated;
}
