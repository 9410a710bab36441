// The header work of the cleanup stage (DESIGN.md "Queue": session → cleanup): the Received
// trace field, Return-Path, Message-ID and Date for submission, and removal of header fields
// the checks name (forged Authentication-Results...). Header bytes are kept as they are
// (latin1 strings map octets one to one), only whole fields are added or dropped.
import { randomHex } from '../../net/random.js';
import { formatRfc5322Date } from '../../message/date.js';

export interface HeaderField {
  /** Lower case name. */
  name: string;
  /** The whole field as received, with its folded lines and final CRLF (latin1 string). */
  raw: string;
}

/** Splits a header section (without or with its final empty line) into fields; the empty line is dropped. */
export function splitHeader(section: Buffer): HeaderField[] {
  const text = section.toString('latin1');
  const fields: HeaderField[] = [];
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('\r\n', i)) break; // the empty line
    let end = i;
    // RFC 5322 §2.2.3: a field continues on lines that start with WSP.
    for (;;) {
      const crlf = text.indexOf('\r\n', end);
      if (crlf < 0) {
        end = text.length;
        break;
      }
      end = crlf + 2;
      const next = text[end];
      if (next !== ' ' && next !== '\t') break;
    }
    const raw = text.slice(i, end);
    const colon = raw.indexOf(':');
    fields.push({ name: colon > 0 ? raw.slice(0, colon).trim().toLowerCase() : '', raw });
    i = end;
  }
  return fields;
}

/** The unfolded value of a field, decoded as UTF-8 (RFC 6532 allows UTF-8 in header values). */
export function fieldValue(f: HeaderField): string {
  const colon = f.raw.indexOf(':');
  return Buffer.from(f.raw.slice(colon + 1), 'latin1')
    .toString('utf8')
    .replace(/\r\n(?=[ \t])/g, '')
    .replace(/\r\n$/, '')
    .trim();
}

/** RFC 5322 §3.3 date-time, in UTC: "Sat, 28 Nov 2026 16:00:00 +0000". */
export const formatDate = formatRfc5322Date;

/** RFC 5322 §3.6.4 msg-id, unique: "<time.random@hostname>". */
export function newMessageId(hostname: string): string {
  return `<${Date.now().toString(36)}.${randomHex(9)}@${hostname}>`;
}

/** Keeps only characters that cannot start a comment, end a clause or break the header. */
function traceToken(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9.\-_:[\]]/g, '_').slice(0, 255);
  return clean || 'unknown';
}

const SAFE_ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$/;

export interface ReceivedInfo {
  helo: string | null;
  ptr: string | null;
  ip: string;
  hostname: string;
  /** RFC 3848 / RFC 6531 §3.7.3 protocol type: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP... */
  esmtp: boolean;
  tls: { protocol: string; cipher: string } | null;
  authenticated: boolean;
  smtputf8: boolean;
  id: string;
  /** Only when the message has exactly one recipient (no list of recipients leaks). */
  recipient: string | null;
  date: Date;
}

/** The WITH protocol name (RFC 3848 §2, RFC 6531 §3.7.3). */
export function withProtocol(i: Pick<ReceivedInfo, 'esmtp' | 'tls' | 'authenticated' | 'smtputf8'>): string {
  if (!i.esmtp) return 'SMTP';
  const base = i.smtputf8 ? 'UTF8SMTP' : 'ESMTP';
  return base + (i.tls ? 'S' : '') + (i.authenticated ? 'A' : '');
}

/**
 * RFC 5321 §4.4: the Received trace field, "from" the client (its EHLO name, the verified
 * reverse-DNS name and the IP) "by" us "with" the protocol, our id and, for one recipient,
 * "for" it. Client-supplied text is filtered to a safe token set so it can never inject a
 * header line or a clause.
 */
export function receivedHeader(i: ReceivedInfo): string {
  const from = traceToken(i.helo ?? 'unknown');
  const ptr = i.ptr ? traceToken(i.ptr) : 'unknown';
  const ip = i.ip.includes(':') ? `IPv6:${i.ip}` : i.ip;
  let h = `Received: from ${from} (${ptr} [${traceToken(ip)}])\r\n\tby ${i.hostname} (Yubin) with ${withProtocol(i)}`;
  if (i.tls) h += `\r\n\t(${traceToken(i.tls.protocol)} cipher ${traceToken(i.tls.cipher)})`;
  h += ` id ${i.id}`;
  if (i.recipient && SAFE_ADDRESS.test(i.recipient)) h += `\r\n\tfor <${i.recipient}>`;
  h += `;\r\n\t${formatDate(i.date)}\r\n`;
  return h;
}

/** RFC 5321 §4.4: Return-Path, added at final delivery only, with the envelope sender. */
export function returnPathHeader(from: string): string {
  // The sender was validated by the MAIL parser (no controls, no line ends).
  return `Return-Path: <${from}>\r\n`;
}

/** A header line given by a check ("Name: value", no CRLF); refused when it could break the header. */
export function checkHeaderLine(line: string): string | null {
  // Folding (CRLF followed by a space or tab) is allowed; any other CR, LF or NUL is not.
  const unfolded = line.replace(/\r\n(?=[ \t])/g, '');
  // eslint-disable-next-line no-control-regex
  if (/[\r\n\x00]/.test(unfolded) || !/^[!-9;-~]+:/.test(unfolded)) return null;
  return line + '\r\n';
}
