// CAPABILITY (RFC 5804 §2.4): the capability list, which depends on TLS and on the login.
import { SASL_MECHANISMS } from '../../auth/index.js';
import { SIEVE_EXTENSIONS } from '../../sieve/index.js';
import { ok, str } from '../wire.js';
import { ANY, command, noArgs, type MsConn } from './common.js';

/** AUTHENTICATE is allowed now: under TLS, or when the operator allows plaintext (as IMAP and POP3). */
export function authAllowed(c: MsConn): boolean {
  return c.transport.tls !== null || c.ctx.config.auth.allow_plaintext;
}

/** RFC 5804 §1.7: the capability response lines (without the final OK). */
export function capabilityLines(c: MsConn): string {
  const lines: Array<[string, string | null]> = [['IMPLEMENTATION', 'Yubin']];
  // RFC 5804 §1.7: SASL lists the mechanisms available now; none before TLS when plaintext is refused, none once logged in.
  lines.push(['SASL', c.state === 'nonauth' && authAllowed(c) ? SASL_MECHANISMS.join(' ') : '']);
  lines.push(['SIEVE', SIEVE_EXTENSIONS.join(' ')]);
  // RFC 5804 §1.7: STARTTLS only when TLS can still be started (not under TLS, not logged in).
  if (c.transport.tls === null && c.state === 'nonauth') lines.push(['STARTTLS', null]);
  lines.push(['MAXREDIRECTS', String(c.ctx.config.sieve.max_redirects)]);
  if (c.state === 'auth' && c.account) lines.push(['OWNER', c.account.address]);
  // RFC 5804 §2.14: a server that supports UNAUTHENTICATE advertises it
  lines.push(['UNAUTHENTICATE', null]);
  lines.push(['VERSION', '1.0']);
  return lines.map(([k, v]) => (v === null ? str(k) : `${str(k)} ${str(v)}`) + '\r\n').join('');
}

export const capability = command({
  name: 'CAPABILITY',
  states: ANY,
  parse: noArgs('CAPABILITY'),
  async run(c) {
    await c.send(capabilityLines(c) + ok());
  },
});
