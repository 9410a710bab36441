// RSET (RFC 1939 §5): unmarks every message marked as deleted.
import { okLine } from '../wire.js';
import { TRANSACTION, command, dropOf, maildropSummary, noArgs } from './common.js';

export const rset = command({
  name: 'RSET',
  states: TRANSACTION,
  parse: noArgs,
  async run(c) {
    const drop = dropOf(c);
    drop.reset();
    await c.send(okLine(maildropSummary(drop)));
  },
});
