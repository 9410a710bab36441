// TOP msg n (RFC 1939 §7): the header, the blank line, and the first n lines of the body.
import { okLine, parseCount } from '../wire.js';
import { Pop3Error, TRANSACTION, command, dropOf, messageNumber, retrievable, sendMessage } from './common.js';

export const top = command({
  name: 'TOP',
  states: TRANSACTION,
  parse(cmd): { n: number; lines: number } {
    if (cmd.args.length !== 2) throw new Pop3Error('TOP takes a message number and a number of lines', undefined, true);
    const n = messageNumber(cmd.args[0]);
    const lines = parseCount(cmd.args[1]);
    if (lines === null) throw new Pop3Error('Invalid number of lines', undefined, true);
    return { n, lines };
  },
  async run(c, { n, lines }) {
    const e = retrievable(c, n);
    // The header's end is known from the structure parsed at delivery (never re-parsed here).
    const structure = await c.ctx.store.getStructure(dropOf(c).mailboxId, e.uid);
    if (!structure) {
      e.gone = true;
      throw new Pop3Error('Message was deleted by another session');
    }
    await sendMessage(c, okLine('Top of message follows'), e, { bodyStart: structure.root.bodyStart, lines });
  },
});
