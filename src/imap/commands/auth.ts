// STARTTLS, LOGIN, AUTHENTICATE (RFC 9051 §6.2; SASL-IR RFC 4959; PLAIN RFC 4616; LOGIN
// draft-murchison-sasl-login).
import { PENDING, type CommandDescriptor, type ImapConn } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import type { AuthResult } from '../../auth/types.js';

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

function b64decode(line: Buffer): Buffer {
  const s = line.toString('latin1').trim();
  if (s === '=' || s === '') return Buffer.alloc(0);
  // RFC 4648 §4, strict: the client's base64 must be canonical
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new ImapError('BAD', null, 'Invalid base64');
  return Buffer.from(s, 'base64');
}

/** Parses a SASL PLAIN message: authzid NUL authcid NUL passwd (RFC 4616 §2). */
export function parsePlain(msg: Buffer): { authzid: string; username: string; password: string } {
  const parts = msg.toString('utf8').split('\0');
  if (parts.length !== 3 || !parts[1] || !parts[2]) throw new ImapError('BAD', null, 'Malformed PLAIN response');
  return { authzid: parts[0]!, username: parts[1]!, password: parts[2]! };
}

export const authenticate: CommandDescriptor = {
  states: NOTAUTH,
  async run({ tag, args, conn }) {
    const mech = args.atom().toUpperCase();
    const ir = args.done ? null : args.atom();
    args.end();
    if (mech !== 'PLAIN' && mech !== 'LOGIN') throw new ImapError('NO', 'CANNOT', `Unsupported mechanism ${mech.slice(0, 20)}`);
    requirePrivacy(conn);
    const responses: Buffer[] = [];
    if (ir !== null) responses.push(b64decode(Buffer.from(ir, 'latin1')));

    const step = async (): Promise<boolean> => {
      // Returns true when finished.
      if (mech === 'PLAIN') {
        if (responses.length === 0) {
          conn.send('+ ');
          return false;
        }
        const p = parsePlain(responses[0]!);
        await finishLogin(conn, tag, p.username, p.password, p.authzid);
        return true;
      }
      // LOGIN: "Username:", "Password:" challenges
      if (responses.length === 0) {
        conn.send('+ VXNlcm5hbWU6');
        return false;
      }
      if (responses.length === 1) {
        conn.send('+ UGFzc3dvcmQ6');
        return false;
      }
      await finishLogin(conn, tag, responses[0]!.toString('utf8'), responses[1]!.toString('utf8'), '');
      return true;
    };

    const fail = (e: unknown): void => {
      conn.setLineHandler(null);
      if (e instanceof ImapError) conn.finishTagged(tag, e.status, e.code, e.message);
      else {
        conn.log.error({ err: e }, 'AUTHENTICATE failed');
        conn.finishTagged(tag, 'NO', 'SERVERBUG', 'Internal error');
      }
    };

    if (await step()) return PENDING;
    conn.setLineHandler(async (line) => {
      try {
        // RFC 9051 §6.2.2: "*" cancels the exchange
        if (line.toString('latin1').trim() === '*') throw new ImapError('BAD', null, 'AUTHENTICATE cancelled');
        responses.push(b64decode(line));
        if (await step()) conn.setLineHandler(null);
      } catch (e) {
        fail(e);
      }
    });
    return PENDING;
  },
};
