// USER (RFC 1939 §7): the name for the PASS that follows.
import { okLine } from '../wire.js';
import { AUTHORIZATION, Pop3Error, command, requireAuthAllowed } from './common.js';

export const user = command({
  name: 'USER',
  states: AUTHORIZATION,
  parse(cmd): string {
    const name = cmd.rest.trim();
    if (!name) throw new Pop3Error('USER needs a name', undefined, true);
    return name;
  },
  async run(c, name) {
    requireAuthAllowed(c);
    c.user = name;
    // The same reply whether the user exists or not.
    await c.send(okLine('Send your password'));
  },
});
