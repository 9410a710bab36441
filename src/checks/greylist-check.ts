// The greylisting check (RCPT TO stage); the triplet store is in greylist.ts.
import type { Check } from './types.js';
import { inNetworks, type Cidr } from './ip.js';
import { createChecksStorage } from './storage.js';
import type { Greylist } from './greylist.js';
import { ACCEPT, isInbound, type CheckDeps } from './deps.js';

/** Greylisting at RCPT TO (optional). */
export function greylistCheck(deps: CheckDeps, trusted: Cidr[], now: () => Date): Check {
  const c = deps.config.checks;
  let list: Greylist | null = null;
  let lastSweep = 0;
  const storage = deps.storage ?? createChecksStorage(deps.config.data_dir, deps.logger, deps.store);
  return {
    name: 'greylist',
    async rcptTo(t, rcpt) {
      if (!c.greylist || !isInbound(t) || inNetworks(trusted, t.ip)) return ACCEPT;
      list ??= storage.greylist({ delayMs: c.greylist_delay, retryWindowMs: c.greylist_retry_window, expireMs: c.greylist_expire });
      const ms = now().getTime();
      if (ms - lastSweep > 3_600_000) {
        lastSweep = ms;
        await list.sweep(ms);
      }
      const d = await list.check(t.ip, t.mailFrom, rcpt, ms);
      if (d.pass) return ACCEPT;
      const secs = Math.ceil(d.retryInMs / 1000);
      return { action: 'tempfail', reply: { code: 451, enhanced: '4.7.1', text: `Greylisted, please try again in ${secs} seconds` } };
    },
  };
}
