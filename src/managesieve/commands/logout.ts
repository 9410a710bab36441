// LOGOUT (RFC 5804 §2.3): OK, then the server closes the connection.
import { ok } from '../wire.js';
import { ANY, command, noArgs } from './common.js';

export const logout = command({
  name: 'LOGOUT',
  states: ANY,
  parse: noArgs('LOGOUT'),
  async run(c) {
    await c.send(ok('Logout complete'));
    c.close();
  },
});
