// UTF8 (RFC 6856 §2): UTF-8 in USER/PASS; messages are sent as they are.
import { okLine } from '../wire.js';
import { AUTHORIZATION, command, noArgs } from './common.js';

export const utf8 = command({
  name: 'UTF8',
  states: AUTHORIZATION,
  parse: noArgs,
  async run(c) {
    // RFC 6856 §2: UTF8 enables UTF-8 mode: UTF-8 in USER/PASS, and messages are sent as they are.
    // todo(RFC 6856 §2): a message with UTF-8 header fields is also sent as stored to a client that did not send UTF8 (no RFC 6857 downgrade).
    c.utf8 = true;
    await c.send(okLine('UTF8 enabled'));
  },
});
