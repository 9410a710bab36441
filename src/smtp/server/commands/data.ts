// DATA (RFC 5321 §4.1.1.4): 354, then the message up to CRLF "." CRLF, streamed to the spool.
import { SmtpError } from '../errors.js';
import { Intake, intakeLimits } from '../intake.js';
import type { SmtpCommand } from '../state.js';
import { finishMessage } from './finish.js';
import { spoolDir } from './bdat.js';

export const data: SmtpCommand<void> = {
  name: 'DATA',
  states: ['mail', 'rcpt'],
  wrongState: (st) => (st === 'init' ? 'Send EHLO or HELO first' : st === 'bdat' ? 'DATA not allowed after BDAT' : 'Need MAIL command first'),
  // RFC 2920 §3.1: DATA ends a pipelined group; the message may only follow our 354.
  lastInGroup: true,
  parse(args) {
    if (args.trim()) throw new SmtpError(501, '5.5.4', 'Syntax: DATA');
  },
  async run(s) {
    const tx = s.tx!;
    // RFC 2920 §3.1 / RFC 5321 §3.3: DATA with no accepted recipient.
    if (!tx.recipients.length) throw new SmtpError(554, '5.5.1', 'No valid recipients');
    // RFC 3030 §3: BINARYMIME content can only be sent with BDAT.
    if (tx.body === 'BINARYMIME') throw new SmtpError(503, '5.5.1', 'BODY=BINARYMIME requires BDAT');
    const intake = new Intake(spoolDir(s), s.ctx.config.smtp.max_message_size, 'data', false, intakeLimits(s.ctx.config.smtp));
    s.reply(354, null, 'End data with <CR><LF>.<CR><LF>');
    let complete = false;
    try {
      complete = await s.receiveData(intake);
    } finally {
      if (!complete) await intake.abort();
    }
    if (complete) await finishMessage(s, intake);
  },
};
