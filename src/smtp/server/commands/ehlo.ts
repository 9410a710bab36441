// EHLO (RFC 5321 §4.1.1.1): greets, resets the transaction, lists the extensions this session offers.
import type { SessionApi, SmtpCommand } from '../state.js';
import { greeting } from './helo.js';

/** The extension keywords for this session, in the order they are listed. */
export function extensions(s: SessionApi): string[] {
  const tls = s.transport.tls !== null;
  const ext = [
    'PIPELINING', // RFC 2920 §2: pipelined commands
    `SIZE ${s.ctx.config.smtp.max_message_size}`, // RFC 1870 §4: SIZE with our fixed maximum (0: none)
    '8BITMIME', // RFC 6152 §2: 8-bit content with BODY=8BITMIME
    'SMTPUTF8', // RFC 6531 §3.2: UTF-8 addresses and headers
    'ENHANCEDSTATUSCODES', // RFC 2034 §3: enhanced codes on replies
    'CHUNKING', // RFC 3030 §2: BDAT
    'BINARYMIME', // RFC 3030 §3: BODY=BINARYMIME with BDAT
    'DSN', // RFC 3461 §4: NOTIFY, ORCPT, RET, ENVID
  ];
  // RFC 3207 §4.2: not offered again once TLS is active.
  if (!tls) ext.push('STARTTLS');
  // RFC 4954 §4: AUTH only for submission, and only over TLS (no passwords in the clear).
  if (tls && s.isSubmission) ext.push('AUTH PLAIN LOGIN');
  // RFC 8689 §4: REQUIRETLS is offered only on a TLS session.
  if (tls) ext.push('REQUIRETLS');
  ext.push('HELP');
  return ext;
}

export const ehlo: SmtpCommand<string> = {
  name: 'EHLO',
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  lastInGroup: true,
  parse: (args) => args,
  async run(s, name) {
    await greeting(s, name, true);
    // RFC 2034 §3: no enhanced code in the EHLO reply.
    s.reply(250, null, [`${s.ctx.config.hostname} greets you`, ...extensions(s)]);
  },
};
