// HELP (RFC 5321 §4.1.1.8).
import type { SmtpCommand } from '../state.js';

export const help: SmtpCommand<void> = {
  name: 'HELP',
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  parse() {},
  async run(s) {
    s.reply(214, '2.0.0', [
      'Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH',
      'See RFC 5321; Yubin mail server',
    ]);
  },
};
