// The check lists of the listeners, in order, each stage guarded (guard.ts).
import type { Check } from './types.js';
import { trustedNets, type CheckDeps } from './deps.js';
import { guarded } from './guard.js';
import { dnsblCheck } from './dnsbl-check.js';
import { greylistCheck } from './greylist-check.js';
import { rateLimitCheck } from './ratelimit-check.js';
import { authenticationCheck } from './authentication-check.js';
import { forgedAuthResultsCheck } from './forged-auth-results.js';
import { createChecksStorage } from './storage.js';

/**
 * The checks of the inbound smtp listener, in order: forged Authentication-Results removal, DNSBL
 * (connect), greylisting (RCPT TO), rate limits (MAIL FROM, RCPT TO; a greylisted recipient is not
 * counted), then sender authentication and the spam score (end of data). Each is guarded by
 * [checks] timeout. Submission listeners may use the same list: only the per-user rate limit and
 * the forged Authentication-Results removal apply to authenticated sessions.
 */
export function buildInboundChecks(deps: CheckDeps): Check[] {
  const now = deps.now ?? (() => new Date());
  const trusted = trustedNets(deps.config, deps.logger);
  const storage = deps.storage ?? createChecksStorage(deps.config.data_dir, deps.logger, deps.store);
  const d = { ...deps, storage };
  return [
    forgedAuthResultsCheck(deps.config),
    ...[dnsblCheck(d, trusted), greylistCheck(d, trusted, now), rateLimitCheck(d, trusted, now), authenticationCheck(d, now, () => storage.spamPrefs())].map((ch) => guarded(ch, deps.config, deps.logger)),
  ];
}

/** For submission listeners: the per-user hourly rate limit only. */
export function buildSubmissionChecks(deps: CheckDeps): Check[] {
  const now = deps.now ?? (() => new Date());
  return [forgedAuthResultsCheck(deps.config), guarded(rateLimitCheck(deps, [], now), deps.config, deps.logger)];
}
