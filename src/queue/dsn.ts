// Delivery status notifications (RFC 3464 multipart/report, RFC 3461 NOTIFY/RET/ENVID/ORCPT):
// composed here, sent by the queue from <> to the envelope sender (never to <>).
import { randomBytes } from 'node:crypto';
import type { DsnRecipientParams } from './types.js';
import { formatRfc5322Date } from '../message/date.js';

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipientReport {
  /** Final recipient (the address we tried). */
  address: string;
  /** ORCPT as given to us (RFC 3461 §4.2). */
  orcpt?: { type: string; address: string };
  action: DsnAction;
  /** RFC 3463 status, e.g. "5.1.1". */
  status: string;
  /** The server that replied, e.g. "mx.b.test"; absent for our own decisions. */
  remoteMta?: string | null;
  /** The reply, e.g. "550 5.1.1 no such user". */
  diagnostic?: string | null;
  lastAttempt?: Date | null;
  /** For delayed: when we give up. */
  willRetryUntil?: Date;
}

export interface DsnInput {
  /** Our host name (Reporting-MTA, From, Message-ID). */
  hostname: string;
  /** The envelope sender of the original message: the DSN's recipient. */
  to: string;
  queueId: string;
  envid?: string | null;
  arrivalDate: Date;
  now: Date;
  recipients: DsnRecipientReport[];
  /** The original message (whole), from which headers or everything are returned. */
  original: Buffer;
  /** RFC 3461 §4.3 RET=FULL: return the whole message (for failures only); otherwise the headers. */
  ret?: 'FULL' | 'HDRS' | null;
}

/** RFC 5322 §3.3 date-time, in UTC. */
export const rfc5322Date = formatRfc5322Date;

/** The header section of a message (up to and including the empty line), any line ends. */
export function headerSection(message: Buffer): Buffer {
  for (let i = 0; i < message.length; i++) {
    if (message[i] !== 10) continue;
    if (message[i + 1] === 10) return message.subarray(0, i + 2);
    if (message[i + 1] === 13 && message[i + 2] === 10) return message.subarray(0, i + 3);
  }
  return message;
}

/** The domain of the first From: header address, or null (for DKIM signing and logs). */
export function headerFromDomain(headers: Buffer): string | null {
  const text = headers.toString('utf8').replace(/\r?\n[ \t]+/g, ' ');
  const m = /^from:(.*)$/im.exec(text);
  if (!m) return null;
  const addr = /<[^<>@\s]*@([^<>\s]+)>/.exec(m[1]!) ?? /[^\s<>,;:@"]+@([A-Za-z0-9.-]+)/.exec(m[1]!);
  return addr ? addr[1]!.toLowerCase().replace(/\.$/, '') : null;
}

/** Does NOTIFY ask for a DSN on this outcome? RFC 3461 §4.1: default is FAILURE and DELAY. */
export function wantsNotify(params: DsnRecipientParams, what: 'SUCCESS' | 'FAILURE' | 'DELAY'): boolean {
  const notify = params.notify;
  if (!notify || notify.length === 0) return what !== 'SUCCESS';
  if (notify.includes('NEVER')) return false;
  return notify.includes(what);
}

/** A header field value made safe for one line: no CR/LF, at most 900 octets. */
function oneLine(s: string): string {
  const t = s.replace(/[\r\n]+/g, ' ');
  return t.length > 900 ? t.slice(0, 900) + '...' : t;
}

const hasNonAscii = (b: Uint8Array) => b.some((c) => c > 0x7f);

/** Composes the DSN message (CRLF line ends). */
export function composeDsn(input: DsnInput): { bytes: Buffer; needsUtf8: boolean; subject: string } {
  const { hostname, recipients } = input;
  const failed = recipients.filter((r) => r.action === 'failed');
  const delayed = recipients.filter((r) => r.action === 'delayed');
  const subject = failed.length
    ? 'Undelivered Mail Returned to Sender'
    : delayed.length
      ? 'Delayed Mail (still being retried)'
      : 'Successful Mail Delivery Report';
  const boundary = `=_yubin_dsn_${randomBytes(12).toString('hex')}`;
  const headers = headerSection(input.original);
  // RFC 3461 §4.3: RET=FULL returns the whole message; a delay or success report carries headers only
  const full = input.ret === 'FULL' && failed.length > 0;
  const returned = full ? input.original : headers;
  // RFC 6533 §6: UTF-8 headers travel as message/global(-headers) and the report as message/global-delivery-status
  const utf8 = hasNonAscii(headers) || recipients.some((r) => hasNonAscii(Buffer.from(r.address + (r.orcpt?.address ?? ''))));

  const human: string[] = [];
  human.push(`This is the mail system at host ${hostname}.`, '');
  if (failed.length) {
    human.push("I'm sorry to have to inform you that your message could not", 'be delivered to one or more recipients. The reasons are below.', '');
  } else if (delayed.length) {
    human.push('Your message could not be delivered yet. The mail system will', `keep trying until ${rfc5322Date(delayed[0]!.willRetryUntil ?? input.now)}; you do not need to send it again.`, '');
  } else {
    human.push('Your message was delivered to the recipients below.', '');
  }
  for (const r of recipients) {
    const why = r.diagnostic ? (r.remoteMta ? `host ${r.remoteMta} said: ${oneLine(r.diagnostic)}` : oneLine(r.diagnostic)) : r.action;
    human.push(`<${r.address}>: ${why}`);
  }
  human.push('');

  // RFC 3464 §2.2: per-message fields, then one block per recipient (§2.3)
  const status: string[] = [];
  status.push(`Reporting-MTA: dns; ${hostname}`);
  status.push(`X-Yubin-Queue-ID: ${input.queueId}`);
  if (input.envid) status.push(`Original-Envelope-Id: ${oneLine(input.envid)}`);
  status.push(`Arrival-Date: ${rfc5322Date(input.arrivalDate)}`);
  for (const r of recipients) {
    status.push('');
    if (r.orcpt) status.push(`Original-Recipient: ${oneLine(r.orcpt.type)}; ${oneLine(r.orcpt.address)}`);
    status.push(`Final-Recipient: rfc822; ${r.address}`);
    status.push(`Action: ${r.action}`);
    status.push(`Status: ${r.status}`);
    if (r.remoteMta) status.push(`Remote-MTA: dns; ${r.remoteMta}`);
    // RFC 3464 §2.3.6: the diagnostic type "smtp" carries the SMTP reply
    if (r.diagnostic) status.push(`Diagnostic-Code: smtp; ${oneLine(r.diagnostic)}`);
    if (r.lastAttempt) status.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttempt)}`);
    if (r.willRetryUntil) status.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
  }

  const lines: string[] = [
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: <${input.to}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <${input.now.getTime().toString(36)}.${randomBytes(6).toString('hex')}@${hostname}>`,
    // RFC 3834 §5: automatic replies say so, so nobody auto-replies to them
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Transfer-Encoding: ${utf8 ? '8bit' : '7bit'}`,
    '',
    ...human,
    `--${boundary}`,
    'Content-Description: Delivery report',
    `Content-Type: message/${utf8 ? 'global-delivery-status' : 'delivery-status'}`,
    '',
    ...status,
    '',
    `--${boundary}`,
    `Content-Description: ${full ? 'Undelivered Message' : 'Undelivered Message Headers'}`,
    `Content-Type: ${full ? (utf8 ? 'message/global' : 'message/rfc822') : utf8 ? 'message/global-headers' : 'text/rfc822-headers'}`,
    ...(hasNonAscii(returned) ? ['Content-Transfer-Encoding: 8bit'] : []),
    '',
    '',
  ];
  const head = Buffer.from(lines.join('\r\n'), 'utf8');
  const body = normaliseCrlf(returned);
  const tail = Buffer.from(`${body.length && body[body.length - 1] !== 10 ? '\r\n' : ''}\r\n--${boundary}--\r\n`, 'utf8');
  return { bytes: Buffer.concat([head, body, tail]), needsUtf8: utf8, subject };
}

function normaliseCrlf(b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}
