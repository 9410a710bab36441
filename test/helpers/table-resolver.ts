// mailauth's resolver shape over a fixed table ("TXT name" -> one string), for the checks' tests.
import type { DNSResolver } from 'mailauth';

/** Answers from `records`, ENOTFOUND otherwise; every question is recorded in `seen`. */
export function tableResolver(records: Record<string, string>, seen: string[]): DNSResolver {
  return async (name, rrtype) => {
    seen.push(`${rrtype} ${name}`);
    const v = records[`${rrtype} ${name}`];
    if (v === undefined) throw Object.assign(new Error(`${rrtype} ${name}: no such domain`), { code: 'ENOTFOUND' });
    return [[v]];
  };
}
