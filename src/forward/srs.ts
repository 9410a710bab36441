// SRS, the Sender Rewriting Scheme: when an alias forwards mail to a remote address, the envelope
// sender is rewritten into our own domain so SPF passes at the next hop (RFC 7208 §10.1.2 and
// its Appendix on forwarding), and bounces to the rewritten address find their way back.
//
//   SRS0=HHHH=TT=orig-domain=orig-local@srs-domain       (first forwarder)
//   SRS1=HHHH=first-domain==HHHH=TT=orig-domain=orig-local@srs-domain   (forwarding an SRS0 again)
//
// HHHH is the first 4 characters of base64(HMAC-SHA1(secret, ...)); TT is the day number
// modulo 1024 in base32. The format is the one of libsrs2 and postsrsd, so bounces work the same.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const DAY = 86_400_000;

export interface SrsOptions {
  secret: string;
  /** The domain rewritten senders are put in (ours, so SPF passes for it). */
  domain: string;
  /** Rewritten addresses older than this many days are refused on the way back (default 21). */
  maxAgeDays?: number;
}

function split(address: string): { local: string; domain: string } | null {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return null;
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

function hash(secret: string, ...parts: string[]): string {
  const h = createHmac('sha1', secret);
  for (const p of parts) h.update(p.toLowerCase());
  return h.digest('base64').slice(0, 4);
}

function timestamp(now: Date): string {
  const days = Math.floor(now.getTime() / DAY) % 1024;
  return BASE32[days >> 5]! + BASE32[days & 31]!;
}

function timestampAge(tt: string, now: Date): number | null {
  const t = tt.toUpperCase();
  if (t.length !== 2) return null;
  const a = BASE32.indexOf(t[0]!);
  const b = BASE32.indexOf(t[1]!);
  if (a < 0 || b < 0) return null;
  const then = (a << 5) | b;
  const today = Math.floor(now.getTime() / DAY) % 1024;
  return (today - then + 1024) % 1024;
}

/** True for an SRS0 or SRS1 address. */
export function isSrsAddress(address: string): boolean {
  return /^SRS[01][=+-]/i.test(address);
}

/**
 * The envelope sender to use when forwarding: "" stays "" (bounces are never rewritten), an
 * address already in the SRS domain stays as it is, an SRS0 address becomes SRS1, anything else SRS0.
 */
export function srsForward(sender: string, opts: SrsOptions, now: Date = new Date()): string {
  if (!sender) return '';
  const a = split(sender);
  if (!a) return sender;
  const ours = opts.domain.toLowerCase();
  if (a.domain.toLowerCase() === ours) return sender;
  // SRS0 seen at another forwarder: we become a second hop, pointing back at the first.
  const srs0 = /^SRS0([=+-])(.*)$/i.exec(a.local);
  if (srs0) {
    const rest = srs0[2]!;
    return `SRS1=${hash(opts.secret, a.domain, rest)}=${a.domain}==${rest}@${ours}`;
  }
  const srs1 = /^SRS1[=+-][^=]+=([^=]+)=(=.*)$/i.exec(a.local);
  if (srs1) {
    const first = srs1[1]!;
    const rest = srs1[2]!.slice(1);
    return `SRS1=${hash(opts.secret, first, rest)}=${first}==${rest}@${ours}`;
  }
  const tt = timestamp(now);
  return `SRS0=${hash(opts.secret, tt, a.domain, a.local)}=${tt}=${a.domain}=${a.local}@${ours}`;
}

export class SrsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SrsError';
  }
}

/**
 * A bounce to an SRS address: the address to send it on to (the original sender for SRS0, the
 * first forwarder's SRS0 address for SRS1). Throws SrsError for a forged, damaged or expired one.
 */
export function srsReverse(address: string, opts: SrsOptions, now: Date = new Date()): string {
  const a = split(address);
  if (!a || !isSrsAddress(a.local)) throw new SrsError(`not an SRS address: ${address}`);
  const srs1 = /^SRS1[=+-]([^=]+)=([^=]+)==(.*)$/i.exec(a.local);
  if (srs1) {
    const [, h, first, rest] = srs1 as unknown as [string, string, string, string];
    if (h.toLowerCase() !== hash(opts.secret, first, rest).toLowerCase()) throw new SrsError('SRS1 address with a bad hash');
    return `SRS0=${rest}@${first}`;
  }
  const srs0 = /^SRS0[=+-]([^=]+)=([^=]+)=([^=]+)=(.+)$/i.exec(a.local);
  if (!srs0) throw new SrsError(`malformed SRS address: ${address}`);
  const [, h, tt, domain, local] = srs0 as unknown as [string, string, string, string, string];
  if (h.toLowerCase() !== hash(opts.secret, tt, domain, local).toLowerCase()) throw new SrsError('SRS0 address with a bad hash');
  const age = timestampAge(tt, now);
  if (age === null || age > (opts.maxAgeDays ?? 21)) throw new SrsError('SRS0 address has expired');
  return `${local}@${domain}`;
}

/**
 * The SRS settings of this server: [checks] srs_domain (default the hostname) and srs_secret,
 * or a secret generated once into data_dir/srs.key (mode 0600).
 */
export function srsOptions(config: Config): SrsOptions {
  const domain = (config.checks.srs_domain || config.hostname).toLowerCase();
  let secret = config.checks.srs_secret;
  if (!secret) {
    const path = join(config.data_dir, 'srs.key');
    if (!existsSync(path)) {
      mkdirSync(config.data_dir, { recursive: true });
      try {
        writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    secret = readFileSync(path, 'utf8').trim();
  }
  return { secret, domain };
}

export interface Srs {
  /** The SRS domain (bounces to it are SRS addresses to reverse). */
  readonly domain: string;
  /** The envelope sender for a copy forwarded to a remote address (srsForward). */
  forward(sender: string, now?: Date): string;
  /** A bounce's recipient back to where it goes (srsReverse); throws SrsError. */
  reverse(address: string, now?: Date): string;
  /** True when the address is an SRS address in our SRS domain (RCPT TO of a bounce to reverse). */
  isOurs(address: string): boolean;
}

/** SRS with this server's settings (the secret is read once). */
export function createSrs(config: Config): Srs {
  const opts = srsOptions(config);
  return {
    domain: opts.domain,
    forward: (sender, now) => srsForward(sender, opts, now),
    reverse: (address, now) => srsReverse(address, opts, now),
    isOurs: (address) => {
      const a = split(address);
      return !!a && a.domain.toLowerCase() === opts.domain && isSrsAddress(a.local);
    },
  };
}
