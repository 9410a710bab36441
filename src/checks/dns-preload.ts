// DNS answers sent along with a message to the checks' worker (issue 14). The worker asks every
// DNS question back on the main thread (src/workers: it never opens a socket), a round trip of
// two messages between the threads per question. For the questions that can be known from the
// message's header before the job starts — DMARC's policy record for the From domain
// (RFC 7489 §6.6.3) and each DKIM signature's key record (RFC 6376 §3.6.2.1) — the main thread
// asks its resolver (with its TTL cache) while SPF runs, and the answers go with the job. A
// question the preload did not foresee (a DMARC organizational-domain fallback, an ARC key, a
// header the scan reads differently from mailauth) is asked back as before; a failed lookup is
// not preloaded (its error is asked again in the worker, so that its code reaches mailauth).
import type { DNSResolver } from 'mailauth';

/** [name, rrtype, answer] as the resolver gave it. */
export type DnsAnswers = Array<[name: string, rrtype: string, value: unknown]>;

/** Bytes of the header section scanned at most. */
const HEADER_LIMIT = 64 * 1024;
/** Questions preloaded per message at most (a header full of signatures asks no more). */
const MAX_QUESTIONS = 6;
const DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/;
const SELECTOR = /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/;

/** The unfolded header fields (name in lower case, value) of a message's header section. */
function headerFields(message: Uint8Array): Array<[string, string]> {
  const head = Buffer.from(message.buffer, message.byteOffset, Math.min(message.byteLength, HEADER_LIMIT)).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const lines = (end >= 0 ? head.slice(0, end) : head).split(/\r?\n/);
  const fields: Array<[string, string]> = [];
  for (const line of lines) {
    // RFC 5322 §2.2.3: a line starting with white space continues the field before it.
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1]![1] += line;
    else {
      const colon = line.indexOf(':');
      if (colon > 0) fields.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1)]);
    }
  }
  return fields;
}

/** The From domain DMARC will ask about: one From field with one plain address, else null. */
function fromDomain(fields: Array<[string, string]>): string | null {
  const from = fields.filter(([n]) => n === 'from');
  if (from.length !== 1) return null;
  const value = from[0]![1];
  const angle = /<([^<>]*)>\s*$/.exec(value);
  const addr = (angle ? angle[1]! : value).trim();
  if (!angle && /[,;()"]/.test(addr)) return null;
  const domain = addr.slice(addr.lastIndexOf('@') + 1).toLowerCase();
  return addr.includes('@') && DOMAIN.test(domain) ? domain : null;
}

/** The key records of the DKIM-Signature fields: `s._domainkey.d`. */
function dkimKeyNames(fields: Array<[string, string]>): string[] {
  const names: string[] = [];
  for (const [n, v] of fields) {
    if (n !== 'dkim-signature') continue;
    const tags = new Map(
      v.split(';').map((t) => {
        const eq = t.indexOf('=');
        return [t.slice(0, eq).replace(/\s+/g, '').toLowerCase(), t.slice(eq + 1).replace(/\s+/g, '').toLowerCase()] as const;
      }),
    );
    const d = tags.get('d');
    const s = tags.get('s');
    if (d && s && DOMAIN.test(d) && SELECTOR.test(s)) names.push(`${s}._domainkey.${d}`);
  }
  return names;
}

/** The questions a message's checks will ask first (TXT each), from its header. */
export function questionsFor(message: Uint8Array): string[] {
  const fields = headerFields(message);
  const from = fromDomain(fields);
  const names = [...(from ? [`_dmarc.${from}`] : []), ...dkimKeyNames(fields)];
  return [...new Set(names)].slice(0, MAX_QUESTIONS);
}

/** Asks `resolver` the message's questions; resolves with the answers it got (never rejects). */
export async function preloadAnswers(message: Uint8Array, resolver: DNSResolver): Promise<DnsAnswers> {
  const got = await Promise.all(
    questionsFor(message).map((name) =>
      resolver(name, 'TXT').then(
        (value): [string, string, unknown] => [name, 'TXT', value],
        () => null,
      ),
    ),
  );
  return got.filter((a): a is [string, string, unknown] => a !== null);
}

/** A resolver answering each preloaded question once from `answers`, the rest through `resolver`. */
export function answering(answers: DnsAnswers | undefined, resolver: DNSResolver): DNSResolver {
  if (!answers || answers.length === 0) return resolver;
  const key = (name: string, rrtype: string) => `${rrtype.toUpperCase()} ${name.toLowerCase()}`;
  const known = new Map(answers.map(([n, t, v]) => [key(n, t), v]));
  return (name, rrtype) => {
    const k = key(name, rrtype);
    if (!known.has(k)) return resolver(name, rrtype);
    const v = known.get(k);
    known.delete(k);
    return Promise.resolve(v as string[][] | string[]);
  };
}
