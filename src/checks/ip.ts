// IP address helpers for the checks: CIDR matching (trusted networks), the network a client
// belongs to (greylisting keys), and the reversed form DNSBL queries use (RFC 5782 §2.1, §2.4).
import { isIP } from 'node:net';

/** "::ffff:1.2.3.4" → "1.2.3.4"; other addresses unchanged. */
export function unmapIp(ip: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return m ? m[1]! : ip;
}

/** The 16 bytes of an IPv6 address, or the 4 of an IPv4 address; null if malformed. */
export function ipBytes(ip: string): Uint8Array | null {
  const a = unmapIp(ip);
  const v = isIP(a);
  if (v === 4) return Uint8Array.from(a.split('.').map(Number));
  if (v !== 6) return null;
  let addr = a.replace(/%.*$/, '');
  // an embedded IPv4 tail becomes two hextets
  const v4 = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(addr);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    addr = addr.slice(0, -v4[1]!.length) + ((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16);
  }
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === null ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  const groups = [...h, ...fill, ...t];
  if (groups.length !== 8) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

export interface Cidr {
  bytes: Uint8Array;
  bits: number;
}

export function parseCidr(s: string): Cidr | null {
  const [addr, len] = s.trim().split('/');
  const bytes = ipBytes(addr ?? '');
  if (!bytes) return null;
  const bits = len === undefined ? bytes.length * 8 : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) return null;
  return { bytes, bits };
}

export function cidrContains(c: Cidr, ip: string): boolean {
  const b = ipBytes(ip);
  return b !== null && bytesInCidr(c, b);
}

function bytesInCidr(c: Cidr, b: Uint8Array): boolean {
  if (b.length !== c.bytes.length) return false;
  let bits = c.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((b[i]! & mask) !== (c.bytes[i]! & mask)) return false;
  }
  return true;
}

/** Answers of inNetworks per list of networks (the same client asks at every command). */
const memberships = new WeakMap<readonly Cidr[], Map<string, boolean>>();
const MEMBERSHIPS_MAX = 1024;

export function inNetworks(nets: readonly Cidr[], ip: string): boolean {
  let known = memberships.get(nets);
  const hit = known?.get(ip);
  if (hit !== undefined) return hit;
  const b = ipBytes(ip);
  const inside = b !== null && nets.some((c) => bytesInCidr(c, b));
  if (!known) memberships.set(nets, (known = new Map()));
  if (known.size >= MEMBERSHIPS_MAX) known.clear();
  known.set(ip, inside);
  return inside;
}

/** The client's network for greylisting: the /24 of an IPv4 address, the /64 of an IPv6 one. */
export function networkKey(ip: string): string {
  const b = ipBytes(ip);
  if (!b) return ip;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.0/24`;
  const hex = Array.from(b.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.match(/.{4}/g)!.join(':')}::/64`;
}

/** RFC 5782 §2.1, §2.4: the query name prefix, octets (IPv4) or nibbles (IPv6) in reverse order. */
export function reversedIp(ip: string): string | null {
  const b = ipBytes(ip);
  if (!b) return null;
  if (b.length === 4) return Array.from(b).reverse().join('.');
  const nibbles: string[] = [];
  for (const x of b) nibbles.push((x >> 4).toString(16), (x & 0xf).toString(16));
  return nibbles.reverse().join('.');
}
