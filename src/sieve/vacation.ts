// vacation (RFC 5230) and vacation-seconds (RFC 6131). The interpreter decides whether a reply
// is due (the rules of RFC 5230 §4.5 and §4.6 and RFC 3834); remembering who was answered
// (one reply per sender per period) and sending are the delivery side's.
import { plausibleAddress } from './base.js';
import { addressesIn, fieldValues, headerText } from './message.js';
import { SieveRuntimeError, tagNumber, tagString, type ExtensionDef, type Runtime, type VNode, type ValidateCtx } from './runtime.js';

/** RFC 5230 §4.1: the default period is 7 days; at least 1 day. */
export const DEFAULT_VACATION_DAYS = 7;

function check(node: VNode, ctx: ValidateCtx): void {
  if (node.tags.has('days') && node.tags.has('seconds')) ctx.error(node.tags.get('seconds')!, ':seconds cannot be combined with :days');
  const from = tagString(node, 'from');
  if (from !== undefined && !(ctx.has('variables') && from.includes('${')) && !plausibleAddress(bareAddress(from))) ctx.error(node.tags.get('from')!, `vacation :from: invalid address "${from}"`);
}

function bareAddress(s: string): string {
  const a = addressesIn(s)[0];
  return a && typeof a !== 'string' ? `${a.local}@${a.domain}` : s.trim();
}

/** RFC 5230 §4.6 and RFC 3834 §2: no automatic reply to automatic mail or mailing lists. */
function isAutomatic(rt: Runtime, sender: string): string | null {
  if (sender === '') return 'the sender is <>';
  const local = sender.slice(0, sender.lastIndexOf('@')).toLowerCase();
  if (local.startsWith('owner-') || local.endsWith('-request') || local === 'mailer-daemon' || local === 'listserv' || local === 'majordomo') return `the sender <${sender}> is a list or system address`;
  for (const h of rt.headers) {
    const k = h.name.toLowerCase();
    const v = headerText(h).toLowerCase();
    if (k === 'auto-submitted' && v.split(';')[0]!.trim() !== 'no') return 'the message is Auto-Submitted';
    if (k === 'precedence' && ['bulk', 'list', 'junk'].includes(v)) return `the message has Precedence: ${v}`;
    if (k.startsWith('list-') && ['list-id', 'list-help', 'list-unsubscribe', 'list-subscribe', 'list-post', 'list-owner', 'list-archive'].includes(k)) return `the message has ${h.name}`;
    if (k === 'x-auto-response-suppress' && /\b(all|oof|autoreply)\b/.test(v)) return 'the message asks for no automatic reply';
  }
  return null;
}

async function run(node: VNode, rt: Runtime): Promise<void> {
  // RFC 5230 §4.7: one vacation action per run; not with reject (RFC 5429 §2.4).
  if (rt.actions.some((a) => a.type === 'vacation')) throw new SieveRuntimeError(node, 'vacation used twice');
  if (rt.actions.some((a) => a.type === 'reject')) throw new SieveRuntimeError(node, 'vacation cannot be combined with reject');
  const reason = rt.str(node.pos[0] as string);
  const subjectTag = tagString(node, 'subject');
  const fromTag = tagString(node, 'from');
  const subject = subjectTag !== undefined ? rt.str(subjectTag) : null;
  const from = fromTag !== undefined ? rt.str(fromTag) : null;
  const mime = node.tags.has('mime');
  const addresses = rt.list((node.tags.get('addresses')?.value as string[] | undefined) ?? []);
  let seconds: number;
  const secs = tagNumber(node, 'seconds');
  const days = tagNumber(node, 'days');
  // RFC 6131 §2: :seconds may be 0 (reply every time); RFC 5230 §4.1: :days is at least 1.
  if (secs !== undefined) seconds = secs;
  else seconds = Math.max(1, days ?? DEFAULT_VACATION_DAYS) * 86400;
  // RFC 5230 §4.2: without :handle, the handle is derived from the arguments, so that a
  // changed reply is sent again; from the arguments as written, before variable expansion, so
  // that a subject made from the message's does not make every reply a new one.
  const handleTag = tagString(node, 'handle');
  const handle = handleTag !== undefined ? rt.str(handleTag) : `${node.pos[0] as string}${subjectTag ?? ''}${fromTag ?? '<default-from>'}${mime ? '<MIME>' : '<NO-MIME>'}`;

  const sender = rt.msg.envelope.from;
  if (isAutomatic(rt, sender)) return;
  // RFC 5230 §4.5: reply only when one of the user's addresses is a direct recipient (To, Cc,
  // Bcc, Resent-To, Resent-Cc, Resent-Bcc); :addresses adds addresses.
  const mine = new Set([rt.env.user, ...rt.env.userAddresses, ...addresses, rt.msg.envelope.to, rt.msg.envelope.originalTo ?? ''].filter(Boolean).map((a) => bareAddress(a).toLowerCase()));
  const stripDetail = (a: string): string => {
    const at = a.lastIndexOf('@');
    const i = rt.env.separator ? a.indexOf(rt.env.separator) : -1;
    return i > 0 && i < at ? a.slice(0, i) + a.slice(at) : a;
  };
  for (const a of [...mine]) mine.add(stripDetail(a));
  const recipients = fieldValues(rt, { ...node, tags: new Map() }, ['to', 'cc', 'bcc', 'resent-to', 'resent-cc', 'resent-bcc'], false)
    .flatMap((v) => addressesIn(v))
    .flatMap((a) => (typeof a === 'string' ? [] : [`${a.local}@${a.domain}`.toLowerCase()]));
  if (!recipients.some((r) => mine.has(r) || mine.has(stripDetail(r)))) return;
  // RFC 5230 §4.5: never answer one's own message.
  if (mine.has(sender.toLowerCase())) return;
  const origSubject = fieldValues(rt, { ...node, tags: new Map() }, ['subject'])[0] ?? '';
  rt.addAction({
    type: 'vacation',
    to: sender,
    from,
    // RFC 5230 §4.3: the default subject is "Auto:" and the original subject.
    subject: subject ?? `Auto: ${origSubject}`,
    body: reason,
    mime,
    handle,
    seconds,
    addresses,
  });
}

export const vacation: ExtensionDef = {
  capabilities: ['vacation', 'vacation-seconds'],
  commands: {
    vacation: {
      ext: 'vacation',
      pos: ['string'],
      tags: {
        days: { arg: 'number' },
        seconds: { arg: 'number', ext: 'vacation-seconds' },
        subject: { arg: 'string' },
        from: { arg: 'string' },
        addresses: { arg: 'list' },
        mime: {},
        handle: { arg: 'string' },
      },
      check,
      run,
    },
  },
};
