// The DNS records a local domain needs (`yubin dns-records DOMAIN`), in zone-file form, each
// compared with what the configured DNS serves: ok, missing, or wrong (with what was found).
import type { Config } from '../config/schema.js';
import { DnsError, type Resolver, type SrvRecord } from '../dns/resolver.js';
import { parseListenAddress } from '../config/schema.js';
import { dkimRecord, type DkimKeyInfo } from './dkim-keys.js';
import { reversedIp } from './ip.js';
import { mtaStsPolicy, mtaStsRecord } from '../http/mta-sts.js';

function reverseName(ip: string): string {
  return `${reversedIp(ip)}.${ip.includes(':') ? 'ip6' : 'in-addr'}.arpa.`;
}

export type RecordStatus = 'ok' | 'missing' | 'wrong' | 'unknown';

export interface DnsRecordCheck {
  /** What it is for, e.g. "DKIM (rsa-sha256, selector y20261128r)". */
  purpose: string;
  name: string;
  type: 'MX' | 'TXT' | 'CNAME' | 'SRV' | 'A' | 'AAAA' | 'PTR';
  /** The value to publish, in zone-file syntax. */
  value: string;
  status: RecordStatus;
  /** What DNS has, when that is not what is expected; or why it could not be checked. */
  found?: string;
  /** An extra line of advice (e.g. the MTA-STS policy file to serve). */
  note?: string;
}

const fqdn = (n: string): string => (n.endsWith('.') ? n : `${n}.`);
const bare = (n: string): string => n.toLowerCase().replace(/\.$/, '');

/** RFC 1035 §3.3.14: a TXT record is one or more strings of at most 255 octets, quoted in zone files. */
export function txtValue(text: string): string {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += 255) parts.push(text.slice(i, i + 255));
  return parts.map((p) => `"${p.replace(/["\\]/g, '\\$&')}"`).join(' ');
}

type Lookup<T> = { ok: true; value: T } | { ok: false; absent: boolean; error: string };

async function lookup<T>(fn: (() => Promise<T>) | undefined): Promise<Lookup<T>> {
  if (!fn) return { ok: false, absent: false, error: 'this resolver cannot ask for it' };
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (err instanceof DnsError && (err.kind === 'nxdomain' || err.kind === 'nodata')) return { ok: false, absent: true, error: err.message };
    return { ok: false, absent: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function firstPort(list: readonly string[]): number | null {
  for (const a of list) {
    const p = parseListenAddress(a);
    if (p && p.port) return p.port;
  }
  return null;
}

/** Compares TXT records that start with a tag (v=spf1, v=DMARC1, ...): exactly one must exist. */
function tagged(txt: Lookup<string[]>, tag: RegExp): { status: RecordStatus; found?: string; records: string[] } {
  if (!txt.ok) return txt.absent ? { status: 'missing', records: [] } : { status: 'unknown', found: txt.error, records: [] };
  const recs = txt.value.filter((t) => tag.test(t.trim()));
  if (!recs.length) return { status: 'missing', records: [] };
  if (recs.length > 1) return { status: 'wrong', found: `${recs.length} records: ${recs.map((r) => JSON.stringify(r)).join(', ')}`, records: recs };
  return { status: 'ok', records: recs };
}

export interface DnsRecordsInput {
  config: Config;
  domain: string;
  keys: DkimKeyInfo[];
  resolver: Resolver;
  now?: Date;
}

/** The resolver with each answer asked once; errors are kept too, so a rejection is never unhandled. */
function memoResolver(r: Resolver): Resolver {
  const memo = new Map<string, Promise<unknown>>();
  const m =
    <T>(type: string, fn: (name: string) => Promise<T>) =>
    (name: string): Promise<T> => {
      const key = `${type} ${name.toLowerCase()}`;
      let p = memo.get(key) as Promise<T> | undefined;
      if (!p) {
        p = fn(name);
        p.catch(() => undefined);
        memo.set(key, p);
      }
      return p;
    };
  return {
    resolveMx: m('MX', (n) => r.resolveMx(n)),
    resolve4: m('A', (n) => r.resolve4(n)),
    resolve6: m('AAAA', (n) => r.resolve6(n)),
    resolveTxt: m('TXT', (n) => r.resolveTxt(n)),
    reverse: m('PTR', (n) => r.reverse(n)),
    resolveCname: r.resolveCname ? m('CNAME', (n) => r.resolveCname!(n)) : undefined,
    resolveSrv: r.resolveSrv ? m('SRV', (n) => r.resolveSrv!(n)) : undefined,
  };
}

const SRV_LABELS = ['_submissions._tcp', '_submission._tcp', '_imaps._tcp', '_imap._tcp', '_pop3s._tcp', '_pop3._tcp'] as const;

export async function dnsRecords(input: DnsRecordsInput): Promise<DnsRecordCheck[]> {
  const { config } = input;
  const domain = bare(input.domain);
  const host = bare(config.hostname);
  const out: DnsRecordCheck[] = [];
  // Every query is sent at once (a dead DNS server costs one timeout, not one per record).
  const resolver = memoResolver(input.resolver);
  void resolver.resolveMx(domain);
  for (const n of [domain, host, `_dmarc.${domain}`, `_mta-sts.${domain}`, `_smtp._tls.${domain}`, ...input.keys.map((k) => `${k.selector}._domainkey.${domain}`)]) void resolver.resolveTxt(n);
  for (const n of ['mta-sts', 'autoconfig', 'autodiscover']) void resolver.resolveCname?.(`${n}.${domain}`);
  for (const l of SRV_LABELS) void resolver.resolveSrv?.(`${l}.${domain}`);
  void resolver.resolve4(host);
  void resolver.resolve6(host);

  // The server's own name: its addresses, and reverse DNS naming it back, which large receivers
  // require of sending servers.
  // RFC 8601 §3: the iprev check, a PTR name whose addresses include the client's
  const v4 = await lookup(() => resolver.resolve4(host));
  const v6 = await lookup(() => resolver.resolve6(host));
  const addrs = [...(v4.ok ? v4.value : []), ...(v6.ok ? v6.value : [])];
  if (!addrs.length) {
    const err = [v4, v6].find((x): x is Extract<typeof x, { ok: false }> => !x.ok && !x.absent);
    out.push({ purpose: `address of the mail server ${host} (fill in its public IPv4 address)`, name: fqdn(host), type: 'A', value: '<public IPv4 address>', status: err ? 'unknown' : 'missing', found: err?.error });
  }
  for (const ip of addrs) {
    out.push({ purpose: `address of the mail server ${host}`, name: fqdn(host), type: ip.includes(':') ? 'AAAA' : 'A', value: ip, status: 'ok' });
    const ptr = await lookup(() => resolver.reverse(ip));
    const rev = reverseName(ip);
    const base = { purpose: `reverse DNS of ${ip} (set by whoever owns the address)`, name: rev, type: 'PTR' as const, value: fqdn(host) };
    if (!ptr.ok) out.push({ ...base, status: ptr.absent ? 'missing' : 'unknown', found: ptr.absent ? undefined : ptr.error });
    else out.push(ptr.value.map(bare).includes(host) ? { ...base, status: 'ok' } : { ...base, status: 'wrong', found: ptr.value.join(', ') });
  }

  // MX (RFC 5321 §5.1): mail for the domain goes to this server.
  const mx = await lookup(() => resolver.resolveMx(domain));
  const mxHosts = mx.ok ? mx.value.map((m) => bare(m.exchange)) : [];
  out.push({
    purpose: 'MX: mail for the domain comes to this server',
    name: fqdn(domain),
    type: 'MX',
    value: `10 ${fqdn(host)}`,
    ...(mx.ok ? (mxHosts.includes(host) ? { status: 'ok' as const } : { status: 'wrong' as const, found: mx.value.map((m) => `${m.priority} ${m.exchange}`).join(', ') }) : mx.absent ? { status: 'missing' as const } : { status: 'unknown' as const, found: mx.error }),
  });

  // SPF (RFC 7208 §3): exactly one v=spf1 record; "mx" authorizes the MX host (this server).
  const spfWant = 'v=spf1 mx -all';
  const spf = tagged(await lookup(() => resolver.resolveTxt(domain)), /^v=spf1(\s|$)/i);
  out.push({ purpose: 'SPF: this server may send for the domain', name: fqdn(domain), type: 'TXT', value: txtValue(spfWant), status: spf.status, found: spf.found ?? (spf.records[0] && spf.records[0] !== spfWant ? `published: ${spf.records[0]}` : undefined) });
  // RFC 7208 §2.3: the HELO name has its own SPF record.
  const heloWant = 'v=spf1 a -all';
  const helo = tagged(await lookup(() => resolver.resolveTxt(host)), /^v=spf1(\s|$)/i);
  out.push({ purpose: `SPF for the HELO name ${host}`, name: fqdn(host), type: 'TXT', value: txtValue(heloWant), status: helo.status, found: helo.found ?? (helo.records[0] && helo.records[0] !== heloWant ? `published: ${helo.records[0]}` : undefined) });

  // DKIM (RFC 6376 §3.6.2.1): <selector>._domainkey.<domain> TXT, one per selector.
  for (const key of input.keys) {
    const name = `${key.selector}._domainkey.${domain}`;
    const want = dkimRecord(key);
    const wantP = /p=([A-Za-z0-9+/=]+)/.exec(want)![1];
    const txt = await lookup(() => resolver.resolveTxt(name));
    let status: RecordStatus;
    let found: string | undefined;
    if (!txt.ok) {
      status = txt.absent ? 'missing' : 'unknown';
      found = txt.absent ? undefined : txt.error;
    } else {
      const got = txt.value.find((t) => /(^|;)\s*p=/.test(t));
      const gotP = got ? (/(?:^|;)\s*p=([^;]*)/.exec(got)?.[1] ?? '').replace(/\s+/g, '') : '';
      status = gotP === wantP ? 'ok' : 'wrong';
      if (status === 'wrong') found = got ? 'a different public key' : txt.value.join(' ');
    }
    out.push({ purpose: `DKIM (${key.algorithm}, selector ${key.selector}, created ${key.created.toISOString().slice(0, 10)})`, name: fqdn(name), type: 'TXT', value: txtValue(want), status, found });
  }

  // DMARC (RFC 7489 §6.1): _dmarc.<domain>, one v=DMARC1 record.
  const dmarcWant = `v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@${domain}`;
  const dm = tagged(await lookup(() => resolver.resolveTxt(`_dmarc.${domain}`)), /^v=DMARC1\s*(;|$)/i);
  let dmStatus = dm.status;
  let dmFound = dm.found;
  if (dm.status === 'ok') {
    // RFC 7489 §6.3: p is required and is none, quarantine or reject.
    const p = /(?:^|;)\s*p\s*=\s*([a-z]+)/i.exec(dm.records[0]!)?.[1]?.toLowerCase();
    if (!p || !['none', 'quarantine', 'reject'].includes(p)) {
      dmStatus = 'wrong';
      dmFound = `no valid p= tag: ${dm.records[0]}`;
    } else if (dm.records[0] !== dmarcWant) dmFound = `published: ${dm.records[0]}`;
  }
  out.push({ purpose: 'DMARC: policy for mail that fails SPF and DKIM alignment', name: fqdn(`_dmarc.${domain}`), type: 'TXT', value: txtValue(dmarcWant), status: dmStatus, found: dmFound });

  // MTA-STS (RFC 8461 §3.1): _mta-sts TXT whose id changes with the policy ([mta_sts]), which the
  // https listener serves at https://mta-sts.<domain>/.well-known/mta-sts.txt.
  const stsWant = mtaStsRecord(config);
  const sts = tagged(await lookup(() => resolver.resolveTxt(`_mta-sts.${domain}`)), /^v=STSv1\s*(;|$)/i);
  const stsId = (r: string) => /(?:^|;)\s*id\s*=\s*([A-Za-z0-9]+)/.exec(r)?.[1];
  const stsOld = sts.status === 'ok' && stsId(sts.records[0]!) !== stsId(stsWant);
  out.push({
    purpose: 'MTA-STS: senders must use TLS to this server',
    name: fqdn(`_mta-sts.${domain}`),
    type: 'TXT',
    value: txtValue(stsWant),
    // A stale id means senders keep the policy they cached: the record must change with the policy.
    status: stsOld ? 'wrong' : sts.status,
    found: sts.found ?? (stsOld ? `an id for another policy: ${sts.records[0]}` : undefined),
    note: `policy served by the https listener at https://mta-sts.${domain}/.well-known/mta-sts.txt: ${mtaStsPolicy(config).trimEnd().split('\r\n').join(' / ')}`,
  });
  const stsHost = await lookup(resolver.resolveCname ? () => resolver.resolveCname!(`mta-sts.${domain}`) : undefined);
  out.push(cnameCheck('MTA-STS policy host (HTTPS with a certificate for this name)', `mta-sts.${domain}`, host, stsHost));

  // TLS-RPT (RFC 8460 §3): _smtp._tls TXT.
  const rptWant = `v=TLSRPTv1; rua=mailto:postmaster@${domain}`;
  const rpt = tagged(await lookup(() => resolver.resolveTxt(`_smtp._tls.${domain}`)), /^v=TLSRPTv1\s*(;|$)/i);
  out.push({ purpose: 'TLS-RPT: where senders report TLS failures', name: fqdn(`_smtp._tls.${domain}`), type: 'TXT', value: txtValue(rptWant), status: rpt.status, found: rpt.found ?? (rpt.records[0] && rpt.records[0] !== rptWant ? `published: ${rpt.records[0]}` : undefined) });

  // Mail client autoconfiguration (Thunderbird autoconfig, Outlook autodiscover).
  for (const sub of ['autoconfig', 'autodiscover']) {
    const r = await lookup(resolver.resolveCname ? () => resolver.resolveCname!(`${sub}.${domain}`) : undefined);
    out.push(cnameCheck(`${sub} for mail clients`, `${sub}.${domain}`, host, r));
  }

  // RFC 6186 §3, RFC 8314 §5.1: SRV records for clients; port 0 target "." = not offered.
  const ports = [config.listen.submissions, config.listen.submission, config.listen.imaps, config.listen.imap, config.listen.pop3s, config.listen.pop3];
  const srvs = SRV_LABELS.map((l, i) => [l, firstPort(ports[i]!)] as const);
  for (const [label, port] of srvs) {
    const name = `${label}.${domain}`;
    const want: SrvRecord = port ? { priority: 0, weight: 1, port, name: host } : { priority: 0, weight: 0, port: 0, name: '.' };
    const r = await lookup(resolver.resolveSrv ? () => resolver.resolveSrv!(name) : undefined);
    let status: RecordStatus;
    let found: string | undefined;
    if (!r.ok) {
      status = r.absent ? 'missing' : 'unknown';
      found = r.absent ? undefined : r.error;
    } else {
      const match = r.value.some((s) => s.port === want.port && (bare(s.name) === bare(want.name) || (want.port === 0 && (s.name === '' || s.name === '.'))));
      status = match ? 'ok' : 'wrong';
      if (!match) found = r.value.map((s) => `${s.priority} ${s.weight} ${s.port} ${s.name || '.'}`).join(', ');
    }
    out.push({ purpose: `RFC 6186 ${label.split('.')[0]!.slice(1)}`, name: fqdn(name), type: 'SRV', value: `${want.priority} ${want.weight} ${want.port} ${want.name === '.' ? '.' : fqdn(want.name)}`, status, found });
  }
  return out;
}

function cnameCheck(purpose: string, name: string, host: string, r: Lookup<string[]>): DnsRecordCheck {
  const base = { purpose, name: fqdn(name), type: 'CNAME' as const, value: fqdn(host) };
  if (!r.ok) return { ...base, status: r.absent ? 'missing' : 'unknown', found: r.absent ? undefined : r.error };
  return r.value.map(bare).includes(host) ? { ...base, status: 'ok' } : { ...base, status: 'wrong', found: r.value.join(', ') };
}

/** Zone-file text: each record with its status as a comment, problems first in the summary. */
export function formatDnsRecords(domain: string, host: string, checks: DnsRecordCheck[]): string {
  const lines: string[] = [`; DNS records for ${domain} (mail server ${host})`, `; status: ok = published as shown, MISSING = not in DNS, WRONG = DNS has something else`, ''];
  const width = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    lines.push(`; ${c.purpose}`);
    const st = c.status === 'ok' ? 'ok' : c.status.toUpperCase();
    lines.push(`${c.name.padEnd(width)}  3600  IN  ${c.type.padEnd(5)}  ${c.value}  ; ${st}${c.found ? `: ${c.found}` : ''}`);
    if (c.note) lines.push(`; ${c.note}`);
    lines.push('');
  }
  const bad = checks.filter((c) => c.status === 'missing' || c.status === 'wrong').length;
  const unknown = checks.filter((c) => c.status === 'unknown').length;
  if (!bad && !unknown) lines.push(`; all ${checks.length} records are published`);
  else {
    if (bad) lines.push(`; ${bad} of ${checks.length} records missing or wrong`);
    if (unknown) lines.push(`; ${unknown} of ${checks.length} records could not be checked (DNS did not answer)`);
  }
  return lines.join('\n') + '\n';
}
