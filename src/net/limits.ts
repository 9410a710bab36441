// Connection limits shared by every listener (total and per client IP), and a small timer
// helper the protocol sessions use for their idle and overall timeouts (they know their states,
// so they own the policy; this file only keeps the mechanics in one place).

/** Counts live connections, in total and per client IP. */
export class ConnectionLimiter {
  private total = 0;
  private readonly perIp = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerIp: number,
  ) {}

  /** Takes a slot for `ip`; false (and nothing taken) when a limit is reached. */
  tryAcquire(ip: string): boolean {
    const n = this.perIp.get(ip) ?? 0;
    if (this.total >= this.maxTotal || n >= this.maxPerIp) return false;
    this.total++;
    this.perIp.set(ip, n + 1);
    return true;
  }

  /** Gives back a slot taken by tryAcquire. */
  release(ip: string): void {
    const n = this.perIp.get(ip);
    if (n === undefined) return;
    this.total--;
    if (n <= 1) this.perIp.delete(ip);
    else this.perIp.set(ip, n - 1);
  }

  get connections(): number {
    return this.total;
  }

  connectionsFrom(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }
}

/** setTimeout/clearTimeout, injectable so tests can drive time. */
export interface TimerApi {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: TimerApi = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending idle timer must not keep the process alive on its own.
    t.unref?.();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface IdleTimer {
  /** Activity seen: start the countdown again (from the current timeout). */
  touch(): void;
  /** Changes the timeout (e.g. IMAP IDLE vs. not authenticated) and restarts the countdown; 0 = off. */
  set(ms: number): void;
  /** Stops for good (the connection is closed). */
  stop(): void;
  /** Whether onTimeout has fired. */
  readonly fired: boolean;
}

/**
 * Calls onTimeout once after `ms` without touch(). Used for idle timeouts (touch on every
 * command) and, without touch(), for an overall deadline. `ms` = 0 disables it until set().
 */
export function createIdleTimer(ms: number, onTimeout: () => void, timers: TimerApi = realTimers): IdleTimer {
  let handle: unknown = null;
  let current = ms;
  let stopped = false;
  let fired = false;
  const arm = () => {
    if (handle !== null) timers.clear(handle);
    handle = null;
    if (stopped || fired || current <= 0) return;
    handle = timers.set(() => {
      handle = null;
      if (stopped || fired) return;
      fired = true;
      onTimeout();
    }, current);
  };
  arm();
  return {
    touch: arm,
    set(next: number) {
      current = next;
      arm();
    },
    stop() {
      stopped = true;
      if (handle !== null) timers.clear(handle);
      handle = null;
    },
    get fired() {
      return fired;
    },
  };
}

/** "::ffff:1.2.3.4" (an IPv4 client on a dual-stack socket) → "1.2.3.4"; others unchanged. */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return m ? m[1]! : ip;
}
