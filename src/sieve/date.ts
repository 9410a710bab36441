// date and currentdate (RFC 5260 §4, §5) with date parts, :zone and :originalzone; :index and
// :last (RFC 5260 §6) are in match.ts / message.ts.
import { MONTHS, DAYS, parseDateTime, type MailMoment } from '../message/date.js';
import { INDEX_TAGS, MATCH_TAGS, checkMatch, matchAny } from './match.js';
import { checkIndex } from './base.js';
import { fieldValues } from './message.js';
import { tagString, type ExtensionDef, type Runtime, type VNode, type ValidateCtx } from './runtime.js';

// RFC 5322 §3.3 dates are parsed in message/date.ts (IMAP SORT reads them too).
export { parseDateTime };

/** A moment and the zone it is shown in (minutes east of UTC). */
type Moment = MailMoment;

/** RFC 5260 §4.1: a :zone argument "+hhmm" / "-hhmm"; null when malformed. */
export function parseZone(z: string): number | null {
  const m = /^([+-])(\d{2})(\d{2})$/.exec(z);
  if (!m || Number(m[3]) > 59) return null;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

const p2 = (n: number): string => String(n).padStart(2, '0');

function zoneString(zone: number, colon: boolean): string {
  const a = Math.abs(zone);
  return `${zone < 0 ? '-' : '+'}${p2(Math.floor(a / 60))}${colon ? ':' : ''}${p2(a % 60)}`;
}

/** RFC 5260 §4.2: the value of one date part, or null for an unknown part. */
export function datePart(m: Moment, part: string): string | null {
  const t = new Date(m.ms + m.zone * 60000);
  const Y = String(t.getUTCFullYear()).padStart(4, '0');
  const M = p2(t.getUTCMonth() + 1);
  const D = p2(t.getUTCDate());
  const h = p2(t.getUTCHours()), mi = p2(t.getUTCMinutes()), s = p2(t.getUTCSeconds());
  switch (part.toLowerCase()) {
    case 'year': return Y;
    case 'month': return M;
    case 'day': return D;
    case 'date': return `${Y}-${M}-${D}`;
    // Modified Julian Day: days since 1858-11-17.
    case 'julian': return String(Math.floor((Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()) - Date.UTC(1858, 10, 17)) / 86400000));
    case 'hour': return h;
    case 'minute': return mi;
    case 'second': return s;
    case 'time': return `${h}:${mi}:${s}`;
    case 'iso8601': return `${Y}-${M}-${D}T${h}:${mi}:${s}${zoneString(m.zone, true)}`;
    case 'std11': return `${DAYS[t.getUTCDay()]}, ${D} ${MONTHS[t.getUTCMonth()]} ${Y} ${h}:${mi}:${s} ${zoneString(m.zone, false)}`;
    case 'zone': return zoneString(m.zone, false);
    case 'weekday': return String(t.getUTCDay());
    default: return null;
  }
}

const PARTS = new Set(['year', 'month', 'day', 'date', 'julian', 'hour', 'minute', 'second', 'time', 'iso8601', 'std11', 'zone', 'weekday']);

function checkDate(node: VNode, ctx: ValidateCtx, partArg: number): void {
  checkMatch(node, ctx, partArg + 1);
  const part = node.pos[partArg] as string;
  if (!(ctx.has('variables') && part.includes('${')) && !PARTS.has(part.toLowerCase())) ctx.error(node, `unknown date part "${part}"`);
  const z = tagString(node, 'zone');
  if (z !== undefined && !(ctx.has('variables') && z.includes('${')) && parseZone(z) === null) ctx.error(node.tags.get('zone')!, `bad :zone "${z}"`);
}

/** The zone a date is shown in: :zone, :originalzone (the header's own), else the local zone. */
function shownZone(node: VNode, rt: Runtime, original: number | null, ms: number): number {
  const z = tagString(node, 'zone');
  if (z !== undefined) return parseZone(rt.str(z)) ?? 0;
  if (original !== null && node.tags.has('originalzone')) return original;
  // RFC 5260 §4.1: without :zone or :originalzone, the local time zone.
  return -new Date(ms).getTimezoneOffset();
}

export const date: ExtensionDef = {
  capabilities: ['date', 'index'],
  tests: {
    date: {
      ext: 'date',
      pos: ['string', 'string', 'list'],
      tags: { ...MATCH_TAGS, ...INDEX_TAGS, zone: { arg: 'string', group: 'zone' }, originalzone: { group: 'zone' } },
      check(node, ctx) {
        checkDate(node, ctx, 1);
        checkIndex(node, ctx);
      },
      test(node, rt) {
        const part = rt.str(node.pos[1] as string);
        const values: string[] = [];
        for (const v of fieldValues(rt, node, [rt.str(node.pos[0] as string)])) {
          // RFC 5260 §4: a header field that is not a valid date is skipped.
          // RFC 5322 §3.6.7: in a Received field the date follows the last ";".
          const m = parseDateTime(v) ?? (v.includes(';') ? parseDateTime(v.slice(v.lastIndexOf(';') + 1)) : null);
          if (!m) continue;
          const out = datePart({ ms: m.ms, zone: shownZone(node, rt, m.zone, m.ms) }, part);
          if (out !== null) values.push(out);
        }
        return matchAny(rt, node, values, rt.list(node.pos[2] as string[]));
      },
    },
    currentdate: {
      ext: 'date',
      pos: ['string', 'list'],
      tags: { ...MATCH_TAGS, zone: { arg: 'string' } },
      check: (node, ctx) => checkDate(node, ctx, 0),
      test(node, rt) {
        const ms = rt.env.now.getTime();
        const out = datePart({ ms, zone: shownZone(node, rt, null, ms) }, rt.str(node.pos[0] as string));
        return matchAny(rt, node, out === null ? [] : [out], rt.list(node.pos[1] as string[]));
      },
    },
  },
};
