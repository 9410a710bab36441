// The hourly rate-limit check (MAIL FROM, RCPT TO, data); the sliding windows are in ratelimit.ts.
import type { Check, CheckTransaction, CheckVerdict } from './types.js';
import { inNetworks, type Cidr } from './ip.js';
import { createChecksStorage } from './storage.js';
import { ACCEPT, type CheckDeps } from './deps.js';

/**
 * Hourly rate limits: per client IP and per sender on the smtp listener, per authenticated user
 * everywhere (submission). Messages are counted when their data is accepted, recipients as they
 * are accepted; a limit reached gives 451 4.7.1.
 */
export function rateLimitCheck(deps: CheckDeps, trusted: Cidr[], now: () => Date): Check {
  const c = deps.config.checks;
  const limiter = (deps.storage ?? createChecksStorage(deps.config.data_dir, deps.logger, deps.store)).rateLimiter();
  type Key = { key: string; messages: number; recipients: number; what: string };
  const keysFor = (t: CheckTransaction): Key[] => {
    if (t.authenticated) return [{ key: `user:${t.authenticated.toLowerCase()}`, messages: c.ratelimit_user_messages, recipients: c.ratelimit_user_recipients, what: 'user' }];
    if (t.listener !== 'smtp' || inNetworks(trusted, t.ip)) return [];
    const keys: Key[] = [{ key: `ip:${t.ip}`, messages: c.ratelimit_ip_messages, recipients: c.ratelimit_ip_recipients, what: 'client address' }];
    if (t.mailFrom) keys.push({ key: `sender:${t.mailFrom.toLowerCase()}`, messages: c.ratelimit_sender_messages, recipients: c.ratelimit_sender_recipients, what: 'sender' });
    return keys;
  };
  const limited = (what: string, kind: string): CheckVerdict => ({
    action: 'tempfail',
    reply: { code: 451, enhanced: '4.7.1', text: `Rate limit exceeded: too many ${kind} per hour from this ${what}, try again later` },
  });
  return {
    name: 'ratelimit',
    async mailFrom(t) {
      const ms = now().getTime();
      for (const k of keysFor(t)) if (!(await limiter.allows(`${k.key}:m`, 1, k.messages, ms))) return limited(k.what, 'messages');
      return ACCEPT;
    },
    async rcptTo(t) {
      const ms = now().getTime();
      const keys = keysFor(t);
      for (const k of keys) if (!(await limiter.allows(`${k.key}:r`, 1, k.recipients, ms))) return limited(k.what, 'recipients');
      for (const k of keys) await limiter.add(`${k.key}:r`, 1, ms);
      return ACCEPT;
    },
    async data(d) {
      const ms = now().getTime();
      for (const k of keysFor(d)) await limiter.add(`${k.key}:m`, 1, ms);
      return ACCEPT;
    },
  };
}
