// LIST [msg] (RFC 1939 §5): scan listings: number and size.
import { okLine } from '../wire.js';
import { Pop3Error, TRANSACTION, command, dropOf, listing, maildropSummary, messageAt, messageNumber, sendList } from './common.js';

export const list = command({
  name: 'LIST',
  states: TRANSACTION,
  parse(cmd): number | null {
    if (cmd.args.length > 1) throw new Pop3Error('LIST takes at most one argument', undefined, true);
    return cmd.args.length === 1 ? messageNumber(cmd.args[0]) : null;
  },
  async run(c, n) {
    if (n !== null) {
      const e = messageAt(c, n);
      await c.send(okLine(`${e.number} ${e.size}`));
      return;
    }
    const drop = dropOf(c);
    await sendList(c, okLine(maildropSummary(drop)), listing(drop, (e) => `${e.number} ${e.size}`));
  },
});
