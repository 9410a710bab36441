// Removal of forged Authentication-Results (and, where we score, outside X-Spam-*) fields.
import type { Config } from '../config/schema.js';
import type { Check, CheckVerdict } from './types.js';
import { authservId } from './spf-dkim-dmarc.js';
import { isInbound } from './deps.js';

/**
 * RFC 8601 §5: Authentication-Results fields claiming our authserv-id that arrive from outside (or
 * from a client) are forgeries: removed from every message, whatever else happens to the checks.
 */
export function forgedAuthResultsCheck(config: Config): Check {
  const hostname = config.hostname.toLowerCase();
  const ar = { name: 'authentication-results', when: (v: string) => authservId(v) === hostname };
  const plain: CheckVerdict = { action: 'accept', removeHeaders: [ar] };
  // Where we score, X-Spam-Score/X-Spam-Status from outside would contradict ours (and could
  // fool a client's filter): only ours are kept.
  const scored: CheckVerdict = { action: 'accept', removeHeaders: [ar, { name: 'x-spam-score' }, { name: 'x-spam-status' }] };
  return { name: 'forged-authentication-results', data: async (d) => (config.checks.enabled && isInbound(d) ? scored : plain) };
}
