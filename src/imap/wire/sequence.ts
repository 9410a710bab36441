// Sequence sets (RFC 9051 §9 sequence-set): "1:4,7,9:*", and "$" for the saved search
// result (RFC 5182). "*" is the largest number in use; n:m is the same as m:n.

export type SeqRange = [number, number];
/** Ranges with -1 standing for "*"; or "$". */
export type SequenceSet = { ranges: Array<[number, number]> } | { saved: true };

const STAR = -1;

export function parseSequenceSet(s: string): SequenceSet | null {
  if (s === '$') return { saved: true };
  if (s.length === 0 || s.length > 100_000) return null;
  const ranges: Array<[number, number]> = [];
  for (const item of s.split(',')) {
    const m = /^(\d+|\*)(?::(\d+|\*))?$/.exec(item);
    if (!m) return null;
    const a = m[1] === '*' ? STAR : Number(m[1]);
    const b = m[2] === undefined ? a : m[2] === '*' ? STAR : Number(m[2]);
    // RFC 9051 §9: seq-number = nz-number / "*"; nz-number fits in 32 bits
    if (a === 0 || b === 0 || a > 0xffffffff || b > 0xffffffff) return null;
    ranges.push([a, b]);
  }
  return { ranges };
}

/** Resolves "*" to `max` and orders each range (low, high). With max = 0, "*" is 0. */
export function resolveRanges(set: { ranges: Array<[number, number]> }, max: number): SeqRange[] {
  return set.ranges.map(([a, b]) => {
    const x = a === STAR ? max : a;
    const y = b === STAR ? max : b;
    return x <= y ? [x, y] : [y, x];
  });
}

export function inRanges(n: number, ranges: readonly SeqRange[]): boolean {
  for (const [a, b] of ranges) if (n >= a && n <= b) return true;
  return false;
}

/** The members of a sorted array that fall in the ranges, in array order. */
export function selectSorted(sorted: readonly number[], ranges: readonly SeqRange[]): number[] {
  const out: number[] = [];
  for (const v of sorted) if (inRanges(v, ranges)) out.push(v);
  return out;
}

/** Sequence numbers (1-based indices) selected by ranges, capped at count, sorted and unique. */
export function selectSeqs(count: number, ranges: readonly SeqRange[]): number[] {
  const merged = mergeRanges(ranges.map(([a, b]) => [Math.max(1, a), Math.min(count, b)] as SeqRange).filter(([a, b]) => a <= b));
  const out: number[] = [];
  for (const [a, b] of merged) for (let n = a; n <= b; n++) out.push(n);
  return out;
}

export function mergeRanges(ranges: readonly SeqRange[]): SeqRange[] {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  const out: SeqRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
