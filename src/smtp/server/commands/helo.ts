// HELO (RFC 5321 §4.1.1.1): plain SMTP greeting; shares its checks with EHLO.
import { SmtpError } from '../errors.js';
import type { SessionApi, SmtpCommand } from '../state.js';
import { enforceVerdict } from '../verdict.js';

/** The EHLO/HELO argument: one printable token (a domain or an address literal, RFC 5321 §4.1.1.1). */
export function parseHeloName(args: string): string {
  const name = args.trim();
  if (!name) throw new SmtpError(501, '5.5.4', 'Syntax: EHLO hostname');
  if (!/^[\x21-\x7e]+$/.test(name) || name.length > 255) throw new SmtpError(501, '5.5.2', 'Invalid hostname');
  return name;
}

/** Common to EHLO and HELO: the helo check (inbound), then a fresh transaction (RFC 5321 §4.1.4). */
export async function greeting(s: SessionApi, args: string, esmtp: boolean): Promise<void> {
  const name = parseHeloName(args);
  if (s.transport.listener === 'smtp') {
    const v = await s.ctx.checks.helo({ ...s.transactionInfo(), helo: name });
    enforceVerdict(v, { reject: 550, tempfail: 450, text: 'Hostname refused' });
  }
  await s.resetTransaction();
  s.helo = name;
  s.esmtp = esmtp;
  s.state = 'ready';
}

export const helo: SmtpCommand<string> = {
  name: 'HELO',
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  lastInGroup: true,
  parse: (args) => args,
  async run(s, name) {
    await greeting(s, name, false);
    s.reply(250, null, s.ctx.config.hostname);
  },
};
