// The one way any module asks DNS: the configured servers ([dns] servers) or the system's.
// Errors are classified the way mail routing needs them (RFC 5321 §5.1): a name that does not
// exist is permanent; a timeout or SERVFAIL is temporary.
import { promises as dnsp } from 'node:dns';

export type DnsErrorKind = 'nxdomain' | 'nodata' | 'temporary';

export class DnsError extends Error {
  constructor(
    readonly kind: DnsErrorKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DnsError';
  }
}

export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface Resolver {
  /** MX records (unsorted, as received). nodata when the domain exists without MX. */
  resolveMx(name: string): Promise<MxRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  /** TXT records, each joined from its strings. */
  resolveTxt(name: string): Promise<string[]>;
  /** PTR names for an IP address. */
  reverse(ip: string): Promise<string[]>;
  /** CNAME targets of a name (`yubin dns-records`); optional for test doubles. */
  resolveCname?(name: string): Promise<string[]>;
  /** SRV records of a name (RFC 2782; RFC 6186 client records, `yubin dns-records`); optional for test doubles. */
  resolveSrv?(name: string): Promise<SrvRecord[]>;
}

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** Target host; "." (or "") when the service is not offered (RFC 2782). */
  name: string;
}

function classify(err: unknown, what: string): DnsError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
  if (code === 'ENOTFOUND') return new DnsError('nxdomain', code, `${what}: no such domain`);
  if (code === 'ENODATA') return new DnsError('nodata', code, `${what}: no records of that type`);
  return new DnsError('temporary', code, `${what}: DNS lookup failed (${code})`);
}

export interface ResolverOptions {
  /** "ip:port" or "[ip6]:port" entries; empty = the system resolver's servers. */
  servers?: string[];
  /** Milliseconds per try. */
  timeoutMs?: number;
  tries?: number;
  /** The answer cache (on by default); false asks DNS every time. */
  cache?: false | Partial<CacheOptions>;
}

export interface CacheOptions {
  /** Most answers kept (oldest dropped first). */
  maxEntries: number;
  /** Longest any answer is kept, whatever its TTL (ms). */
  maxTtlMs: number;
  /**
   * How long an answer is kept when the resolver library does not report its TTL (MX, TXT, PTR,
   * CNAME, SRV: Node's c-ares API gives TTLs for A and AAAA only), ms; never above maxTtlMs.
   */
  unknownTtlMs: number;
  /** How long "no such domain" and "no records of that type" are kept (ms): the negative cap. */
  negativeTtlMs: number;
  /** The clock (tests move it). */
  now: () => number;
}

export const DEFAULT_CACHE: CacheOptions = {
  maxEntries: 10_000,
  maxTtlMs: 3_600_000,
  unknownTtlMs: 60_000,
  negativeTtlMs: 60_000,
  now: () => Date.now(),
};

/**
 * The answer cache every module's lookups share (one per resolver; the server has one). An answer
 * is kept for its TTL, at most maxTtlMs (RFC 1035 §3.2.1: TTL is how long it may be cached; RFC
 * 2181 §8: a TTL of 0 is not cached). Negative answers, NXDOMAIN and NODATA, are kept too (RFC 2308
 * §5), for at most negativeTtlMs: RFC 2308 §5 takes their lifetime from the SOA of the authority
 * section, which Node's resolver does not show us, so the cap is the lifetime (RFC 2308 §5 allows
 * a cap; 1-3 hours is the advice for the upper bound, we stay far below). Temporary failures
 * (SERVFAIL, timeouts) are never cached (RFC 2308 §7.1 allows at most 5 minutes; a retry is worth
 * more to mail). Identical lookups in flight at the same time share one query.
 */
export class DnsCache {
  private readonly entries = new Map<string, { until: number; value?: unknown; error?: DnsError }>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  hits = 0;
  misses = 0;
  readonly opts: CacheOptions;

  constructor(opts: Partial<CacheOptions> = {}) {
    this.opts = { ...DEFAULT_CACHE, ...opts };
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached answer of key, or a new lookup whose answer (with its TTL in seconds, if known) is kept. */
  lookup<T>(key: string, fn: () => Promise<{ value: T; ttl: number | null }>): Promise<T> {
    const now = this.opts.now();
    const hit = this.entries.get(key);
    if (hit) {
      if (hit.until > now) {
        this.hits++;
        if (hit.error) return Promise.reject(hit.error);
        return Promise.resolve(hit.value as T);
      }
      this.entries.delete(key);
    }
    const running = this.inflight.get(key);
    if (running) {
      this.hits++;
      return running as Promise<T>;
    }
    this.misses++;
    const p = fn().then(
      ({ value, ttl }) => {
        const ms = ttl === null ? this.opts.unknownTtlMs : ttl * 1000;
        this.put(key, Math.min(ms, this.opts.maxTtlMs), { value });
        return value;
      },
      (err: unknown) => {
        if (err instanceof DnsError && err.kind !== 'temporary') this.put(key, this.opts.negativeTtlMs, { error: err });
        throw err;
      },
    );
    this.inflight.set(key, p);
    const done = () => this.inflight.delete(key);
    p.then(done, done);
    return p;
  }

  /** Forgets every answer. */
  clear(): void {
    this.entries.clear();
  }

  private put(key: string, ms: number, e: { value?: unknown; error?: DnsError }): void {
    if (!(ms > 0)) return;
    this.entries.set(key, { until: this.opts.now() + ms, ...e });
    // bounded: the oldest answers go first (Map keeps insertion order)
    while (this.entries.size > this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}

function copy<T>(v: T): T {
  return (Array.isArray(v) ? v.map((x: unknown) => (x && typeof x === 'object' ? { ...x } : x)) : v) as T;
}

export function createResolver(opts: ResolverOptions = {}): Resolver & { cache: DnsCache | null } {
  const r = new dnsp.Resolver({ timeout: opts.timeoutMs ?? 5000, tries: opts.tries ?? 2 });
  if (opts.servers && opts.servers.length) r.setServers(opts.servers);
  const cache = opts.cache === false ? null : new DnsCache(opts.cache ?? {});
  const wrap =
    <T>(what: string, fn: (name: string) => Promise<{ value: T; ttl: number | null }>) =>
    (name: string): Promise<T> => {
      const ask = async () => {
        try {
          return await fn(name);
        } catch (err) {
          throw classify(err, `${what} ${name}`);
        }
      };
      if (!cache) return ask().then((a) => a.value);
      // RFC 4343 §3: names compare case-insensitively; a trailing dot names the same domain
      // every caller gets its own copy (a caller that sorts its answer does not change the cache's)
      return cache.lookup(`${what}\0${name.toLowerCase().replace(/\.$/, '')}`, ask).then(copy);
    };
  // A and AAAA come with their TTLs (the smallest of the set is the set's, RFC 2181 §5.2).
  const withTtl = (rs: Array<{ address: string; ttl: number }>) => ({ value: rs.map((x) => x.address), ttl: rs.length ? Math.min(...rs.map((x) => x.ttl)) : 0 });
  const plain = <T>(value: T) => ({ value, ttl: null });
  return {
    cache,
    resolveMx: wrap('MX', async (n) => plain(await r.resolveMx(n))),
    resolve4: wrap('A', async (n) => withTtl(await r.resolve4(n, { ttl: true }))),
    resolve6: wrap('AAAA', async (n) => withTtl(await r.resolve6(n, { ttl: true }))),
    resolveTxt: wrap('TXT', async (n) => plain((await r.resolveTxt(n)).map((parts) => parts.join('')))),
    reverse: wrap('PTR', async (n) => plain(await r.reverse(n))),
    resolveCname: wrap('CNAME', async (n) => plain(await r.resolveCname(n))),
    resolveSrv: wrap('SRV', async (n) => plain(await r.resolveSrv(n))),
  };
}
