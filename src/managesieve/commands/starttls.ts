// STARTTLS (RFC 5804 §2.2): TLS in the non-authenticated state, then the capabilities again.
import { ok } from '../wire.js';
import { capabilityLines } from './capability.js';
import { MsError, NONAUTH, command, noArgs } from './common.js';

export const starttls = command({
  name: 'STARTTLS',
  states: NONAUTH,
  parse: noArgs('STARTTLS'),
  async run(c) {
    if (c.transport.tls !== null) throw new MsError('TLS is already active', null, true);
    await c.send(ok('Begin TLS negotiation now'));
    try {
      // RFC 5804 §2.2 (and RFC 3207 §4.2): what the client sent before the handshake is dropped.
      await c.upgradeTls();
    } catch (err) {
      c.log.info({ err }, 'managesieve TLS handshake failed');
      c.close();
      return;
    }
    // RFC 5804 §2.2: after a successful negotiation the server re-issues the capability results, then OK.
    await c.send(capabilityLines(c) + ok('TLS negotiation successful'));
  },
});
