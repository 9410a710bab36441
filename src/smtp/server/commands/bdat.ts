// BDAT (RFC 3030 §2): the message in chunks of a declared size, no dot-stuffing. The chunk is
// always read, even when the command is refused, so its bytes never run as commands.
import { join } from 'node:path';
import { SmtpError } from '../errors.js';
import { Intake, intakeLimits } from '../intake.js';
import type { SessionApi, SmtpCommand } from '../state.js';
import { finishMessage } from './finish.js';

export function spoolDir(s: SessionApi): string {
  return join(s.ctx.config.data_dir, 'smtp-spool');
}

export interface BdatArgs {
  size: number;
  last: boolean;
}

export const bdat: SmtpCommand<BdatArgs> = {
  name: 'BDAT',
  // Allowed everywhere so that the chunk is consumed; run() refuses the wrong states.
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  parse(args) {
    // RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; chunk-size = 1*DIGIT
    const m = /^(\d{1,15})(?: (LAST))?$/i.exec(args.trim());
    if (!m) throw new SmtpError(501, '5.5.4', 'Syntax: BDAT size [LAST]');
    return { size: Number(m[1]), last: m[2] !== undefined };
  },
  async run(s, a) {
    const tx = s.tx;
    const refuse = !tx ? new SmtpError(503, '5.5.1', s.state === 'init' ? 'Send EHLO or HELO first' : 'Need MAIL command first') : !tx.recipients.length ? new SmtpError(554, '5.5.1', 'No valid recipients') : null;
    if (refuse || !tx) {
      // Read and drop the chunk (RFC 3030 §2: the data is consumed even when the command fails).
      const sink = new Intake(spoolDir(s), 0, 'bdat');
      sink.oversize = true;
      try {
        if (!(await s.receiveChunk(sink, a.size))) return;
      } finally {
        await sink.abort();
      }
      if (tx) await s.resetTransaction();
      throw refuse!;
    }
    let intake = tx.intake;
    if (!intake) {
      intake = new Intake(spoolDir(s), s.ctx.config.smtp.max_message_size, 'bdat', tx.body === 'BINARYMIME', intakeLimits(s.ctx.config.smtp));
      tx.intake = intake;
      s.state = 'bdat';
    }
    if (!(await s.receiveChunk(intake, a.size))) return;
    if (!a.last) {
      s.reply(250, '2.0.0', `${a.size} octets received`);
      return;
    }
    intake.scanner.end();
    tx.intake = null;
    await finishMessage(s, intake);
  },
};
