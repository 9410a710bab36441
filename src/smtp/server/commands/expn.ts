// EXPN (RFC 5321 §3.5.3, §7.3): mailing lists are not disclosed.
import type { SmtpCommand } from '../state.js';

export const expn: SmtpCommand<void> = {
  name: 'EXPN',
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  parse() {},
  async run(s) {
    s.reply(502, '5.5.1', 'EXPN not available');
  },
};
