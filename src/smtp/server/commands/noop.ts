// NOOP (RFC 5321 §4.1.1.9): any argument is ignored.
import type { SmtpCommand } from '../state.js';

export const noop: SmtpCommand<void> = {
  name: 'NOOP',
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  parse() {},
  async run(s) {
    s.reply(250, '2.0.0', 'Ok');
  },
};
