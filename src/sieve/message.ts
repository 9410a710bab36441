// The message as tests see it: header fields (decoded, RFC 5228 §5.7), addresses
// and their parts (RFC 5228 §2.7.4, RFC 5233 §4), envelope parts (RFC 5228 §5.4).
import { decodeEncodedWords, headerBytesToString, unfold } from '../message/headers.js';
import { parseAddresses, mailboxesOf } from '../message/address.js';
import type { RtHeader, Runtime, VNode } from './runtime.js';
import { tagNumber } from './runtime.js';

/** The header fields of a raw message, in order, values raw (folding kept). */
export function readHeaders(raw: Buffer, headerEnd: number): RtHeader[] {
  const text = headerBytesToString(raw.subarray(0, headerEnd)).text;
  const out: RtHeader[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') break;
    if ((line[0] === ' ' || line[0] === '\t') && out.length) {
      out[out.length - 1]!.raw += '\r\n' + line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).replace(/[ \t]+$/, ''), raw: line.slice(colon + 1) });
  }
  return out;
}

/** A field value as tests compare it: unfolded, RFC 2047 words decoded, outer whitespace trimmed. */
export function headerText(h: RtHeader): string {
  return decodeEncodedWords(unfold(h.raw).trim());
}

/**
 * The values of the named fields. RFC 5260 §6: with :index N only the Nth occurrence of each
 * named field (counted from the end with :last).
 */
export function fieldValues(rt: Runtime, node: VNode, names: string[], decode = true): string[] {
  const idx = tagNumber(node, 'index');
  const last = node.tags.has('last');
  const out: string[] = [];
  for (const name of names) {
    const key = name.toLowerCase();
    let found = rt.headers.filter((h) => h.name.toLowerCase() === key);
    if (idx !== undefined) {
      const pick = last ? found[found.length - idx] : found[idx - 1];
      found = pick ? [pick] : [];
    }
    for (const h of found) out.push(decode ? headerText(h) : unfold(h.raw).trim());
  }
  return out;
}

export interface AddrPart {
  local: string;
  domain: string;
}

/** The addresses in a header value; unparsable ones as raw text (only :all sees them). */
export function addressesIn(value: string): Array<AddrPart | string> {
  const r = parseAddresses(value);
  if (r.ok) return mailboxesOf(r.addresses).map((m) => ({ local: m.local, domain: m.domain }));
  const out: Array<AddrPart | string> = [];
  for (const a of r.recovered) {
    const list = a.kind === 'group' ? a.members : [a];
    for (const m of list) out.push(m.kind === 'mailbox' ? { local: m.local, domain: m.domain } : m.text);
  }
  return out;
}

export function splitAddress(addr: string): AddrPart | string {
  const at = addr.lastIndexOf('@');
  if (at < 0) return addr;
  return { local: addr.slice(0, at), domain: addr.slice(at + 1) };
}

/**
 * The part of an address a test compares (RFC 5228 §2.7.4), or null when the address has no
 * such part: RFC 5233 §4: :detail of an address without the separator matches nothing.
 */
export function addressPart(node: VNode, a: AddrPart | string, separator: string): string | null {
  const part = node.tags.has('localpart') ? 'localpart' : node.tags.has('domain') ? 'domain' : node.tags.has('user') ? 'user' : node.tags.has('detail') ? 'detail' : 'all';
  if (typeof a === 'string') return part === 'all' ? a : null;
  switch (part) {
    case 'all':
      return a.domain === '' ? a.local : `${a.local}@${a.domain}`;
    case 'localpart':
      return a.local;
    case 'domain':
      return a.domain;
    case 'user': {
      const i = separator ? a.local.indexOf(separator) : -1;
      return i < 0 ? a.local : a.local.slice(0, i);
    }
    default: {
      const i = separator ? a.local.indexOf(separator) : -1;
      return i < 0 ? null : a.local.slice(i + separator.length);
    }
  }
}
