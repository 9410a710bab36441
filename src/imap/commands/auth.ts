// STARTTLS, LOGIN, AUTHENTICATE (RFC 9051 §6.2; SASL-IR RFC 4959; PLAIN RFC 4616; LOGIN
// draft-murchison-sasl-login).
import { PENDING, type CommandDescriptor, type ImapConn } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { SaslError, type AuthResult } from '../../auth/types.js';
import { createSasl, decodeSaslResponse, encodeSaslChallenge } from '../../auth/index.js';

const NOTAUTH = ['notauth'] as const;

function requirePrivacy(conn: ImapConn): void {
  // RFC 9051 §6.2.3: LOGIN (and plaintext SASL) refused while LOGINDISABLED is advertised
  if (!conn.transport.tls && !conn.ctx.config.auth.allow_plaintext) throw new ImapError('NO', 'PRIVACYREQUIRED', 'Use STARTTLS first');
}

export const starttls: CommandDescriptor = {
  states: NOTAUTH,
  async run({ tag, args, conn }) {
    args.end();
    if (conn.transport.tls) throw new ImapError('BAD', null, 'TLS is already active');
    conn.finishTagged(tag, 'OK', null, 'Begin TLS negotiation now');
    // RFC 9051 §6.2.1: input pipelined after STARTTLS is discarded (framer.discardBuffered)
    try {
      await conn.startTls();
    } catch (e) {
      conn.log.info({ err: e }, 'STARTTLS handshake failed');
    }
    return PENDING;
  },
};

async function finishLogin(conn: ImapConn, tag: string, username: string, password: string, authzid: string): Promise<void> {
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
  conn.finishTagged(tag, 'OK', `CAPABILITY ${conn.capabilities().join(' ')}`, 'Logged in');
}

export const login: CommandDescriptor = {
  states: NOTAUTH,
  async run({ tag, args, conn }) {
    const user = args.astring();
    const pass = args.astring();
    args.end();
    requirePrivacy(conn);
    await finishLogin(conn, tag, user, pass, '');
    return PENDING;
  },
};

/** One client response line of AUTHENTICATE, base64 (RFC 9051 §6.2.2); "*" cancels. */
function decodeResponse(line: string): Buffer {
  const r = decodeSaslResponse(line.trim());
  if (!r) throw new ImapError('BAD', null, 'Invalid base64');
  // RFC 9051 §6.2.2: "*" cancels the exchange, answered with BAD
  if (r.cancel) throw new ImapError('BAD', null, 'AUTHENTICATE cancelled');
  return r.data;
}

export const authenticate: CommandDescriptor = {
  states: NOTAUTH,
  async run({ tag, args, conn }) {
    const mechName = args.atom().toUpperCase();
    const ir = args.done ? null : args.atom();
    args.end();
    const mech = createSasl(mechName);
    if (!mech) throw new ImapError('NO', 'CANNOT', `Unsupported mechanism ${mechName.slice(0, 20)}`);
    requirePrivacy(conn);

    /** Feeds one response; returns true when the exchange is over (tagged reply sent). */
    const step = async (response: Buffer | null): Promise<boolean> => {
      let r;
      try {
        r = mech.step(response);
      } catch (e) {
        if (e instanceof SaslError) throw new ImapError('BAD', null, e.message);
        throw e;
      }
      if ('challenge' in r) {
        // RFC 9051 §7.6: the challenge goes in a continuation request, base64
        conn.send(`+ ${encodeSaslChallenge(r.challenge)}`);
        return false;
      }
      await finishLogin(conn, tag, r.credentials.username, r.credentials.password, r.credentials.authzid);
      return true;
    };

    // RFC 4959 §3: SASL-IR initial response; "=" is an empty one
    if (await step(ir === null ? null : decodeResponse(ir))) return PENDING;
    conn.setLineHandler(async (line) => {
      try {
        if (await step(decodeResponse(line.toString('latin1')))) conn.setLineHandler(null);
      } catch (e) {
        conn.setLineHandler(null);
        if (e instanceof ImapError) conn.finishTagged(tag, e.status, e.code, e.message);
        else {
          conn.log.error({ err: e }, 'AUTHENTICATE failed');
          conn.finishTagged(tag, 'NO', 'SERVERBUG', 'Internal error');
        }
      }
    });
    return PENDING;
  },
};
