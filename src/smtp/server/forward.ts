// Forwarding by alias to a remote address (docs/checks.md "Forwarding: SRS and ARC"): the copy
// for the remote hop gets its envelope sender rewritten with SRS (the libsrs2 format) so SPF
// (RFC 7208) passes for our domain at the next hop, and an ARC seal (RFC 8617) that
// carries our Authentication-Results. Bounces to our SRS addresses are reversed at RCPT.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Config } from '../../config/schema.js';
import { createSrs, type Srs } from '../../checks/srs.js';
import { arcSealForwarded } from '../../checks/arc-seal.js';

const srsByConfig = new WeakMap<Config, Srs>();

/** The server's SRS (the secret is read, or generated into data_dir/srs.key, once per config). */
export function srsFor(config: Config): Srs {
  let srs = srsByConfig.get(config);
  if (!srs) {
    srs = createSrs(config);
    srsByConfig.set(config, srs);
  }
  return srs;
}

/** The message as it will be forwarded: our new header section, then the body from the spool. */
function messageStream(head: Buffer, spool: string, offset: number, total: number): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    yield head;
    if (offset < total) yield* createReadStream(spool, { start: offset, highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>;
  }
  return Readable.from(gen());
}

/**
 * The copy to seal: our header section in front of the body in the spool file (alias forwarding
 * at SMTP time), or the whole message in memory (a Sieve redirect, src/delivery/sieve.ts).
 */
export type ForwardedCopy = { head: Buffer; spool: string; offset: number; total: number } | { raw: Buffer };

/**
 * The ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results fields (CRLF-terminated) for
 * a copy forwarded by `domain`, or "" when arc_seal is off or the domain has no DKIM key. Alias
 * forwarding and Sieve redirects both seal through here.
 */
export async function arcSeal(opts: { config: Config; domain: string; now: Date } & ForwardedCopy): Promise<string> {
  if (!opts.config.checks.arc_seal) return '';
  const message = 'raw' in opts ? () => Readable.from([opts.raw]) : () => messageStream(opts.head, opts.spool, opts.offset, opts.total);
  return arcSealForwarded({ config: opts.config, domain: opts.domain, message, now: opts.now });
}
