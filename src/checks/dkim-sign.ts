// DKIM signing of outgoing mail (RFC 6376, RSA and RFC 8463 Ed25519) with the keys of the local
// domain, for the queue (MessageSigner, src/queue/types.ts). After a rotation the newest key of
// each algorithm is used as soon as its DNS record is published; until then the older one goes
// on signing, so a rotation never breaks mail.
import { dkimSign, type DKIMSignOptions, type MessageInput } from 'mailauth';
import type { Config } from '../config/schema.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../log/logger.js';
import type { MessageSigner } from '../queue/types.js';
import { createResolver, type Resolver } from '../dns/resolver.js';
import { readAll, type WorkerPool } from '../workers/pool.js';
import { listDomainKeys, keysByAlgorithm, readPrivateKey, dkimRecord, type DkimKeyInfo, type DkimAlgorithm } from './dkim-keys.js';
import { memoizePemPrivateKeys } from './pem-key-cache.js';
import { signRelaxed } from './dkim-relaxed.js';
import { MAIN_THREAD_HEADER_MAX, MAIN_THREAD_MESSAGE_MAX } from './main-thread.js';

// mailauth parses the private key for every signature: parsed once per key instead (pem-key-cache.ts)
memoizePemPrivateKeys();

/**
 * The header fields signed: those that carry the message's meaning and that relays (forwarders,
 * mailing lists that do not rewrite, gateways) leave alone. Not Received, Return-Path or other
 * trace fields, which every hop adds to (RFC 6376 §5.4.1).
 */
export const SIGNED_HEADERS = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'In-Reply-To',
  'References',
  'List-Id',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
];

export interface SignatureSpec {
  domain: string;
  selector: string;
  privateKey: string;
  algorithm: DkimAlgorithm;
}

/**
 * DKIM-Signature fields (CRLF-terminated) for the message, one per spec. Throws on a signing error.
 * A message in memory (Buffer or string) with CRLF line ends (what the queue signs) goes through the lean signer
 * (dkim-relaxed.ts); anything else through mailauth.
 */
export async function dkimSignatures(input: MessageInput, specs: SignatureSpec[], opts: { signTime?: Date; headers?: string[] } = {}): Promise<string> {
  if (!specs.length) return '';
  const signTime = opts.signTime ?? new Date();
  const bytes = typeof input === 'string' ? Buffer.from(input) : Buffer.isBuffer(input) ? input : null;
  if (bytes) {
    const lean = await signRelaxed(bytes, specs, opts.headers ?? SIGNED_HEADERS, signTime);
    if (lean !== null) return lean;
  }
  const options = {
    canonicalization: 'relaxed/relaxed',
    signTime,
    // mailauth reads the header list as a colon-separated string
    headerList: (opts.headers ?? SIGNED_HEADERS).join(':'),
    signatureData: specs.map((s) => ({ signingDomain: s.domain, selector: s.selector, privateKey: s.privateKey, algorithm: s.algorithm })),
  } as unknown as DKIMSignOptions;
  const r = await dkimSign(input, options);
  if (r.errors?.length) {
    const e = r.errors[0] as { err?: Error; selector?: string };
    throw new Error(`DKIM signing failed (${e.selector ?? '?'}): ${e.err?.message ?? 'unknown error'}`);
  }
  const sig = r.signatures ?? '';
  return sig && !sig.endsWith('\r\n') ? sig + '\r\n' : sig;
}

/** A key of the domain with its PEM private key (read when the list is), or why it could not be read. */
interface KeyWithPem {
  info: DkimKeyInfo;
  pem: string | Error;
}

function readPem(info: DkimKeyInfo): string | Error {
  try {
    return readPrivateKey(info);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

interface Cached<T> {
  at: number;
  value: T;
}

/** Checks (with a cache) whether a key's public record is what DNS serves at selector._domainkey.domain. */
function publishedCheck(resolver: Resolver, logger: Logger) {
  const cache = new Map<string, Cached<boolean>>();
  return async (key: DkimKeyInfo): Promise<boolean> => {
    const name = `${key.selector}._domainkey.${key.domain}`;
    const hit = cache.get(name);
    // a published key is re-checked hourly, an unpublished one every five minutes
    if (hit && Date.now() - hit.at < (hit.value ? 3_600_000 : 300_000)) return hit.value;
    let value = false;
    try {
      const want = (/p=([A-Za-z0-9+/=]+)/.exec(dkimRecord(key)) ?? [])[1];
      const txt = await resolver.resolveTxt(name);
      value = txt.some((t) => (/\bp=([A-Za-z0-9+/=\s]+)/.exec(t)?.[1] ?? '').replace(/\s+/g, '') === want);
    } catch (err) {
      logger.debug({ name, err: err instanceof Error ? err.message : String(err) }, 'DKIM key not found in DNS');
    }
    cache.set(name, { at: Date.now(), value });
    return value;
  };
}

/**
 * Picks the key of one algorithm: the newest whose record is published, else (nothing published
 * yet, or DNS not answering) the oldest, which is the one most likely to be in DNS.
 */
async function pick(keys: DkimKeyInfo[], isPublished: (k: DkimKeyInfo) => Promise<boolean>): Promise<DkimKeyInfo | null> {
  if (!keys.length) return null;
  if (keys.length === 1) return keys[0]!;
  for (const k of keys) if (await isPublished(k)) return k;
  return keys[keys.length - 1]!;
}

function domainOf(address: string): string | null {
  const at = address.lastIndexOf('@');
  return at > 0 ? address.slice(at + 1).toLowerCase() : null;
}

/**
 * The queue's signer. With opts.workers, a message over MAIN_THREAD_MESSAGE_MAX or with a header over MAIN_THREAD_HEADER_MAX (main-thread.ts), or one the lean
 * signer leaves to mailauth (whose header parse is quadratic in its number of lines), is signed in
 * the worker pool; a job over the pool's time limit throws, and the delivery attempt is deferred
 * like any other signing error.
 */
export function createDkimSigner(config: Config, store: Store, logger: Logger, opts: { resolver?: Resolver; workers?: WorkerPool } = {}): MessageSigner {
  const resolver = opts.resolver ?? createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeout });
  const isPublished = publishedCheck(resolver, logger);
  // The key list and the PEM texts, read together and kept a minute: not a file read per signature
  // (the submission bench's profile had readPrivateKey's readFileSync on the main thread per message).
  const keyCache = new Map<string, Cached<KeyWithPem[]>>();
  const keysOf = (domain: string): KeyWithPem[] => {
    const hit = keyCache.get(domain);
    if (hit && Date.now() - hit.at < 60_000) return hit.value;
    let value: KeyWithPem[] = [];
    try {
      value = listDomainKeys(config.data_dir, domain).map((info) => ({ info, pem: readPem(info) }));
    } catch (err) {
      logger.warn({ domain, err: err instanceof Error ? err.message : String(err) }, 'cannot read DKIM keys');
    }
    // a key file that could not be read is tried again at the next message
    if (!value.some((k) => k.pem instanceof Error)) keyCache.set(domain, { at: Date.now(), value });
    return value;
  };

  return {
    async sign({ from, headerFromDomain, message }) {
      // RFC 7489 §3.1.1: a signature aligns for DMARC when d= is the From domain, so that is
      // preferred; forwarded mail whose From is foreign is signed by the envelope sender's domain.
      // An SRS sender in the hostname (mail.a.test) falls back to a local parent domain (a.test).
      const env = domainOf(from);
      const labels = env ? env.split('.') : [];
      const parents = labels.slice(1).map((_, i) => labels.slice(i + 1).join('.')).filter((d) => d.includes('.'));
      const candidates = [...new Set([headerFromDomain?.toLowerCase() ?? null, env, ...parents].filter((d): d is string => !!d))];
      let domain: string | null = null;
      for (const d of candidates) {
        if ((await store.isLocalDomain(d)) && keysOf(d).length) {
          domain = d;
          break;
        }
      }
      if (!domain) {
        if (candidates.length) logger.debug({ from, headerFromDomain }, 'no local DKIM key for this message: not signed');
        return '';
      }
      const keys = keysOf(domain);
      const by = keysByAlgorithm(keys.map((k) => k.info));
      const chosen = (await Promise.all([pick(by['rsa-sha256'], isPublished), pick(by['ed25519-sha256'], isPublished)])).filter((k): k is DkimKeyInfo => !!k);
      const specs = chosen.map((k) => {
        const pem = keys.find((x) => x.info === k)!.pem;
        // an unreadable key file is a signing error (the delivery is deferred), as when it was read per message
        if (pem instanceof Error) throw new Error(`DKIM signing failed (${k.selector}): ${pem.message}`);
        return { domain: k.domain, selector: k.selector, algorithm: k.algorithm, privateKey: pem };
      });
      const bytes = await readAll(message());
      const headerEnd = bytes.indexOf('\r\n\r\n');
      if (opts.workers && bytes.length <= MAIN_THREAD_MESSAGE_MAX && headerEnd >= 0 && headerEnd <= MAIN_THREAD_HEADER_MAX) {
        // A small message: the lean signer (linear, no mailauth) on this thread, not a round trip
        // to the pool (docs/submission-perf.md: the job's messages, the worker's own GC and the
        // wake-up of a sleeping worker thread, which took the main thread's CPU on a busy machine,
        // cost more than the signature).
        const lean = await signRelaxed(bytes, specs, SIGNED_HEADERS, new Date());
        if (lean !== null) return lean;
      }
      if (opts.workers) return opts.workers.run('dkimSign', { message: bytes, specs });
      return dkimSignatures(bytes, specs);
    },
  };
}
