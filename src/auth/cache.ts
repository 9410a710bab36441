// The authentication cache (Dovecot's auth_cache idea; issues 13 and 14): after a successful
// argon2 verification the credentials are remembered for a short time, so a client that logs in
// per message (nodemailer without pooling) or 10,000 clients reconnecting do not cost an argon2
// run each. What is kept is never the password: an HMAC-SHA256, under a key drawn at random when
// the process starts (so it means nothing outside this process, and nothing on disk), over the
// user name, the password and the account's stored password hash. Because the stored hash is part
// of the key, a password change (`yubin user passwd`, even from another process) makes every
// cached entry of the account miss at once, and a removed account is never looked up here (the
// account itself is read from the store on every login). Failed logins are never cached.
// Logins with the same credentials at the same moment (a client opening its pool of connections:
// nodemailer, IMAP clients) share one argon2 run instead of each starting its own (verifyOnce).
import { createHmac, randomBytes } from 'node:crypto';

export interface AuthCacheOptions {
  /** How long a successful verification is reused (ms); 0 turns the cache off. */
  ttlMs: number;
  /** Most entries (the oldest go first). */
  maxEntries: number;
  now: () => number;
}

export const DEFAULT_AUTH_CACHE: AuthCacheOptions = { ttlMs: 60_000, maxEntries: 10_000, now: () => Date.now() };

export class AuthCache {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, number>();
  /** Verifications running now, by tag: a login with the same triple waits for that one. */
  private readonly inflight = new Map<string, Promise<boolean>>();
  private readonly opts: AuthCacheOptions;
  hits = 0;
  misses = 0;
  /** Logins that waited for a verification already running with the same credentials. */
  joined = 0;

  constructor(opts: Partial<AuthCacheOptions> = {}) {
    this.opts = { ...DEFAULT_AUTH_CACHE, ...opts };
  }

  get size(): number {
    return this.entries.size;
  }

  private tag(user: string, password: string, storedHash: string): string {
    const h = createHmac('sha256', this.key);
    // lengths first: no two different triples give the same input
    for (const part of [user, password, storedHash]) {
      const b = Buffer.from(part, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      h.update(len).update(b);
    }
    return h.digest('base64');
  }

  /** True when these credentials verified against this stored hash less than ttlMs ago. */
  has(user: string, password: string, storedHash: string): boolean {
    if (this.opts.ttlMs <= 0) return false;
    const t = this.tag(user, password, storedHash);
    const until = this.entries.get(t);
    if (until !== undefined && until > this.opts.now()) {
      this.hits++;
      return true;
    }
    if (until !== undefined) this.entries.delete(t);
    this.misses++;
    return false;
  }

  /** Remembers a successful verification (only ever called after argon2 said yes). */
  add(user: string, password: string, storedHash: string): void {
    if (this.opts.ttlMs <= 0) return;
    const t = this.tag(user, password, storedHash);
    this.entries.delete(t);
    this.entries.set(t, this.opts.now() + this.opts.ttlMs);
    while (this.entries.size > this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  /**
   * Runs `verify` (argon2) for these credentials, or, when a verification of the very same triple
   * (user, password, stored hash) is already running, waits for its answer: the same triple has
   * the same answer. Nothing is kept once it settles (a failure is never reused later; a success
   * only through add()). Each login still goes through the throttle on its own.
   */
  verifyOnce(user: string, password: string, storedHash: string, verify: () => Promise<boolean>): Promise<boolean> {
    const t = this.tag(user, password, storedHash);
    const running = this.inflight.get(t);
    if (running) {
      this.joined++;
      return running;
    }
    const p = verify().finally(() => this.inflight.delete(t));
    this.inflight.set(t, p);
    return p;
  }

  clear(): void {
    this.entries.clear();
  }
}
