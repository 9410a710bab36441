// STAT (RFC 1939 §5): "+OK nn mm": messages not marked deleted, and their size in octets.
import { okLine } from '../wire.js';
import { TRANSACTION, command, dropOf, noArgs } from './common.js';

export const stat = command({
  name: 'STAT',
  states: TRANSACTION,
  parse: noArgs,
  async run(c) {
    const { count, size } = dropOf(c).stat();
    await c.send(okLine(`${count} ${size}`));
  },
});
