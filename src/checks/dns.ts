// Adapts our Resolver (src/dns/resolver.ts, the configured [dns] servers) to the resolver
// function mailauth takes: `resolver(name, rrtype)` behaving like dns.promises.resolve, with
// Node's error codes. mailauth reads ENOTFOUND/ENODATA as "no record" (SPF void lookups,
// DKIM "no key", DMARC "none") and anything else as a temporary error.
import { isIP } from 'node:net';
import type { DNSResolver } from 'mailauth';
import { DnsError, type Resolver } from '../dns/resolver.js';

/**
 * An Error with a Node DNS error code, the shape mailauth switches on. Without a stack trace:
 * every cached "no record" answer (SPF void lookups, DMARC and DKIM "none") makes one, and
 * capturing the stack was most of its cost (0.7 % of the main thread in the SMTP ingest profile).
 */
function dnsError(code: string, message: string): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return Object.assign(new Error(message), { code });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function mapError(err: unknown, name: string, rrtype: string): Error {
  if (err instanceof DnsError) {
    if (err.kind === 'nxdomain') return dnsError('ENOTFOUND', `${rrtype} ${name}: no such domain`);
    if (err.kind === 'nodata') return dnsError('ENODATA', `${rrtype} ${name}: no records of that type`);
    // RFC 7208 §2.6.6: a transient DNS error is temperror. mailauth knows ETIMEOUT and EREFUSED;
    // SERVFAIL and the rest are passed on with their code and also end as temperror.
    return dnsError(err.code === 'ECONNREFUSED' ? 'EREFUSED' : err.code, err.message);
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return dnsError(code ?? 'ETIMEOUT', err instanceof Error ? err.message : String(err));
}

/** "4.3.2.1.in-addr.arpa" → "1.2.3.4"; nibble ip6.arpa names → the IPv6 address; else null. */
export function ptrNameToIp(name: string): string | null {
  const n = name.toLowerCase().replace(/\.$/, '');
  let m = /^((?:\d{1,3}\.){3}\d{1,3})\.in-addr\.arpa$/.exec(n);
  if (m) {
    const ip = m[1]!.split('.').reverse().join('.');
    return isIP(ip) === 4 ? ip : null;
  }
  m = /^((?:[0-9a-f]\.){32})ip6\.arpa$/.exec(n);
  if (m) {
    const nibbles = m[1]!.replace(/\./g, '').split('').reverse().join('');
    const ip = nibbles.match(/.{4}/g)!.join(':');
    return isIP(ip) === 6 ? ip : null;
  }
  return null;
}

/** The mailauth resolver over ours. Record types we cannot ask for are ENODATA (no records). */
export function mailauthResolver(resolver: Resolver): DNSResolver {
  return async (name, rrtype) => {
    const type = rrtype.toUpperCase();
    try {
      switch (type) {
        case 'TXT':
          // mailauth joins the strings of each record itself; ours are joined already.
          return (await resolver.resolveTxt(name)).map((t) => [t]);
        case 'A':
          return await resolver.resolve4(name);
        case 'AAAA':
          return await resolver.resolve6(name);
        case 'MX':
          // mailauth reads MX answers as { exchange, priority } objects, like dns.promises.resolve
          return (await resolver.resolveMx(name)) as unknown as string[];
        case 'PTR': {
          const ip = ptrNameToIp(name);
          if (!ip) throw dnsError('ENOTFOUND', `PTR ${name}: not a reverse name`);
          return await resolver.reverse(ip);
        }
        default:
          throw dnsError('ENODATA', `${type} ${name}: record type not supported`);
      }
    } catch (err) {
      if ((err as { code?: string }).code && !(err instanceof DnsError)) throw err;
      throw mapError(err, name, type);
    }
  };
}

/** Rejects with a timeout error after ms; the timer never keeps the process alive. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}
