// NOOP (RFC 1939 §5).
import { okLine } from '../wire.js';
import { TRANSACTION, command, noArgs } from './common.js';

export const noop = command({
  name: 'NOOP',
  states: TRANSACTION,
  parse: noArgs,
  async run(c) {
    await c.send(okLine());
  },
});
