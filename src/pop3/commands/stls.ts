// STLS (RFC 2595 §4): upgrade to TLS in the AUTHORIZATION state.
import { okLine } from '../wire.js';
import { AUTHORIZATION, Pop3Error, command, noArgs } from './common.js';

export const stls = command({
  name: 'STLS',
  states: AUTHORIZATION,
  parse: noArgs,
  async run(c) {
    if (c.transport.tls !== null) throw new Pop3Error('TLS is already active', undefined, true);
    await c.send(okLine('Begin TLS negotiation'));
    // RFC 2595 §4: after TLS the session starts over; USER given before is forgotten.
    c.user = null;
    c.utf8 = false;
    try {
      // RFC 2595 §4: the client must not pipeline after STLS; anything it sent before the
      // handshake is discarded (a command injected in plaintext must not run under TLS).
      await c.upgradeTls();
    } catch (err) {
      c.log.info({ err }, 'pop3 TLS handshake failed');
      c.close();
    }
  },
});
