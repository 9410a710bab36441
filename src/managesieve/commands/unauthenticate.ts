// UNAUTHENTICATE (RFC 5804 §2.14): back to the non-authenticated state.
import { ok } from '../wire.js';
import { AUTH, command, noArgs } from './common.js';

export const unauthenticate = command({
  name: 'UNAUTHENTICATE',
  states: AUTH,
  parse: noArgs('UNAUTHENTICATE'),
  async run(c) {
    c.loggedOut();
    await c.send(ok());
  },
});
