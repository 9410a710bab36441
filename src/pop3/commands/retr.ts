// RETR msg (RFC 1939 §5): the whole message, dot-stuffed.
import { Pop3Error, TRANSACTION, command, messageNumber, retrStatus, retrievable, sendMessage } from './common.js';

export const retr = command({
  name: 'RETR',
  states: TRANSACTION,
  parse(cmd): number {
    if (cmd.args.length !== 1) throw new Pop3Error('RETR takes a message number', undefined, true);
    return messageNumber(cmd.args[0]);
  },
  async run(c, n) {
    const e = retrievable(c, n);
    // RFC 1939 §7: the size is the octets of the message as sent, before byte-stuffing.
    await sendMessage(c, retrStatus(e), e);
  },
});
