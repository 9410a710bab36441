// STARTTLS, LOGIN, AUTHENTICATE (RFC 9051 §6.2; SASL-IR RFC 4959; PLAIN RFC 4616; LOGIN
// draft-murchison-sasl-login).
import { ANSWERED, defineCommand, noArgs, type CommandResult, type ImapConn } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { SaslError, type AuthResult } from '../../auth/types.js';
import { createSasl, decodeSaslResponse, encodeSaslChallenge } from '../../auth/index.js';
import type { ArgReader } from '../wire/tokenizer.js';

const NOTAUTH = ['notauth'] as const;

function requirePrivacy(conn: ImapConn): void {
  // RFC 9051 §6.2.3: LOGIN (and plaintext SASL) refused while LOGINDISABLED is advertised
  if (!conn.transport.tls && !conn.ctx.config.auth.allow_plaintext) throw new ImapError('NO', 'PRIVACYREQUIRED', 'Use STARTTLS first');
}

export const starttls = defineCommand({
  name: 'STARTTLS',
  states: NOTAUTH,
  parse: noArgs,
  async run(conn, _p, { tag }) {
    if (conn.transport.tls) throw new ImapError('BAD', null, 'TLS is already active');
    conn.finishTagged(tag, 'OK', null, 'Begin TLS negotiation now');
    // RFC 9051 §6.2.1: input pipelined after STARTTLS is discarded (the core's upgradeTls)
    try {
      await conn.startTls();
    } catch (e) {
      conn.log.info({ err: e }, 'STARTTLS handshake failed');
    }
    return ANSWERED;
  },
});

async function finishLogin(conn: ImapConn, username: string, password: string, authzid: string): Promise<CommandResult> {
  let result: AuthResult;
  if (authzid && authzid.toLowerCase() !== username.toLowerCase()) result = { ok: false, reason: 'invalid' };
  else result = await conn.ctx.auth.authenticate({ username, password, authzid, ip: conn.transport.remoteAddress, protocol: 'imap' });
  if (!result.ok) {
    // RFC 5530 §3: AUTHENTICATIONFAILED / UNAVAILABLE
    if (result.reason === 'throttled') throw new ImapError('NO', 'UNAVAILABLE', 'Too many failed logins; try again later');
    throw new ImapError('NO', 'AUTHENTICATIONFAILED', 'Authentication failed');
  }
  conn.loggedIn(result.account);
  // RFC 9051 §6.2.2: the tagged OK may carry the new CAPABILITY list
  return { code: `CAPABILITY ${conn.capabilities().join(' ')}`, text: 'Logged in' };
}

/** RFC 9051 §6.2.3: LOGIN userid password (astrings). */
export function parseLogin(args: ArgReader): { user: string; pass: string } {
  const user = args.astring();
  const pass = args.astring();
  args.end();
  return { user, pass };
}

export const login = defineCommand({
  name: 'LOGIN',
  states: NOTAUTH,
  parse: parseLogin,
  async run(conn, { user, pass }) {
    requirePrivacy(conn);
    return finishLogin(conn, user, pass, '');
  },
});

/** One client response of AUTHENTICATE, base64 (RFC 9051 §6.2.2); "*" cancels. */
function decodeResponse(line: string): Buffer {
  const r = decodeSaslResponse(line.trim());
  if (!r) throw new ImapError('BAD', null, 'Invalid base64');
  // RFC 9051 §6.2.2: "*" cancels the exchange, answered with BAD
  if (r.cancel) throw new ImapError('BAD', null, 'AUTHENTICATE cancelled');
  return r.data;
}

/** RFC 9051 §6.2.2, RFC 4959 §3: AUTHENTICATE mechanism [initial-response]; "=" is an empty response. */
export function parseAuthenticate(args: ArgReader): { mech: string; ir: Buffer | null } {
  const mech = args.atom().toUpperCase();
  const ir = args.done ? null : decodeResponse(args.atom());
  args.end();
  return { mech, ir };
}

export const authenticate = defineCommand({
  name: 'AUTHENTICATE',
  states: NOTAUTH,
  parse: parseAuthenticate,
  async run(conn, { mech: mechName, ir }) {
    const mech = createSasl(mechName);
    if (!mech) throw new ImapError('NO', 'CANNOT', `Unsupported mechanism ${mechName.slice(0, 20)}`);
    requirePrivacy(conn);
    let response = ir;
    for (;;) {
      let r;
      try {
        r = mech.step(response);
      } catch (e) {
        if (e instanceof SaslError) throw new ImapError('BAD', null, e.message);
        throw e;
      }
      if (!('challenge' in r)) return finishLogin(conn, r.credentials.username, r.credentials.password, r.credentials.authzid);
      // RFC 9051 §7.6: the challenge goes in a continuation request, base64
      conn.send(`+ ${encodeSaslChallenge(r.challenge)}`);
      const line = await conn.readLine();
      if (line === null) return ANSWERED; // the session ended meanwhile
      response = decodeResponse(line.toString('latin1'));
    }
  },
});
