// Every stage of a check runs under [checks] timeout; one that times out or throws gives
// [checks] timeout_action (docs/checks.md).
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Check, CheckVerdict } from './types.js';
import { withTimeout } from './dns.js';
import { ACCEPT } from './deps.js';

/** Wraps every stage of a check with the timeout and the failure policy. */
export function guarded(check: Check, config: Config, logger: Logger): Check {
  const onFailure = (stage: string, err: unknown): CheckVerdict => {
    logger.warn({ check: check.name, stage, err: err instanceof Error ? err.message : String(err) }, 'check failed');
    if (config.checks.timeout_action === 'tempfail') {
      return { action: 'tempfail', reply: { code: 451, enhanced: '4.4.3', text: `Temporary failure in ${check.name} check, try again later` } };
    }
    return ACCEPT;
  };
  const wrap = <A extends unknown[]>(stage: keyof Check, fn: ((...a: A) => Promise<CheckVerdict>) | undefined) =>
    fn
      ? async (...a: A): Promise<CheckVerdict> => {
          try {
            return await withTimeout(fn.apply(check, a), config.checks.timeout, `${check.name} ${String(stage)}`);
          } catch (err) {
            return onFailure(String(stage), err);
          }
        }
      : undefined;
  const out: Check = { name: check.name };
  const stages = ['connect', 'helo', 'mailFrom', 'rcptTo', 'data'] as const;
  for (const s of stages) {
    const w = wrap(s, check[s] as ((...a: unknown[]) => Promise<CheckVerdict>) | undefined);
    if (w) (out as unknown as Record<string, unknown>)[s] = w;
  }
  return out;
}
