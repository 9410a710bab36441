// DELE msg (RFC 1939 §5): marks the message; it is removed in the UPDATE state.
import { okLine } from '../wire.js';
import { Pop3Error, TRANSACTION, command, messageAt, messageNumber } from './common.js';

export const dele = command({
  name: 'DELE',
  states: TRANSACTION,
  parse(cmd): number {
    if (cmd.args.length !== 1) throw new Pop3Error('DELE takes a message number', undefined, true);
    return messageNumber(cmd.args[0]);
  },
  async run(c, n) {
    const e = messageAt(c, n);
    e.deleted = true;
    await c.send(okLine(`Message ${e.number} deleted`));
  },
});
