// AUTHENTICATE (RFC 5804 §2.1): SASL PLAIN and LOGIN, with an optional initial response
// (SASL-IR). Challenges and responses are base64 in strings (quoted or literal); "*" cancels.
import { createSasl, decodeSaslResponse } from '../../auth/index.js';
import { SaslError, type SaslMechanism } from '../../auth/types.js';
import { no, ok, str, type Token } from '../wire.js';
import { authAllowed } from './capability.js';
import { MsError, NONAUTH, command, strings, type MsConn } from './common.js';

interface AuthArgs {
  mechanism: string;
  initial: Buffer | null;
}

function decode(text: string): Buffer {
  const r = decodeSaslResponse(text);
  if (!r) throw new MsError('Invalid base64 in authentication response', null, true);
  if (r.cancel) throw new MsError('Authentication canceled');
  return r.data;
}

async function login(c: MsConn, username: string, password: string, authzid: string): Promise<void> {
  const result = await c.ctx.auth.authenticate({ username, password, authzid: authzid || undefined, ip: c.transport.remoteAddress, protocol: 'managesieve' });
  if (!result.ok) {
    c.log.info({ user: username, reason: result.reason }, 'managesieve login failed');
    // RFC 5804 §1.3: TRYLATER: a temporary failure, the client may try again later
    await c.send(result.reason === 'throttled' ? no('Too many failed logins, try again later', 'TRYLATER') : no('Authentication failed'));
    c.countError();
    return;
  }
  if (c.isEnded) return;
  c.loggedIn(result.account);
  c.log.info({ user: result.account.address }, 'managesieve login');
  await c.send(ok('Logged in'));
}

async function runSasl(c: MsConn, mech: SaslMechanism, initial: Buffer | null): Promise<void> {
  let response = initial;
  for (;;) {
    let step: ReturnType<SaslMechanism['step']>;
    try {
      step = mech.step(response);
    } catch (err) {
      if (err instanceof SaslError) throw new MsError('Malformed authentication exchange', null, true);
      throw err;
    }
    if ('credentials' in step) {
      const { username, password, authzid } = step.credentials;
      await login(c, username, password, authzid);
      return;
    }
    // RFC 5804 §2.1: a challenge is a base64 string on its own line
    await c.send(str(step.challenge.toString('base64')) + '\r\n');
    const item = await c.readItem();
    if (item === null) return;
    if (item.kind === 'error') throw new MsError(`Bad authentication response: ${item.message}`, null, true);
    const t: Token | undefined = item.tokens[0];
    if (item.tokens.length !== 1 || t?.kind !== 'string') throw new MsError('An authentication response is one string', null, true);
    // RFC 5804 §2.1: the client cancels with the string "*"; the server answers NO
    response = decode(t.value.toString('latin1'));
  }
}

export const authenticate = command({
  name: 'AUTHENTICATE',
  states: NONAUTH,
  parse(args): AuthArgs {
    const [mech, initial] = strings('AUTHENTICATE', args, 2, 1);
    return { mechanism: mech!.text.toUpperCase(), initial: initial ? decode(initial.raw.toString('latin1')) : null };
  },
  async run(c, a) {
    // RFC 5804 §2.1, §1.3: ENCRYPT-NEEDED: authentication needs TLS first
    if (!authAllowed(c)) throw new MsError('Authentication is not allowed without TLS: use STARTTLS first', 'ENCRYPT-NEEDED');
    const mech = createSasl(a.mechanism);
    if (!mech) throw new MsError('Unsupported authentication mechanism', null, true);
    await runSasl(c, mech, a.initial);
  },
});
