// APOP (RFC 1939 §7): needs the password in the clear on the server; Yubin stores hashes only.
// todo(RFC 1939 §7): APOP is refused: it needs each password stored in the clear.
import { AUTHORIZATION, Pop3Error, command } from './common.js';

export const apop = command({
  name: 'APOP',
  states: AUTHORIZATION,
  parse: () => undefined,
  async run() {
    throw new Pop3Error('APOP is not supported (passwords are stored hashed): use USER/PASS or AUTH over TLS');
  },
});
