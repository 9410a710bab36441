// Forwarding by alias to a remote address (docs/checks.md "Forwarding: SRS and ARC"): the copy
// for the remote hop gets its envelope sender rewritten with SRS (the libsrs2 format) so SPF
// (RFC 7208) passes for our domain at the next hop, and an ARC seal (RFC 8617) that
// carries our Authentication-Results. Bounces to our SRS addresses are reversed at RCPT.
import { Readable } from 'node:stream';
import type { Config } from '../../config/schema.js';
import { createSrs, type Srs } from '../../forward/srs.js';
import { arcSealForwarded } from '../../forward/arc-seal.js';
import { messageChunks, type IntakeResult } from './intake.js';

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

/** The message as it will be forwarded: our new header section, then the body as received. */
function messageStream(head: Buffer, message: IntakeResult, offset: number): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    yield head;
    yield* messageChunks(message, offset);
  }
  return Readable.from(gen());
}

/**
 * The copy to seal: our header section in front of the body as received (alias forwarding
 * at SMTP time), or the whole message in memory (a Sieve redirect, src/delivery/sieve.ts).
 */
export type ForwardedCopy = { head: Buffer; message: IntakeResult; offset: number } | { raw: Buffer };

/**
 * The ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results fields (CRLF-terminated) for
 * a copy forwarded by `domain`, or "" when arc_seal is off or the domain has no DKIM key. Alias
 * forwarding and Sieve redirects both seal through here.
 */
export async function arcSeal(opts: { config: Config; domain: string; now: Date } & ForwardedCopy): Promise<string> {
  if (!opts.config.checks.arc_seal) return '';
  const message = 'raw' in opts ? () => Readable.from([opts.raw]) : () => messageStream(opts.head, opts.message, opts.offset);
  return arcSealForwarded({ config: opts.config, domain: opts.domain, message, now: opts.now });
}
