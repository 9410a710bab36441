// UIDL [msg] (RFC 1939 §7): unique-id listings, stable across sessions.
import { okLine, uniqueId } from '../wire.js';
import { Pop3Error, TRANSACTION, command, dropOf, listing, messageAt, messageNumber, sendList } from './common.js';

export const uidl = command({
  name: 'UIDL',
  states: TRANSACTION,
  parse(cmd): number | null {
    if (cmd.args.length > 1) throw new Pop3Error('UIDL takes at most one argument', undefined, true);
    return cmd.args.length === 1 ? messageNumber(cmd.args[0]) : null;
  },
  async run(c, n) {
    const drop = dropOf(c);
    if (n !== null) {
      const e = messageAt(c, n);
      await c.send(okLine(`${e.number} ${uniqueId(drop.uidValidity, e.uid)}`));
      return;
    }
    await sendList(c, okLine('Unique-ID listing follows'), listing(drop, (e) => `${e.number} ${uniqueId(drop.uidValidity, e.uid)}`));
  },
});
