// Match types (RFC 5228 §2.7.1 :is/:contains/:matches, RFC 5231 :count/:value, :regex) with
// comparators, and the match variables they set (RFC 5229 §3.2).
import { COMPARATORS, DEFAULT_COMPARATOR, type Comparator } from './comparators.js';
import { compileRegex, type CompiledRegex } from './regex.js';
import { SieveRuntimeError, tagString, type Runtime, type TagSpec, type ValidateCtx, type VNode } from './runtime.js';

/** The tags every test that compares strings takes (RFC 5228 §2.7). */
export const MATCH_TAGS: Record<string, TagSpec> = {
  comparator: { arg: 'string', group: 'comparator' },
  is: { group: 'match' },
  contains: { group: 'match' },
  matches: { group: 'match' },
  // RFC 5231 §4: :count and :value take a relational operator.
  count: { group: 'match', arg: 'string', ext: 'relational' },
  value: { group: 'match', arg: 'string', ext: 'relational' },
  regex: { group: 'match', ext: 'regex' },
};

/** RFC 5228 §2.7.4: address parts; RFC 5233 §4: :user and :detail. */
export const ADDRESS_PART_TAGS: Record<string, TagSpec> = {
  all: { group: 'address-part' },
  localpart: { group: 'address-part' },
  domain: { group: 'address-part' },
  user: { group: 'address-part', ext: 'subaddress' },
  detail: { group: 'address-part', ext: 'subaddress' },
};

/** RFC 5260 §6: :index N [:last] on header, address and date tests. */
export const INDEX_TAGS: Record<string, TagSpec> = {
  index: { arg: 'number', ext: 'index' },
  last: { ext: 'index' },
};

const RELATIONAL_OPS = new Set(['gt', 'ge', 'lt', 'le', 'eq', 'ne']);

export type MatchType = 'is' | 'contains' | 'matches' | 'count' | 'value' | 'regex';

export function matchTypeOf(node: VNode): MatchType {
  for (const t of ['is', 'contains', 'matches', 'count', 'value', 'regex'] as const) if (node.tags.has(t)) return t;
  // RFC 5228 §2.7.1: the default match type is :is.
  return 'is';
}

export function comparatorOf(node: VNode): Comparator {
  return COMPARATORS.get(tagString(node, 'comparator') ?? DEFAULT_COMPARATOR)!;
}

/** Validation of comparator, relational operator, and the keys of a :regex (when constant). */
export function checkMatch(node: VNode, ctx: ValidateCtx, keyArg: number): void {
  const ct = node.tags.get('comparator');
  if (ct) {
    const name = String(ct.value).toLowerCase();
    const cmp = COMPARATORS.get(name);
    // RFC 5228 §2.7.3: a comparator that is not required, or not known, is an error.
    if (!cmp) ctx.error(ct, `unknown comparator "${name}"`);
    else if (name !== 'i;octet' && name !== 'i;ascii-casemap' && !ctx.has(`comparator-${name}`)) ctx.error(ct, `comparator "${name}" used without require "comparator-${name}"`);
    else ct.value = name;
    const mt = matchTypeOf(node);
    if (cmp && !cmp.fold && (mt === 'contains' || mt === 'matches' || mt === 'regex')) {
      ctx.error(ct, `comparator "${name}" does not support :${mt}`);
    }
  }
  for (const rel of ['count', 'value']) {
    const t = node.tags.get(rel);
    if (t && !RELATIONAL_OPS.has(String(t.value).toLowerCase())) ctx.error(t, `bad relational operator "${String(t.value)}"`);
    else if (t) t.value = String(t.value).toLowerCase();
  }
  if (node.tags.has('regex')) {
    const keys = node.pos[keyArg];
    const list = Array.isArray(keys) ? keys : typeof keys === 'string' ? [keys] : [];
    const ci = comparatorOf(node).name !== 'i;octet';
    for (const k of list) {
      if (ctx.has('variables') && k.includes('${')) continue; // checked at run time
      const r = compileRegex(k, ci);
      if (typeof r === 'string') ctx.error(node, r);
    }
  }
}

function relation(op: string, c: number): boolean {
  switch (op) {
    case 'gt': return c > 0;
    case 'ge': return c >= 0;
    case 'lt': return c < 0;
    case 'le': return c <= 0;
    case 'eq': return c === 0;
    default: return c !== 0;
  }
}

// ---------------------------------------------------------------------------------------------
// :matches wildcards

type GlobTok = { t: 'star' } | { t: 'q' } | { t: 'lit'; key: string };

function splitCodePoints(s: string): string[] {
  return Array.from(s);
}

function globTokens(pattern: string, fold: (s: string) => string): GlobTok[] {
  const toks: GlobTok[] = [];
  const cps = splitCodePoints(pattern);
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    // RFC 5228 §2.7.1: "\" escapes "*", "?" and "\" in :matches keys.
    if (c === '\\' && i + 1 < cps.length) { toks.push({ t: 'lit', key: fold(cps[++i]!) }); continue; }
    if (c === '*') {
      if (toks[toks.length - 1]?.t !== 'star') toks.push({ t: 'star' });
      else toks.push({ t: 'star' }); // each "*" is its own match variable (RFC 5229 §3.2)
      continue;
    }
    if (c === '?') { toks.push({ t: 'q' }); continue; }
    toks.push({ t: 'lit', key: fold(c) });
  }
  return toks;
}

/**
 * Wildcard match in O(len(value) * len(pattern)) (one backtrack point: the last "*").
 * Each "*" takes the shortest string that lets the rest match, left to right. Returns the
 * match variables (${0} the whole value, then one per wildcard) or null.
 */
export function globMatch(value: string, pattern: string, fold: (s: string) => string, budget?: () => void): string[] | null {
  const toks = globTokens(pattern, fold);
  const orig = splitCodePoints(value);
  const keys = orig.map(fold);
  const wildIndex: number[] = [];
  let w = 0;
  for (const t of toks) wildIndex.push(t.t === 'lit' ? -1 : w++);
  const caps: Array<[number, number]> = new Array(w).fill(null).map(() => [0, 0]);
  let pi = 0, si = 0, starPi = -1, starStart = 0, starSi = 0;
  const n = keys.length, m = toks.length;
  let steps = 0;
  while (si < n) {
    if (budget && (++steps & 0xfff) === 0) budget();
    const t = toks[pi];
    if (t && t.t === 'q') { caps[wildIndex[pi]!] = [si, si + 1]; pi++; si++; continue; }
    if (t && t.t === 'lit' && t.key === keys[si]) { pi++; si++; continue; }
    if (t && t.t === 'star') {
      starPi = pi; starStart = si; starSi = si;
      caps[wildIndex[pi]!] = [si, si];
      pi++;
      continue;
    }
    if (starPi >= 0) {
      starSi++;
      caps[wildIndex[starPi]!] = [starStart, starSi];
      pi = starPi + 1;
      si = starSi;
      continue;
    }
    return null;
  }
  while (pi < m && toks[pi]!.t === 'star') { caps[wildIndex[pi]!] = [n, n]; pi++; }
  if (pi !== m) return null;
  return [value, ...caps.map(([a, b]) => orig.slice(a, b).join(''))];
}

// ---------------------------------------------------------------------------------------------

/**
 * RFC 5228 §2.7: a test is true when any value matches any key. :count (RFC 5231 §4.2) compares
 * the number of values with each key. On success with :matches or :regex, the match variables
 * are set (RFC 5229 §3.2).
 */
export function matchAny(rt: Runtime, node: VNode, values: string[], keys: string[]): boolean {
  const cmp = comparatorOf(node);
  const mt = matchTypeOf(node);
  if (mt === 'count') {
    const op = tagString(node, 'count')!;
    const n = String(values.length);
    return keys.some((k) => relation(op, cmp.compare(n, k)));
  }
  for (const v of values) {
    for (const k of keys) {
      rt.step();
      switch (mt) {
        case 'is':
          if (cmp.equals(v, k)) return true;
          break;
        case 'contains':
          // RFC 5228 §2.7.1: the empty key is contained in every value.
          if (cmp.fold!(v).includes(cmp.fold!(k))) return true;
          break;
        case 'value':
          if (relation(tagString(node, 'value')!, cmp.compare(v, k))) return true;
          break;
        case 'matches': {
          const caps = globMatch(v, k, (c) => cmp.fold!(c), () => rt.step());
          if (caps) {
            if (rt.requires.has('variables')) rt.match = caps;
            return true;
          }
          break;
        }
        case 'regex': {
          const re = regexFor(rt, k, cmp.name !== 'i;octet');
          const caps = re.exec(v);
          if (caps) {
            if (rt.requires.has('variables')) rt.match = caps;
            return true;
          }
          break;
        }
      }
    }
  }
  return false;
}

const regexCache = new WeakMap<Runtime, Map<string, CompiledRegex>>();

function regexFor(rt: Runtime, key: string, ci: boolean): CompiledRegex {
  let cache = regexCache.get(rt);
  if (!cache) regexCache.set(rt, (cache = new Map()));
  const id = (ci ? 'i' : 'o') + key;
  let re = cache.get(id);
  if (!re) {
    const r = compileRegex(key, ci);
    if (typeof r === 'string') throw new SieveRuntimeError(null, r);
    re = r;
    cache.set(id, re);
  }
  return re;
}
