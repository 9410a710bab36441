// Throttling of authentication failures, per client IP and per account, inside a sliding window.
//
// Per IP: a few free failures, then a growing delay before each answer, then a temporary refusal
// while too many failures lie inside the window. Per account: the same growing delay, capped at a
// few seconds, and never a refusal, so a stranger who knows an address cannot lock its owner out
// (issue 10): a correct password is never refused because of failures from other addresses, yet
// guesses spread over many addresses against one account are all slowed. Attempts in progress
// count as failures until they end, so parallel connections cannot race past the limit or the
// delay once a failure is on record (a burst of correct logins from one client is not slowed).
// The clock is injectable (tests).
//
// Several nodes (the PostgreSQL store): with `shared`, every failure is also written to a log all
// nodes read (src/auth/shared-throttle.ts), and before each decision the node reads the other
// nodes' failures for that IP and account inside the window (pullShared), so a guesser spread
// over N nodes meets one limit, not N. Attempts in progress stay per node.

export interface ThrottleOptions {
  /** Failures (per IP, and per account) before delays start. */
  freeFailures: number;
  /** Failures from one IP inside the window that lead to a refusal of that IP. */
  maxFailures: number;
  windowMs: number;
  /** First delay; doubles with each further failure. */
  baseDelayMs: number;
  /** Longest delay for an IP's own failures. */
  maxDelayMs: number;
  /** Longest delay for an account's failures (from any IP); an account is never refused. */
  accountMaxDelayMs: number;
  now?: () => number;
  /** Keys remembered per table before a sweep drops the oldest (memory bound). */
  maxKeys?: number;
  /** The failure log of the other nodes (several nodes on one database). */
  shared?: SharedFailureLog;
}

/** Failures recorded by every node, read back without the reading node's own. */
export interface SharedFailureLog {
  /** Times (ms) of other nodes' failures after `since`, oldest first, at most `limit` of each, for the IP key and for the account. */
  others(ipKey: string, account: string, since: number, limit: number): Promise<{ ip: number[]; account: number[] }>;
  record(ipKey: string, account: string, at: number): Promise<void>;
  /** A success: the account's failures from this IP key no longer count for the account (they still do for the IP). */
  clearAccount(account: string, ipKey: string): Promise<void>;
}

export type ThrottleDecision = { allowed: true; delayMs: number } | { allowed: false; retryAfterMs: number };

interface Failure {
  at: number;
  /** ipKey() of the client that failed (so a success can clear its own address's failures). */
  ip: string;
}

interface Entry {
  /** Failures inside the window, oldest first; at most `keep` of them are remembered. */
  failures: Failure[];
  pending: number;
  /** Times of other nodes' failures inside the window, oldest first (pullShared). */
  remote: number[];
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
  /** Failures remembered per IP: enough to refuse. */
  private readonly ipKeep: number;
  /** Failures remembered per account: enough to reach the longest account delay. */
  private readonly accountKeep: number;

  constructor(private readonly opts: ThrottleOptions) {
    this.now = opts.now ?? Date.now;
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.ipKeep = opts.maxFailures;
    const doublings = Math.ceil(Math.log2(Math.max(1, opts.accountMaxDelayMs / Math.max(1, opts.baseDelayMs))));
    this.accountKeep = opts.freeFailures + Math.min(doublings, 30) + 1;
  }

  /**
   * Call before checking credentials. Allowed: wait delayMs, check, then call end() exactly once.
   * Refused (only ever for the IP's own failures): do not check and do not call end().
   */
  begin(ip: string, account: string): ThrottleDecision {
    const now = this.now();
    const a = this.entry(this.ips, ipKey(ip), now);
    const ipCount = suspected(a);
    if (ipCount >= this.opts.maxFailures) {
      return { allowed: false, retryAfterMs: Math.max(this.retryAfter(a, now), 1000) };
    }
    const b = this.entry(this.accounts, account, now);
    const accountCount = suspected(b);
    a.pending++;
    b.pending++;
    const delayMs = Math.max(this.delay(ipCount, this.opts.maxDelayMs), this.delay(accountCount, this.opts.accountMaxDelayMs));
    return { allowed: true, delayMs };
  }

  /**
   * The attempt begun with begin() ended. A success clears the account's failures that came from
   * the same IP (the owner's own typos), not those from other addresses (the owner's mail client
   * logging in every few minutes must not reset the slowdown of a guesser elsewhere), and never
   * the IP's failures (one valid account must not reset an IP that guesses others).
   */
  end(ip: string, account: string, ok: boolean): void {
    const now = this.now();
    const key = ipKey(ip);
    const a = this.entry(this.ips, key, now);
    const b = this.entry(this.accounts, account, now);
    a.pending = Math.max(0, a.pending - 1);
    b.pending = Math.max(0, b.pending - 1);
    if (ok) {
      b.failures = b.failures.filter((f) => f.ip !== key);
    } else {
      this.push(a, { at: now, ip: key }, this.ipKeep);
      this.push(b, { at: now, ip: key }, this.accountKeep);
    }
    // Only keys with failures in the window (or attempts in progress) are remembered.
    if (idle(a)) this.ips.delete(key);
    if (idle(b)) this.accounts.delete(account);
    this.sweep(now);
  }

  /**
   * With a shared log: reads the other nodes' failures of this IP and account into the tables;
   * call before begin(). An unreachable log leaves the local counts (onError is told).
   */
  async pullShared(ip: string, account: string, onError?: (err: unknown) => void): Promise<void> {
    const shared = this.opts.shared;
    if (!shared) return;
    const now = this.now();
    try {
      const key = ipKey(ip);
      const r = await shared.others(key, account, now - this.opts.windowMs, Math.max(this.ipKeep, this.accountKeep));
      this.entry(this.ips, key, now).remote = r.ip;
      this.entry(this.accounts, account, now).remote = r.account;
    } catch (err) {
      onError?.(err);
    }
  }

  /** With a shared log: records the attempt ended with end() for the other nodes. */
  async pushShared(ip: string, account: string, ok: boolean, onError?: (err: unknown) => void): Promise<void> {
    const shared = this.opts.shared;
    if (!shared) return;
    try {
      if (ok) await shared.clearAccount(account, ipKey(ip));
      else await shared.record(ipKey(ip), account, this.now());
    } catch (err) {
      onError?.(err);
    }
  }

  /** Failures inside the window, this node's and (after pullShared) the others' (tests, diagnostics). */
  failures(kind: 'ip' | 'account', key: string): number {
    const map = kind === 'ip' ? this.ips : this.accounts;
    const e = map.get(kind === 'ip' ? ipKey(key) : key);
    if (!e) return 0;
    this.prune(e, this.now());
    return e.failures.length + e.remote.length;
  }

  /** The delay after `count` failures: none while free, then doubling from the base, capped. */
  private delay(count: number, cap: number): number {
    const over = count - this.opts.freeFailures;
    return over < 0 ? 0 : Math.min(this.opts.baseDelayMs * 2 ** Math.min(over, 30), cap);
  }

  private entry(map: Map<string, Entry>, key: string, now: number): Entry {
    let e = map.get(key);
    if (!e) {
      e = { failures: [], pending: 0, remote: [] };
      map.set(key, e);
    } else {
      this.prune(e, now);
    }
    return e;
  }

  private prune(e: Entry, now: number): void {
    const cutoff = now - this.opts.windowMs;
    let i = 0;
    while (i < e.failures.length && e.failures[i]!.at <= cutoff) i++;
    if (i) e.failures.splice(0, i);
    let j = 0;
    while (j < e.remote.length && e.remote[j]! <= cutoff) j++;
    if (j) e.remote.splice(0, j);
  }

  private push(e: Entry, f: Failure, keep: number): void {
    e.failures.push(f);
    if (e.failures.length > keep) e.failures.splice(0, e.failures.length - keep);
  }

  /** Time until this IP's entry drops below the limit again. */
  private retryAfter(e: Entry, now: number): number {
    const excess = suspected(e) - this.opts.maxFailures;
    if (excess < 0) return 0;
    const times = e.remote.length ? [...e.failures.map((f) => f.at), ...e.remote].sort((x, y) => x - y) : e.failures.map((f) => f.at);
    const t = times[Math.min(excess, times.length - 1)];
    return t === undefined ? 0 : t + this.opts.windowMs - now;
  }

  /** Bounded memory: forget idle keys; beyond maxKeys forget the oldest ones. */
  private sweep(now: number): void {
    for (const map of [this.ips, this.accounts]) {
      if (map.size <= this.maxKeys) continue;
      for (const [k, e] of map) {
        this.prune(e, now);
        if (idle(e)) map.delete(k);
      }
      for (const k of map.keys()) {
        if (map.size <= this.maxKeys) break;
        if (map.get(k)!.pending === 0) map.delete(k);
      }
    }
  }
}

/**
 * Failures that count for a key: those in the window, plus the attempts in progress once there is
 * at least one failure. A client that opens ten connections and logs them all in at once (a mail
 * app, or ten IMAPS clients) is not delayed by its own successful logins; a guesser is, from its
 * first failure on, so parallel guesses cannot race past the delay or the limit for long.
 */
function suspected(e: Entry): number {
  const n = e.failures.length + e.remote.length;
  return n === 0 ? 0 : n + e.pending;
}

function idle(e: Entry): boolean {
  return e.failures.length === 0 && e.remote.length === 0 && e.pending === 0;
}
