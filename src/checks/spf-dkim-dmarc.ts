// Sender authentication of an inbound message with mailauth, every DNS query through our
// resolver: SPF (RFC 7208) for MAIL FROM and HELO, DKIM (RFC 6376, RSA and Ed25519), ARC
// (RFC 8617) and DMARC (RFC 7489), reported in one Authentication-Results field (RFC 8601).
import { createReadStream } from 'node:fs';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { spf, dkimVerify, dmarc, arc, type DNSResolver, type DKIMResult, type DKIMVerifyResult, type ARCData } from 'mailauth';
import type { WorkerPool } from '../workers/pool.js';
import { answering, preloadAnswers, type DnsAnswers } from './dns-preload.js';
import { MAIN_THREAD_HEADER_MAX, MAIN_THREAD_MESSAGE_MAX } from './main-thread.js';

export type SpfResultCode = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror';

export interface SpfOutcome {
  result: SpfResultCode;
  /** The domain checked (the MAIL FROM domain, or the HELO name). */
  domain: string;
  comment?: string;
}

export interface DkimOutcome {
  result: string;
  domain: string;
  selector: string;
  algorithm: string;
  /** Aligned with the From domain (relaxed). */
  aligned: boolean;
  comment?: string;
  /** The result as an RFC 8601 resinfo, e.g. "dkim=pass header.i=@a.test header.s=sel ...". */
  info: string;
}

export interface DmarcOutcome {
  result: 'pass' | 'fail' | 'none' | 'temperror' | 'permerror' | 'neutral';
  /** The policy that applies to the From domain (p, or sp for a subdomain with an org record). */
  policy: 'none' | 'quarantine' | 'reject' | null;
  /** RFC 7489 §6.3: pct, 0-100 (default 100). */
  pct: number;
  domain: string;
  info: string;
}

export interface AuthOutcome {
  spf: SpfOutcome;
  spfHelo: SpfOutcome | null;
  dkim: DkimOutcome[];
  arc: { result: string; info: string } | null;
  dmarc: DmarcOutcome | null;
  /** The From header address(es). */
  headerFrom: string[];
  /** Lower-case names of the header fields, in order (for the spam rules). */
  headerNames: string[];
}

export interface SpfParams {
  ip: string;
  helo: string;
  /** Envelope sender, "" for <>. */
  mailFrom: string;
  hostname: string;
  resolver: DNSResolver;
}

function unmapped(ip: string): string {
  return ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
}

/** HELO as mailauth wants it: an address literal for an IP. */
function heloArg(helo: string): string {
  return isIP(helo) ? `[${helo}]` : helo;
}

function toSpfOutcome(r: { status: { result: string; comment?: string | boolean }; domain: string }): SpfOutcome {
  const known: SpfResultCode[] = ['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'];
  const result = (known as string[]).includes(r.status.result) ? (r.status.result as SpfResultCode) : 'temperror';
  return { result, domain: r.domain, comment: typeof r.status.comment === 'string' ? r.status.comment : undefined };
}

/**
 * RFC 7208 §2.4: the MAIL FROM identity; with a null reverse-path, "postmaster@" the HELO name.
 */
export async function checkSpfMailFrom(p: SpfParams): Promise<SpfOutcome> {
  const sender = p.mailFrom || `postmaster@${p.helo}`;
  const r = await spf({ sender, ip: unmapped(p.ip), helo: heloArg(p.helo), mta: p.hostname, resolver: p.resolver });
  return toSpfOutcome(r);
}

/**
 * RFC 7208 §2.3: the HELO identity, checked as "postmaster@" the HELO name. An address literal or
 * a name that is not a domain has no SPF record: none.
 */
export async function checkSpfHelo(p: SpfParams): Promise<SpfOutcome> {
  const helo = p.helo.replace(/^\[|\]$/g, '');
  if (!helo || isIP(helo) || !helo.includes('.')) return { result: 'none', domain: helo, comment: 'HELO is not a domain name' };
  const r = await spf({ sender: `postmaster@${helo}`, ip: unmapped(p.ip), helo, mta: p.hostname, resolver: p.resolver });
  return toSpfOutcome(r);
}

export interface AuthParams extends SpfParams {
  /** The message as a file, or null with the whole message in messageBytes. */
  messagePath: string | null;
  messageBytes?: Uint8Array | null;
  /** RSA keys below this many bits fail (mailauth reports policy weak-key). */
  minRsaBits: number;
  arc: boolean;
  /** SPF results already computed at MAIL FROM / HELO (not asked again). */
  spf?: SpfOutcome;
  spfHelo?: SpfOutcome | null;
  checkHelo: boolean;
  now?: Date;
  /**
   * The worker pool (src/workers): DKIM, ARC and DMARC run there, their DNS queries proxied back
   * to `resolver` on this thread. Without it they run on this thread (CLI, unit tests).
   */
  workers?: WorkerPool;
  /** With workers: the job is stopped (its worker terminated) after this long. */
  timeoutMs?: number;
}

/** What verifyMessage needs: plain data, so that it can be sent to a worker. */
export interface VerifyInput {
  /** The message as a file to stream from, or null with the whole message in messageBytes (sent to the worker as it is). */
  messagePath: string | null;
  messageBytes?: Uint8Array | null;
  mailFrom: string;
  minRsaBits: number;
  arc: boolean;
  /** The MAIL FROM SPF result (DMARC's SPF identifier). */
  spf: SpfOutcome;
  now?: Date;
  /** Answers the main thread already has for the job's first DNS questions (dns-preload.ts). */
  dns?: DnsAnswers;
}

export type VerifyOutcome = Omit<AuthOutcome, 'spf' | 'spfHelo'>;

const DMARC_POLICIES = new Set(['none', 'quarantine', 'reject']);

/** Runs every check on the stored message; streams it from messagePath. */
export async function authenticateMessage(p: AuthParams): Promise<AuthOutcome> {
  const spfPromise = p.spf ? Promise.resolve(p.spf) : checkSpfMailFrom(p);
  const heloPromise = p.spfHelo !== undefined ? Promise.resolve(p.spfHelo) : p.checkHelo ? checkSpfHelo(p) : Promise.resolve(null);
  // A small message without signatures has no cryptography to check: mailauth only reads its
  // header (From for DMARC) and the DMARC record, less work than handing it to a worker and back.
  const small = p.messageBytes ? smallUnsignedHeader(p.messageBytes) : null;
  const here = !p.workers || small !== null;
  // In a worker every DNS question is a round trip back to this thread: the ones the header
  // foretells (DMARC, DKIM keys) are asked here while SPF runs and go with the job.
  const preload = !here && p.messageBytes ? preloadAnswers(p.messageBytes, p.resolver) : Promise.resolve(undefined);
  const [spfOut, heloOut, dns] = await Promise.all([spfPromise, heloPromise, preload]);
  // With no signature the body changes no result (no body hash to compare): mailauth reads the
  // header alone (From, the field names), half its time for a 4 KB message.
  const messageBytes = small ? p.messageBytes!.subarray(0, small.end) : (p.messageBytes ?? null);
  const input: VerifyInput = { messagePath: p.messagePath, messageBytes, mailFrom: p.mailFrom, minRsaBits: p.minRsaBits, arc: p.arc, spf: spfOut, now: p.now, dns };
  // mailauth's header parser is quadratic in the number of header lines (issue 10): on the main
  // thread one message could hold every connection; in a worker it is stopped at its time limit.
  // Only a header of at most SMALL_HEADER_LINES lines is read here.
  const v = here ? await verifyMessage(input, p.resolver, small ? dkimResultOf(small.headers) : undefined) : await p.workers!.run('authenticate', input, { resolver: p.resolver, timeoutMs: p.timeoutMs });
  return { spf: spfOut, spfHelo: heloOut, ...v };
}

/**
 * Header lines (each field's lines counted) up to which an unsigned message is checked on this
 * thread: mailauth's header parse is quadratic in them (the lean signer's bound, MAIN_THREAD_HEADER_MAX,
 * is in bytes only: it is linear).
 */
export const SMALL_HEADER_LINES = 64;

/**
 * For a message of at most MAIN_THREAD_MESSAGE_MAX whose header ends within
 * MAIN_THREAD_HEADER_MAX and SMALL_HEADER_LINES lines (main-thread.ts) and has no DKIM-Signature
 * and no ARC field (RFC 6376 §3.5, RFC 8617 §4.1): the length of its header with the blank line
 * that ends it (no signature to verify, and mailauth's header parse is bounded) and mailauth's
 * parse of that header; null for any other message. A field is a signature when mailauth would
 * take it for one (its own parse: any line not starting with white space opens a field, named
 * by what precedes its first colon, trimmed), so that the two never disagree.
 */
function smallUnsignedHeader(bytes: Uint8Array): { end: number; headers: ParsedHeaders } | null {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length > MAIN_THREAD_MESSAGE_MAX) return null;
  const limit = Math.min(b.length, MAIN_THREAD_HEADER_MAX);
  let lines = 0;
  let start = 0;
  while (start < limit) {
    const end = b.indexOf(10, start);
    if (end < 0 || end >= limit) return null; // the header goes on past the limit
    if (end === start || (end === start + 1 && b[start] === 13)) {
      // the blank line: end of the header
      const headers = parseHeaders(b.subarray(0, end + 1));
      return signatureField(headers) ? null : { end: end + 1, headers };
    }
    if (++lines > SMALL_HEADER_LINES) return null;
    start = end + 1;
  }
  return null;
}

/** smallUnsignedHeader's length of the header with its blank line, or -1. */
export function smallUnsignedHeaderEnd(bytes: Uint8Array): number {
  return smallUnsignedHeader(bytes)?.end ?? -1;
}

/** The message for mailauth: its bytes (a Uint8Array after the trip to a worker) or a stream of its file. */
function messageInput(p: VerifyInput): Buffer | Readable {
  const b = p.messageBytes;
  if (b) return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (p.messagePath === null) throw new Error('no message to verify (neither a path nor bytes)');
  return createReadStream(p.messagePath);
}

/**
 * DKIM, ARC and DMARC of the stored message (the CPU-heavy part; run in a worker by the server).
 * `unsigned`: for a message smallUnsignedHeader found unsigned, checked on the calling thread, the
 * result of mailauth's DKIM pass made from the header parse it already has (unsignedDkimResult),
 * in place of that pass.
 */
export async function verifyMessage(p: VerifyInput, dnsResolver: DNSResolver, unsigned?: DKIMVerifyResult): Promise<VerifyOutcome> {
  const resolver = answering(p.dns, dnsResolver);
  const dkimResult =
    unsigned ??
    (await dkimVerify(messageInput(p), {
      resolver,
      sender: p.mailFrom || undefined,
      minBitLength: p.minRsaBits,
      curTime: p.now,
    }));
  const spfOut = p.spf;

  const dkim: DkimOutcome[] = (dkimResult.results ?? []).map((r: DKIMResult) => ({
    result: r.status.result,
    domain: r.signingDomain,
    selector: r.selector ?? '',
    algorithm: r.algorithm ?? '',
    aligned: Boolean(r.status.aligned),
    comment: typeof r.status.comment === 'string' ? r.status.comment : undefined,
    info: r.info,
  }));

  let arcOut: AuthOutcome['arc'] = null;
  let arcRaw: Awaited<ReturnType<typeof arc>> | undefined;
  if (p.arc) {
    arcRaw = await arc((dkimResult.arc as unknown as ARCData | undefined) ?? { chain: [] }, { resolver, minBitLength: p.minRsaBits });
    arcOut = { result: arcRaw.status.result, info: arcRaw.info ?? `arc=${arcRaw.status.result}` };
  }

  let dmarcOut: DmarcOutcome | null = null;
  const headerFrom = dkimResult.headerFrom ?? [];
  if (headerFrom.length) {
    // RFC 7489 §4.2: SPF counts for DMARC only with the MAIL FROM identity (not HELO).
    const spfDomains = spfOut.result === 'pass' && p.mailFrom ? [spfOut.domain] : [];
    const r = await dmarc({
      headerFrom,
      spfDomains,
      dkimDomains: dkim.filter((d) => d.result === 'pass').map((d) => ({ domain: d.domain, aligned: d.aligned })),
      arcResult: arcRaw,
      resolver,
    });
    if (r) {
      const policy = typeof r.policy === 'string' && DMARC_POLICIES.has(r.policy.toLowerCase()) ? (r.policy.toLowerCase() as DmarcOutcome['policy']) : null;
      // RFC 7489 §6.3: pct defaults to 100.
      const pct = typeof r.pct === 'number' && r.pct >= 0 && r.pct <= 100 ? r.pct : 100;
      dmarcOut = { result: r.status.result as DmarcOutcome['result'], policy, pct, domain: r.domain, info: r.info };
    } else {
      // RFC 7489 §6.6.1: a message without exactly one From author domain cannot be evaluated.
      dmarcOut = { result: 'permerror', policy: null, pct: 100, domain: '', info: 'dmarc=permerror (multiple or invalid From addresses)' };
    }
  }

  const parsed = (dkimResult.headers?.parsed ?? []) as Array<{ key: string }>;
  return {
    dkim,
    arc: arcOut,
    dmarc: dmarcOut,
    headerFrom,
    headerNames: parsed.map((h) => h.key),
  };
}

/** RFC 6376 §3.5, RFC 8617 §4.1: a field mailauth verifies (DKIM-Signature, an ARC set's fields). */
function signatureField(headers: ParsedHeaders): boolean {
  return headers.parsed.some((h) => h.key === 'dkim-signature' || h.key === 'arc-seal' || h.key === 'arc-message-signature' || h.key === 'arc-authentication-results');
}

// mailauth's own header parser and address parser (the ones its DKIM verifier reads the header
// with; mailauth has no export for them): the From addresses DMARC evaluates must be the ones
// mailauth would find. verify-here.test.ts compares the two ways on the MIME corpus.
const mailauthRequire = createRequire(createRequire(import.meta.url).resolve('mailauth'));
/** mailauth's parse of a header section: each field's lower-case name (null if it has none) and lines. */
type ParsedHeaders = { parsed: Array<{ key: string | null; line: Buffer }> };
const { parseHeaders } = mailauthRequire('./tools.js') as { parseHeaders: (b: Buffer) => ParsedHeaders };
const addressparser = mailauthRequire('nodemailer/lib/addressparser') as (s: string) => Array<{ address?: string }>;

/**
 * What mailauth's dkimVerify returns for a message smallUnsignedHeader accepts, read from its
 * header section only (From lines in a body are not the author); null for any other message.
 */
export function unsignedDkimResult(message: Uint8Array): DKIMVerifyResult | null {
  const small = smallUnsignedHeader(message);
  return small ? dkimResultOf(small.headers) : null;
}

/**
 * mailauth's dkimVerify result for an unsigned header, from its parse, without dkimVerify's
 * streaming pass over the bytes (about 40 µs of the main thread per message in the SMTP ingest
 * profile, against 4-5 for this): RFC 6376 §3.5 has nothing to verify, so one "none" result (RFC
 * 8601 §2.7.1), the From addresses (RFC 7489 §6.6.1) and the field names.
 */
function dkimResultOf(headers: ParsedHeaders): DKIMVerifyResult {
  const headerFrom: string[] = [];
  for (const h of headers.parsed) {
    if (h.key !== 'from') continue;
    const line = h.line.toString();
    for (const a of addressparser(line.slice(line.indexOf(':') + 1).trim())) if (a.address) headerFrom.push(a.address);
  }
  const none = { status: { result: 'none', comment: 'message not signed' }, info: 'dkim=none (message not signed)' } as DKIMResult;
  const result = { headerFrom, envelopeFrom: false as const, results: [none] };
  // headers and arc are non-enumerable on mailauth's result too
  Object.defineProperty(result, 'headers', { value: headers, enumerable: false });
  Object.defineProperty(result, 'arc', { value: { chain: false }, enumerable: false });
  return result as DKIMVerifyResult;
}

// RFC 8601 §2.2: ptype.property values are tokens or quoted strings; comments in parentheses.
// An address with a dot-atom local part (RFC 5322 §3.2.3 atext) or a MIME token goes unquoted.
function quoteValue(v: string): string {
  if (/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9.-]+$/.test(v)) return v;
  if (/^[\x21-\x7e]+$/.test(v) && !/[()<>@,;:\\"/[\]?=]/.test(v)) return v;
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

function comment(c: string | undefined): string {
  return c ? ` (${c.replace(/[()\\]/g, '').replace(/[\r\n]+/g, ' ').slice(0, 200)})` : '';
}

/** RFC 8601 §2.7.2: spf with smtp.mailfrom; RFC 8601 §2.7.2 also allows smtp.helo for the HELO identity. */
export function spfResinfo(o: SpfOutcome, identity: 'mailfrom' | 'helo', value: string): string {
  return `spf=${o.result}${comment(o.comment)} smtp.${identity}=${quoteValue(value)}`;
}

/**
 * The Authentication-Results field (RFC 8601 §2.2): authserv-id, then one resinfo per method,
 * folded one per line. "none" resinfo when nothing was checked (RFC 8601 §2.2).
 */
export function authenticationResults(hostname: string, o: AuthOutcome, mailFrom: string, helo: string): string {
  const rows: string[] = [];
  rows.push(spfResinfo(o.spf, 'mailfrom', mailFrom || `postmaster@${helo}`));
  if (o.spfHelo) rows.push(spfResinfo(o.spfHelo, 'helo', helo));
  if (o.dkim.length) for (const d of o.dkim) rows.push(oneLine(d.info));
  else rows.push('dkim=none (no signatures)');
  if (o.arc) rows.push(oneLine(o.arc.info));
  if (o.dmarc) rows.push(oneLine(o.dmarc.info));
  return `Authentication-Results: ${hostname};\r\n\t${rows.join(';\r\n\t')}`;
}

function oneLine(s: string): string {
  return s.replace(/\r?\n[ \t]*/g, ' ');
}

/**
 * RFC 8601 §5: a receiving MTA removes Authentication-Results fields that claim its own
 * authserv-id but arrived from outside (they would be forgeries). Returns the authserv-id.
 */
export function authservId(value: string): string {
  // authserv-id [ CFWS authres-version ] ... ";" ; drop comments first
  const v = value.replace(/\([^()]*\)/g, ' ').trim();
  return (v.split(';')[0] ?? '').trim().split(/\s+/)[0]!.toLowerCase();
}
