// Date formats of mail, in one place: RFC 5322 §3.3 date-time (Date:, Received:, DSN fields)
// and the month names every date grammar shares (RFC 5322 §3.3, RFC 9051 §9 date-month).

export const DAYS: readonly string[] = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
export const MONTHS: readonly string[] = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const p2 = (n: number): string => String(n).padStart(2, '0');

/** RFC 5322 §3.3 date-time, in UTC: "Sat, 28 Nov 2026 16:00:00 +0000". */
export function formatRfc5322Date(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}

/** A moment and the zone it was written in (minutes east of UTC). */
export interface MailMoment {
  ms: number;
  zone: number;
}

const ZONES: Record<string, number> = { ut: 0, gmt: 0, z: 0, edt: -240, est: -300, cdt: -300, cst: -360, mdt: -360, mst: -420, pdt: -420, pst: -480 };

/** RFC 5322 §3.3 date-time (obsolete forms included); null when it does not parse. */
export function parseDateTime(v: string): MailMoment | null {
  const s = v.replace(/\([^()]*\)/g, ' ').trim();
  const m = /^(?:[A-Za-z]{3},?\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[A-Za-z]{1,5})?/.exec(s);
  if (!m) return null;
  const month = MONTHS.findIndex((x) => x.toLowerCase() === m[2]!.toLowerCase());
  if (month < 0) return null;
  let year = Number(m[3]);
  // RFC 5322 §4.3: two-digit years 00-49 are 2000-2049, 50-99 are 1950-1999.
  if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3]!.length === 3) year += 1900;
  const z = m[7] ?? '-0000';
  let zone: number;
  if (/^[+-]\d{4}$/.test(z)) zone = (z[0] === '-' ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3)));
  else zone = ZONES[z.toLowerCase()] ?? 0;
  const [d, h, mi, se] = [Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return null;
  const ms = Date.UTC(year, month, d, h, mi, Math.min(se, 59)) - zone * 60000;
  return Number.isFinite(ms) ? { ms, zone } : null;
}
