// VRFY (RFC 5321 §3.5.3, §7.3): 252, which reveals nothing about who exists here.
import { SmtpError } from '../errors.js';
import type { SmtpCommand } from '../state.js';

export const vrfy: SmtpCommand<void> = {
  name: 'VRFY',
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  parse(args) {
    if (!args.trim()) throw new SmtpError(501, '5.5.4', 'Syntax: VRFY address');
  },
  async run(s) {
    s.reply(252, '2.5.0', 'Cannot VRFY user, but will accept message and attempt delivery');
  },
};
