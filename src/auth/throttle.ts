// Throttling of authentication failures, per client IP and per account: a few free failures,
// then a growing delay before each answer, then a temporary refusal while too many failures
// lie inside the window. Attempts in progress count as failures until they end, so parallel
// connections cannot race past the limit. The clock is injectable (tests).

export interface ThrottleOptions {
  /** Failures before delays start. */
  freeFailures: number;
  /** Failures inside the window that lead to a refusal. */
  maxFailures: number;
  windowMs: number;
  /** First delay; doubles with each further failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  now?: () => number;
  /** Keys remembered per table before a sweep drops the oldest (memory bound). */
  maxKeys?: number;
}

export type ThrottleDecision = { allowed: true; delayMs: number } | { allowed: false; retryAfterMs: number };

interface Entry {
  /** Failure times, oldest first; at most maxFailures kept. */
  failures: number[];
  pending: number;
}

/** The throttling key of a client address: IPv6 clients are grouped by /64 (one site or host). */
export function ipKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.split('::', 2) as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  if (groups.length < 4 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return ip.toLowerCase();
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

export class AuthThrottle {
  private readonly ips = new Map<string, Entry>();
  private readonly accounts = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly opts: ThrottleOptions) {
    this.now = opts.now ?? Date.now;
    this.maxKeys = opts.maxKeys ?? 100_000;
  }

  /**
   * Call before checking credentials. Allowed: wait delayMs, check, then call end() exactly once.
   * Refused: do not check and do not call end().
   */
  begin(ip: string, account: string): ThrottleDecision {
    const now = this.now();
    const a = this.entry(this.ips, ipKey(ip), now);
    const b = this.entry(this.accounts, account, now);
    const count = Math.max(a.failures.length + a.pending, b.failures.length + b.pending);
    if (count >= this.opts.maxFailures) {
      return { allowed: false, retryAfterMs: Math.max(this.retryAfter(a, now), this.retryAfter(b, now), 1000) };
    }
    a.pending++;
    b.pending++;
    const over = count - this.opts.freeFailures;
    const delayMs = over < 0 ? 0 : Math.min(this.opts.baseDelayMs * 2 ** Math.min(over, 30), this.opts.maxDelayMs);
    return { allowed: true, delayMs };
  }

  /** The attempt begun with begin() ended: a success clears the account's failures. */
  end(ip: string, account: string, ok: boolean): void {
    const now = this.now();
    const a = this.entry(this.ips, ipKey(ip), now);
    const b = this.entry(this.accounts, account, now);
    a.pending = Math.max(0, a.pending - 1);
    b.pending = Math.max(0, b.pending - 1);
    if (ok) {
      b.failures.length = 0;
    } else {
      this.push(a, now);
      this.push(b, now);
    }
    // Only keys with failures in the window (or attempts in progress) are remembered.
    if (a.failures.length === 0 && a.pending === 0) this.ips.delete(ipKey(ip));
    if (b.failures.length === 0 && b.pending === 0) this.accounts.delete(account);
    this.sweep(now);
  }

  /** Failures inside the window (tests, diagnostics). */
  failures(kind: 'ip' | 'account', key: string): number {
    const map = kind === 'ip' ? this.ips : this.accounts;
    const e = map.get(kind === 'ip' ? ipKey(key) : key);
    if (!e) return 0;
    this.prune(e, this.now());
    return e.failures.length;
  }

  private entry(map: Map<string, Entry>, key: string, now: number): Entry {
    let e = map.get(key);
    if (!e) {
      e = { failures: [], pending: 0 };
      map.set(key, e);
    } else {
      this.prune(e, now);
    }
    return e;
  }

  private prune(e: Entry, now: number): void {
    const cutoff = now - this.opts.windowMs;
    let i = 0;
    while (i < e.failures.length && e.failures[i]! <= cutoff) i++;
    if (i) e.failures.splice(0, i);
  }

  private push(e: Entry, now: number): void {
    e.failures.push(now);
    if (e.failures.length > this.opts.maxFailures) e.failures.splice(0, e.failures.length - this.opts.maxFailures);
  }

  /** Time until this entry drops below the limit again. */
  private retryAfter(e: Entry, now: number): number {
    const excess = e.failures.length + e.pending - this.opts.maxFailures;
    if (excess < 0) return 0;
    const t = e.failures[Math.min(excess, e.failures.length - 1)];
    return t === undefined ? 0 : t + this.opts.windowMs - now;
  }

  /** Bounded memory: forget idle keys; beyond maxKeys forget the oldest ones. */
  private sweep(now: number): void {
    for (const map of [this.ips, this.accounts]) {
      if (map.size <= this.maxKeys) continue;
      for (const [k, e] of map) {
        this.prune(e, now);
        if (e.failures.length === 0 && e.pending === 0) map.delete(k);
      }
      for (const k of map.keys()) {
        if (map.size <= this.maxKeys) break;
        if (map.get(k)!.pending === 0) map.delete(k);
      }
    }
  }
}
