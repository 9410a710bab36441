// QUIT (RFC 5321 §4.1.1.10): 221, then the server closes.
import { SmtpError } from '../errors.js';
import type { SmtpCommand } from '../state.js';

export const quit: SmtpCommand<void> = {
  name: 'QUIT',
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  parse(args) {
    if (args.trim()) throw new SmtpError(501, '5.5.4', 'Syntax: QUIT');
  },
  async run(s) {
    s.reply(221, '2.0.0', `${s.ctx.config.hostname} Bye`);
    await s.resetTransaction();
    s.close();
  },
};
