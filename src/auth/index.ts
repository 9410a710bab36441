// The authentication core shared by SMTP submission, IMAP and POP3: password verification with
// argon2id, throttling of failures, and one fail2ban-matchable log line per failure.
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { StoreError, type Account, type Store } from '../store/types.js';
import type { AuthAttempt, AuthResult, Authenticator, SaslMechanism } from './types.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { AuthThrottle } from './throttle.js';
import { pgFailureLog } from './shared-throttle.js';
import { PostgresStore } from '../store/postgres/store.js';
import { AuthCache, type AuthCacheOptions } from './cache.js';
import { createPlain } from './sasl/plain.js';
import { createLogin } from './sasl/login.js';

export { hashPassword, verifyPassword } from './passwords.js';
export { AuthThrottle, ipKey } from './throttle.js';
export { AuthCache } from './cache.js';
export { decodeSaslResponse, encodeSaslChallenge } from './sasl/base64.js';
export { parsePlain } from './sasl/plain.js';

/** The mechanisms createSasl knows, in the order servers advertise them. */
export const SASL_MECHANISMS = ['PLAIN', 'LOGIN'] as const;

/** A fresh state machine for a mechanism name (case-insensitive), or null when unsupported. */
export function createSasl(name: string): SaslMechanism | null {
  switch (name.toUpperCase()) {
    case 'PLAIN':
      return createPlain();
    case 'LOGIN':
      return createLogin();
    default:
      return null;
  }
}

/**
 * Makes untrusted text safe inside a space-separated log line: backslash, space, '=', quotes,
 * control characters and line separators become \xNN / \uNNNN, so a user name can never forge
 * another field or line for fail2ban.
 */
export function escapeLogValue(s: string, max = 256): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  const out = cut.replace(/[\u0000-\u0020\u007f-\u009f\u2028\u2029\\="']/g, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
  return s.length > max ? `${out}...` : out;
}

/** The line fail2ban matches: `auth failed: protocol=imap ip=1.2.3.4 user=alice@a.test reason=invalid`. */
export function authFailureLine(protocol: string, ip: string, user: string, reason: string): string {
  return `auth failed: protocol=${escapeLogValue(protocol, 16)} ip=${escapeLogValue(ip, 64)} user=${escapeLogValue(user)} reason=${reason}`;
}

export interface AuthenticatorOptions {
  /** Clock for throttling windows (tests). */
  now?: () => number;
  /** How throttling delays are waited out (tests pass a recorder). */
  sleep?: (ms: number) => Promise<void>;
  /** The authentication cache (cache.ts): TTL, size and clock; default 60 s, 10,000 entries. */
  cache?: Partial<AuthCacheOptions>;
}

export interface FullAuthenticator extends Authenticator {
  readonly throttle: AuthThrottle;
  readonly cache: AuthCache;
}

/** Longest user name looked up (RFC 5321 §4.5.3.1.3 path limit, with room to spare). */
const MAX_USERNAME = 320;

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createAuthenticator(store: Store, config: Config, logger: Logger, opts: AuthenticatorOptions = {}): FullAuthenticator {
  const log = logger.child({ component: 'auth' });
  const sleep = opts.sleep ?? realSleep;
  const throttle = new AuthThrottle({
    freeFailures: config.auth.throttle_free_failures,
    maxFailures: config.auth.throttle_max_failures,
    windowMs: config.auth.throttle_window,
    baseDelayMs: config.auth.throttle_delay,
    maxDelayMs: config.auth.throttle_max_delay,
    accountMaxDelayMs: config.auth.throttle_account_max_delay,
    now: opts.now,
    // Several nodes on one database count failures together (shared-throttle.ts).
    ...(store instanceof PostgresStore ? { shared: pgFailureLog(store.pool, { windowMs: config.auth.throttle_window }) } : {}),
  });
  const sharedError = (err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'shared auth failure log unavailable: counting this node\'s failures only');
  // Unknown users are checked against this hash, so they cost the same time as a wrong password.
  const dummyHash = hashPassword(randomBytes(18).toString('base64'));
  dummyHash.catch(() => undefined);
  const cache = new AuthCache({ ...(opts.now ? { now: opts.now } : {}), ...opts.cache });

  const fail = (a: AuthAttempt, user: string, reason: 'invalid' | 'authzid' | 'throttled', extra: Record<string, unknown> = {}) => {
    log.warn({ protocol: a.protocol, ip: a.ip, user: user.slice(0, 256), reason, ...extra }, authFailureLine(a.protocol, a.ip, user, reason));
  };

  return {
    throttle,
    cache,
    async authenticate(a: AuthAttempt): Promise<AuthResult> {
      // RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so a longer name is no account; it
      // is cut for the throttle table (bounded memory) and still costs a full verification.
      const tooLong = a.username.length > MAX_USERNAME;
      const user = (tooLong ? a.username.slice(0, MAX_USERNAME) : a.username).toLowerCase();
      await throttle.pullShared(a.ip, user, sharedError);
      const decision = throttle.begin(a.ip, user);
      if (!decision.allowed) {
        fail(a, user, 'throttled', { retryAfterMs: decision.retryAfterMs });
        return { ok: false, reason: 'throttled', retryAfterMs: decision.retryAfterMs };
      }
      let success = false;
      try {
        if (decision.delayMs > 0) await sleep(decision.delayMs);
        let account: Account | null = null;
        try {
          if (!tooLong) account = await store.getAccount(user);
        } catch (err) {
          // A malformed address is simply not an account; anything else is a real failure.
          if (!(err instanceof StoreError) || (err.code !== 'invalid' && err.code !== 'not-found')) throw err;
        }
        const hash = account ? account.passwordHash : await dummyHash;
        // A recent success with the same password against the same stored hash skips argon2
        // (cache.ts); anything else, and every failure, is verified in full.
        const cached = account !== null && cache.has(user, a.password, hash);
        // A known account's verification is shared with a login of the same credentials already
        // running (cache.ts verifyOnce); an unknown user's (the dummy hash) is always its own.
        const passwordOk = cached || (await (account ? cache.verifyOnce(user, a.password, hash, () => verifyPassword(hash, a.password)) : verifyPassword(hash, a.password)));
        if (account && passwordOk && !cached) cache.add(user, a.password, hash);
        // RFC 4616 §2: the server may allow or deny the authzid; only "none" or "self" is allowed here
        const authzOk = !a.authzid || a.authzid.toLowerCase() === user;
        if (account && passwordOk && authzOk) {
          success = true;
          log.info({ protocol: a.protocol, ip: a.ip, user }, 'auth ok');
          return { ok: true, account };
        }
        fail(a, user, account && passwordOk ? 'authzid' : 'invalid', { known: account !== null });
        return { ok: false, reason: 'invalid' };
      } finally {
        throttle.end(a.ip, user, success);
        await throttle.pushShared(a.ip, user, success, sharedError);
      }
    },
  };
}
