// ARC sealing (RFC 8617) of mail we forward (an alias to a remote address): the next hop sees
// what our inbound checks found (our Authentication-Results) even though forwarding may break
// SPF. The seal is signed with the forwarding domain's DKIM key (RSA: the widest support).
import { createSeal, type MessageInput } from 'mailauth';
import type { Readable } from 'node:stream';
import type { Config } from '../config/schema.js';
import { listDomainKeys, readPrivateKey } from '../checks/dkim-keys.js';
import { authservId } from '../checks/spf-dkim-dmarc.js';
import { poolFor } from '../workers/registry.js';
import { readAll, type WorkerPool } from '../workers/pool.js';

/** What createSeal needs for one ARC set (RFC 8617 §5.1): plain data, so it can go to a worker. */
export interface SealSpec {
  signingDomain: string;
  selector: string;
  privateKey: string;
  algorithm: string;
  authResults: string;
  cv: string;
  signTime: Date;
}

/** The ARC set for the message, CRLF-terminated ("" when mailauth gives none). */
export async function sealHeaders(message: MessageInput, seal: SealSpec): Promise<string> {
  const r = await createSeal(message, { seal });
  const lines = (r.headers ?? []).filter((h): h is string => typeof h === 'string' && h.length > 0);
  return lines.length ? lines.join('\r\n') + '\r\n' : '';
}

/** Reads the header section of a message (up to the blank line, at most 256 KiB). */
async function readHeader(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(b);
    size += b.length;
    const text = Buffer.concat(chunks).toString('latin1');
    const end = text.search(/\r?\n\r?\n/);
    if (end >= 0 || size > 256 * 1024) {
      stream.destroy();
      return end >= 0 ? text.slice(0, end) : text;
    }
  }
  return Buffer.concat(chunks).toString('latin1');
}

/** Our own Authentication-Results value (the first one with our authserv-id), unfolded. */
export function ourAuthResults(header: string, hostname: string): string | null {
  const fields = header.split(/\r?\n(?![ \t])/);
  for (const f of fields) {
    const m = /^authentication-results:\s*([\s\S]*)$/i.exec(f);
    if (m && authservId(m[1]!) === hostname.toLowerCase()) return m[1]!.replace(/\r?\n[ \t]+/g, ' ').trim();
  }
  return null;
}

/**
 * The ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results fields (CRLF-terminated)
 * to prepend to a message being forwarded by `domain`; "" when the domain has no key or arc_seal
 * is off. message() is called twice (headers, then the whole message). The seal is computed in
 * the worker pool (opts.workers, else the server's pool for this config, else on this thread):
 * mailauth parses the whole header, which costs quadratic time in its number of lines.
 */
export async function arcSealForwarded(opts: { config: Config; domain: string; message: () => Readable; now?: Date; workers?: WorkerPool }): Promise<string> {
  if (!opts.config.checks.arc_seal) return '';
  const keys = listDomainKeys(opts.config.data_dir, opts.domain);
  const key = keys.find((k) => k.algorithm === 'rsa-sha256') ?? keys[0];
  if (!key) return '';
  const header = await readHeader(opts.message());
  const ar = ourAuthResults(header, opts.config.hostname) ?? `${opts.config.hostname}; none`;
  // RFC 8617 §5.1.1: cv is the validation status of the chain as received ("none" for the first hop).
  const cvMatch = /(?:^|;)\s*arc=(pass|fail|none)\b/i.exec(ar);
  const cv = cvMatch ? cvMatch[1]!.toLowerCase() : 'none';
  const seal: SealSpec = {
    signingDomain: key.domain,
    selector: key.selector,
    privateKey: readPrivateKey(key),
    algorithm: key.algorithm,
    authResults: ar,
    cv,
    signTime: opts.now ?? new Date(),
  };
  const workers = opts.workers ?? poolFor(opts.config);
  if (!workers) return sealHeaders(opts.message() as unknown as MessageInput, seal);
  return workers.run('arcSeal', { message: await readAll(opts.message()), seal });
}
