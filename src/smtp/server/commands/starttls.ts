// STARTTLS (RFC 3207): upgrade to TLS, then start over (the client sends EHLO again).
import { SmtpError } from '../errors.js';
import type { SmtpCommand } from '../state.js';

export const starttls: SmtpCommand<void> = {
  name: 'STARTTLS',
  states: ['init', 'ready'],
  wrongState: () => 'STARTTLS not allowed during a mail transaction',
  parse(args) {
    // RFC 3207 §4: "501 Syntax error (no parameters allowed)"
    if (args !== '') throw new SmtpError(501, '5.5.4', 'Syntax error (no parameters allowed)');
  },
  async run(s) {
    // RFC 3207 §4.2: STARTTLS is not offered, and refused, once TLS is active.
    if (s.transport.tls) throw new SmtpError(503, '5.5.1', 'TLS already active');
    s.reply(220, '2.0.0', 'Ready to start TLS');
    try {
      await s.startTls();
    } catch (err) {
      s.log.info({ err: String(err) }, 'tls handshake failed');
      s.close();
    }
  },
};
