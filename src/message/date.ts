// Date formats of mail, in one place: RFC 5322 §3.3 date-time (Date:, Received:, DSN fields)
// and the month names every date grammar shares (RFC 5322 §3.3, RFC 9051 §9 date-month).

export const DAYS: readonly string[] = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
export const MONTHS: readonly string[] = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const p2 = (n: number): string => String(n).padStart(2, '0');

/** RFC 5322 §3.3 date-time, in UTC: "Sat, 28 Nov 2026 16:00:00 +0000". */
export function formatRfc5322Date(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}
