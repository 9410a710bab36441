// CAPA (RFC 2449 §5): the capability list, which depends on the state and on TLS.
import { okLine } from '../wire.js';
import { BOTH, MECHANISMS, authAllowed, command, noArgs, sendList, type Pop3Conn } from './common.js';

export function capabilities(c: Pop3Conn): string[] {
  // RFC 2449 §5: CAPA lists the capabilities, which may differ before and after login
  const caps = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
  if (c.state === 'authorization') {
    if (authAllowed(c)) {
      caps.push('USER', `SASL ${MECHANISMS.join(' ')}`);
    }
    // RFC 2595 §4: STLS is offered only in AUTHORIZATION state and only before TLS is active.
    if (c.transport.tls === null) caps.push('STLS');
    // RFC 6856 §2: "UTF8 USER" says USER/PASS take UTF-8.
    caps.push('UTF8 USER');
  }
  caps.push('IMPLEMENTATION Yubin');
  return caps;
}

export const capa = command({
  name: 'CAPA',
  states: BOTH,
  parse: noArgs,
  async run(c) {
    await sendList(c, okLine('Capability list follows'), capabilities(c));
  },
});
