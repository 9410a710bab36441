// The check lists of the listeners, in order, each stage guarded (guard.ts).
import type { Check } from './types.js';
import type { SpamPrefs } from './spam.js';
import { trustedNets, type CheckDeps } from './deps.js';
import { guarded } from './guard.js';
import { dnsblCheck } from './dnsbl-check.js';
import { greylistCheck } from './greylist-check.js';
import { rateLimitCheck } from './ratelimit-check.js';
import { authenticationCheck } from './authentication-check.js';
import { forgedAuthResultsCheck } from './forged-auth-results.js';
import { openSpamPrefs } from './spam-prefs.js';

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
  let prefs: SpamPrefs | null | undefined;
  const getPrefs = (): SpamPrefs | null => {
    if (prefs === undefined) {
      try {
        prefs = openSpamPrefs(deps.config.data_dir);
      } catch (err) {
        deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'checks database unavailable: per-user spam thresholds ignored');
        prefs = null;
      }
    }
    return prefs;
  };
  return [
    forgedAuthResultsCheck(deps.config),
    ...[dnsblCheck(deps, trusted), greylistCheck(deps, trusted, now), rateLimitCheck(deps, trusted, now), authenticationCheck(deps, now, getPrefs)].map((ch) => guarded(ch, deps.config, deps.logger)),
  ];
}

/** For submission listeners: the per-user hourly rate limit only. */
export function buildSubmissionChecks(deps: CheckDeps): Check[] {
  const now = deps.now ?? (() => new Date());
  return [forgedAuthResultsCheck(deps.config), guarded(rateLimitCheck(deps, [], now), deps.config, deps.logger)];
}
