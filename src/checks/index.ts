// The checks of the inbound smtp listener (and the submission rate limit), as pipeline stages
// (src/checks/types.ts). Policy comes from [checks] (docs/checks.md). Every stage runs under
// [checks] timeout; a check that times out or throws gives [checks] timeout_action.
// One file per check; this module only gathers them.
export type { Check } from './types.js';
export type { CheckDeps } from './deps.js';
export { guarded } from './guard.js';
export { dnsblCheck } from './dnsbl-check.js';
export { greylistCheck } from './greylist-check.js';
export { rateLimitCheck } from './ratelimit-check.js';
export { authenticationCheck } from './authentication-check.js';
export { forgedAuthResultsCheck } from './forged-auth-results.js';
export { buildInboundChecks, buildSubmissionChecks } from './build.js';
export { openSpamPrefs } from './spam-prefs.js';
export { createChecksStorage, type ChecksStorage } from './storage.js';
export { observeJunkVerdicts } from './junk-verdicts.js';
export { createPipeline } from './types.js';
export { verdictForMove, recordMoveVerdicts } from './spam.js';
export { createSrs } from '../forward/srs.js';
export { arcSealForwarded } from '../forward/arc-seal.js';
export { ensureDomainKeys } from './dkim-keys.js';
