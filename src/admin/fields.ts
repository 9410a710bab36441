// The input fields of the admin operations as zod schemas: each validates and normalizes what
// the CLI gets as an argument and the admin API as JSON, with the one message both show, and
// describes itself for the OpenAPI document (z.toJSONSchema with io "input").
import { z } from 'zod';
import { parseAddress, parseDomain } from '../cli/common.js';
import { parseSize } from '../config/schema.js';

/** A string checked and normalized by a parser that throws a user-facing error. */
function parsed(parse: (s: string) => string, meta: { description: string; examples: string[]; maxLength?: number }) {
  return z
    .string()
    .meta(meta)
    .transform((s, ctx) => {
      try {
        return parse(s);
      } catch (err) {
        if (!(err instanceof Error && (err as Error & { userFacing?: boolean }).userFacing)) throw err;
        ctx.issues.push({ code: 'custom', message: err.message, input: s });
        return z.NEVER;
      }
    });
}

function invalid(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}

export const domainField = parsed(parseDomain, { description: 'a domain name (lower-cased, a trailing dot removed)', examples: ['example.com'], maxLength: 254 });

export const addressField = parsed((s) => parseAddress(s), { description: 'an address local@domain (lower-cased)', examples: ['alice@example.com'], maxLength: 254 });

export const targetField = parsed((s) => parseAddress(s, 'target address'), { description: 'a local or remote address local@domain', examples: ['bob@example.org'], maxLength: 254 });

/** An alias "local@domain", or "@domain" for a catch-all (every address of the domain without its own account or alias). */
export function aliasAddress(input: string): string {
  const a = input.trim().toLowerCase();
  if (a.startsWith('@')) return '@' + parseDomain(a.slice(1));
  return parseAddress(a, 'alias address');
}

export const aliasField = parsed(aliasAddress, { description: 'an alias local@domain, or @domain for a catch-all', examples: ['sales@example.com', '@example.com'], maxLength: 255 });

/** Bytes, or a size like 500K, 10M, 2G; 0 = unlimited. */
export function parseQuota(input: string): number {
  const n = /^\d+$/.test(input) ? Number(input) : parseSize(input);
  if (n === null || !Number.isSafeInteger(n)) throw invalid(`malformed size: ${JSON.stringify(input)} (bytes, or like 500K, 10M, 2G; 0 = unlimited)`);
  return n;
}

export const quotaField = z
  .union([z.number(), z.string()])
  .meta({ description: 'bytes (an integer), or a size like "500K", "10M", "2G"; 0 = unlimited', examples: [0, '2G'] })
  .transform((q, ctx) => {
    try {
      if (typeof q === 'string') return parseQuota(q);
      if (Number.isSafeInteger(q) && q >= 0) return q;
      throw invalid(`malformed size: ${q} (bytes, or like 500K, 10M, 2G; 0 = unlimited)`);
    } catch (err) {
      ctx.issues.push({ code: 'custom', message: (err as Error).message, input: q });
      return z.NEVER;
    }
  });

/** The longest password accepted, in octets (as `--password-stdin` always allowed). */
export const MAX_PASSWORD_OCTETS = 4096;

export const passwordField = z
  .string()
  .min(1, 'the password is empty')
  .regex(/^[^\x00\r\n]*$/, 'the password must not contain NUL, CR or LF')
  .refine((s) => Buffer.byteLength(s, 'utf8') <= MAX_PASSWORD_OCTETS, `the password is longer than ${MAX_PASSWORD_OCTETS} bytes`)
  .meta({ description: `the password (at most ${MAX_PASSWORD_OCTETS} octets of UTF-8, no NUL, CR or LF)` });

/** A queue id as `yubin queue list` shows it (case-insensitive). */
export const queueIdField = parsed(
  (input) => {
    const id = input.trim().toUpperCase();
    if (!/^[0-9A-Z]{8,40}$/.test(id)) throw invalid(`malformed queue id: ${JSON.stringify(input)}`);
    return id;
  },
  { description: 'a queue id (8 to 40 letters and digits)', examples: ['01JD3F8V2Q7K'], maxLength: 40 },
);

/** RFC 6376 §3.1: a selector is letters, digits and hyphens (we make single-label ones). */
export const selectorField = parsed(
  (input) => {
    const s = input.toLowerCase();
    if (!/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(s) || s.length > 63) throw invalid(`malformed selector: ${JSON.stringify(input)}`);
    return s;
  },
  { description: 'a DKIM selector', examples: ['y20261130r'], maxLength: 63 },
);
