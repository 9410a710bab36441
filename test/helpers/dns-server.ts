// A DNS server on loopback for tests (dns2): UDP and TCP on the same port, records set by the test.
//
//   const dns = await startDnsServer();
//   dns.setRecords('b.test', 'MX', ['10 mx.b.test']);
//   dns.setRecords('mx.b.test', 'A', ['127.0.0.3']);
//   dns.setRecords('b.test', 'TXT', ['v=spf1 ip4:127.0.0.3 -all']);
//   dns.setRecords('nullmx.test', 'MX', ['0 .']);       // null MX (RFC 7505)
//   dns.fail('broken.test', 'servfail');                // or 'timeout' (no answer at all) or 'nxdomain'
//   const resolver = createResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
//   ...
//   await dns.close();
//
// A name with no records of any type answers NXDOMAIN; a name that has records, but not of the
// type asked, answers NOERROR with no answers (NODATA).
import dns2 from 'dns2';
import { createResolver, type Resolver } from '../../src/dns/resolver.js';

const { Packet } = dns2;
// RFC 1035 §4.1.1: response codes
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;

export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR' | 'CNAME';
export type Failure = 'nxdomain' | 'servfail' | 'timeout';

export interface TestDnsServer {
  /** "127.0.0.1:PORT": what `[dns] servers` and createResolver({ servers }) take. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /**
   * Replaces the records of one name and type. Values: A/AAAA addresses; MX "PREF EXCHANGE"
   * ("0 ." is a null MX); TXT the whole text (split into 255-octet strings as needed);
   * PTR/CNAME a domain name. An empty list removes them.
   */
  setRecords(name: string, type: RecordType, values: string[]): void;
  /** Makes every query for the name fail this way (until clear(name)). */
  fail(name: string, how: Failure): void;
  /** Forgets one name (records and failure), or everything. */
  clear(name?: string): void;
  /** Number of queries answered or dropped so far (tests may check caching). */
  readonly queries: number;
  close(): Promise<void>;
}

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

type DnsResource = InstanceType<typeof Packet.Resource>;

function resourceFor(name: string, type: RecordType, value: string): Record<string, unknown> {
  const base = { name, type: Packet.TYPE[type], class: Packet.CLASS.IN, ttl: 60 };
  switch (type) {
    case 'A':
    case 'AAAA':
      return { ...base, address: value };
    case 'MX': {
      const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(value);
      if (!m) throw new Error(`MX value must be "PREF EXCHANGE": ${value}`);
      const exchange = m[2] === '.' ? '' : m[2]!.replace(/\.$/, '');
      return { ...base, priority: Number(m[1]), exchange };
    }
    case 'TXT': {
      const buf = Buffer.from(value, 'utf8');
      const parts: Buffer[] = [];
      for (let i = 0; i < buf.length; i += 255) parts.push(buf.subarray(i, i + 255));
      if (!parts.length) parts.push(Buffer.alloc(0));
      return { ...base, data: parts };
    }
    case 'PTR':
    case 'CNAME':
      return { ...base, domain: value.replace(/\.$/, '') };
  }
}

/**
 * A resolver for a test's own loopback DNS server: 5 s and a second try, so that a machine busy
 * with the rest of the suite (the answer comes from the test's own event loop) does not turn a
 * slow answer into a failed lookup, a deferral and, with the long retry times tests use, a wait
 * that times out. A test of DNS failures makes its resolver itself.
 */
export function loopbackResolver(address: string): Resolver {
  return createResolver({ servers: [address], timeoutMs: 5000, tries: 2 });
}

export async function startDnsServer(opts: { host?: string; attempt?: number } = {}): Promise<TestDnsServer> {
  const host = opts.host ?? '127.0.0.1';
  const records = new Map<string, Map<RecordType, string[]>>();
  const failures = new Map<string, Failure>();
  let queries = 0;

  const handle = (request: InstanceType<typeof Packet>, send: (r: InstanceType<typeof Packet>) => unknown): void => {
    queries++;
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    const q = request.questions[0];
    if (!q) {
      send(response);
      return;
    }
    const name = norm(q.name);
    const failure = failures.get(name);
    if (failure === 'timeout') return; // no answer at all
    if (failure === 'servfail') {
      response.header.rcode = RCODE_SERVFAIL;
      send(response);
      return;
    }
    const byType = records.get(name);
    if (failure === 'nxdomain' || !byType || [...byType.values()].every((v) => v.length === 0)) {
      response.header.rcode = RCODE_NXDOMAIN;
      send(response);
      return;
    }
    const typeName = (Object.keys(Packet.TYPE) as string[]).find((k) => Packet.TYPE[k as keyof typeof Packet.TYPE] === q.type) as RecordType | undefined;
    const values = typeName ? byType.get(typeName) ?? [] : [];
    for (const v of values) response.answers.push(resourceFor(q.name, typeName!, v) as unknown as DnsResource);
    send(response);
  };

  const server = dns2.createServer({ udp: true, tcp: true, handle } as never);
  server.on('requestError', () => undefined);
  server.on('error', () => undefined);
  // UDP and TCP on the same port (resolvers retry truncated answers over TCP on the same port).
  const { udp, tcp } = (server as unknown as { servers: { udp: import('node:dgram').Socket; tcp: import('node:net').Server } }).servers;
  const sockets = new Set<import('node:net').Socket>();
  tcp.on('connection', (s: import('node:net').Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(0, host, () => {
      udp.off('error', reject);
      resolve();
    });
  });
  const port = udp.address().port;
  const tcpOk = await new Promise<boolean>((resolve) => {
    const onErr = (): void => resolve(false);
    tcp.once('error', onErr);
    tcp.listen(port, host, () => {
      tcp.off('error', onErr);
      resolve(true);
    });
  });
  if (!tcpOk) {
    // the UDP port is taken for TCP by someone else: try another one
    await new Promise<void>((r) => udp.close(() => r()));
    if ((opts.attempt ?? 0) > 20) throw new Error('test DNS server: no port free for both UDP and TCP');
    return startDnsServer({ ...opts, attempt: (opts.attempt ?? 0) + 1 });
  }

  return {
    address: `${host}:${port}`,
    host,
    port,
    get queries() {
      return queries;
    },
    setRecords(name, type, values) {
      const n = norm(name);
      let byType = records.get(n);
      if (!byType) records.set(n, (byType = new Map()));
      for (const v of values) resourceFor(n, type, v); // validate now, not at query time
      byType.set(type, [...values]);
    },
    fail(name, how) {
      failures.set(norm(name), how);
    },
    clear(name) {
      if (name === undefined) {
        records.clear();
        failures.clear();
      } else {
        records.delete(norm(name));
        failures.delete(norm(name));
      }
    },
    async close() {
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => {
          tcp.close(() => r());
          // idle TCP clients would keep close() waiting
          for (const s of sockets) s.destroy();
        }),
      ]);
    },
  };
}
