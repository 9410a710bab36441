// The MTA-STS policy (RFC 8461) from [mta_sts]: the policy file served at
// https://mta-sts.<domain>/.well-known/mta-sts.txt and the id its _mta-sts TXT record carries.
import { createHash } from 'node:crypto';
import type { Config } from '../config/schema.js';

/** RFC 8461 §3.2: the policy file, lines of "key: value" ending in CRLF. */
export function mtaStsPolicy(config: Pick<Config, 'hostname' | 'mta_sts'>): string {
  const mx = config.mta_sts.mx.length ? config.mta_sts.mx : [config.hostname];
  // RFC 8461 §3.2: version first; one "mx:" line per MX pattern; max_age in seconds.
  const lines = ['version: STSv1', `mode: ${config.mta_sts.mode}`, ...mx.map((m) => `mx: ${m.toLowerCase()}`), `max_age: ${config.mta_sts.max_age}`];
  return lines.map((l) => `${l}\r\n`).join('');
}

/**
 * RFC 8461 §3.1: the TXT record's id (1 to 32 letters and digits) must change whenever the policy
 * does; here it is a hash of the policy, so it changes exactly then.
 */
export function mtaStsId(policy: string): string {
  return createHash('sha256').update(policy).digest('hex').slice(0, 20);
}

/** RFC 8461 §3.1: the "_mta-sts" TXT record's value. */
export function mtaStsRecord(config: Pick<Config, 'hostname' | 'mta_sts'>): string {
  return `v=STSv1; id=${mtaStsId(mtaStsPolicy(config))}`;
}
