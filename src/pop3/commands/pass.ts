// PASS (RFC 1939 §7): the password for the name given with USER.
import { AUTHORIZATION, Pop3Error, command, requireAuthAllowed } from './common.js';
import { login } from './login.js';

export const pass = command({
  name: 'PASS',
  states: AUTHORIZATION,
  // RFC 1939 §7: PASS has one argument; spaces in it are part of the password.
  parse: (cmd): string => cmd.rest,
  async run(c, password) {
    requireAuthAllowed(c);
    if (c.user === null) throw new Pop3Error('USER first', undefined, true);
    await login(c, c.user, password, '');
  },
});
