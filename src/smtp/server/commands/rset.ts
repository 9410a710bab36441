// RSET (RFC 5321 §4.1.1.5): drops the transaction, keeps the greeting and authentication.
import { SmtpError } from '../errors.js';
import type { SmtpCommand } from '../state.js';

export const rset: SmtpCommand<void> = {
  name: 'RSET',
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  parse(args) {
    if (args.trim()) throw new SmtpError(501, '5.5.4', 'Syntax: RSET');
  },
  async run(s) {
    await s.resetTransaction();
    s.reply(250, '2.0.0', 'Ok');
  },
};
