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
}

export function createResolver(opts: ResolverOptions = {}): Resolver {
  const r = new dnsp.Resolver({ timeout: opts.timeoutMs ?? 5000, tries: opts.tries ?? 2 });
  if (opts.servers && opts.servers.length) r.setServers(opts.servers);
  const wrap =
    <T>(what: string, fn: (name: string) => Promise<T>) =>
    async (name: string): Promise<T> => {
      try {
        return await fn(name);
      } catch (err) {
        throw classify(err, `${what} ${name}`);
      }
    };
  return {
    resolveMx: wrap('MX', (n) => r.resolveMx(n)),
    resolve4: wrap('A', (n) => r.resolve4(n)),
    resolve6: wrap('AAAA', (n) => r.resolve6(n)),
    resolveTxt: wrap('TXT', async (n) => (await r.resolveTxt(n)).map((parts) => parts.join(''))),
    reverse: wrap('PTR', (n) => r.reverse(n)),
    resolveCname: wrap('CNAME', (n) => r.resolveCname(n)),
    resolveSrv: wrap('SRV', (n) => r.resolveSrv(n)),
  };
}
