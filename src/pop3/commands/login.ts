// Logging in, shared by PASS and AUTH: check the credentials, lock the maildrop, take the snapshot.
import { createSasl, decodeSaslResponse } from '../../auth/index.js';
import { SaslError, type SaslMechanism } from '../../auth/types.js';
import { Maildrop } from '../maildrop.js';
import { challengeLine, errLine, okLine, type FramedLine } from '../wire.js';
import { Pop3Error, maildropSummary, type Pop3Conn } from './common.js';

export { createSasl, decodeSaslResponse };

export async function login(c: Pop3Conn, username: string, password: string, authzid: string): Promise<void> {
  const result = await c.ctx.auth.authenticate({ username, password, authzid: authzid || undefined, ip: c.transport.remoteAddress, protocol: 'pop3' });
  c.user = null;
  if (!result.ok) {
    c.log.info({ user: username, reason: result.reason }, 'pop3 login failed');
    if (result.reason === 'throttled') {
      await c.send(errLine('Too many failed logins, try again later', 'SYS/TEMP'));
    } else {
      // RFC 3206 §5: [AUTH] says the credentials were wrong; the same words for an unknown user
      // and a wrong password, so the reply does not tell which addresses exist.
      await c.send(errLine('Authentication failed', 'AUTH'));
    }
    c.countError();
    return;
  }
  const account = result.account;
  // RFC 1939 §4: the exclusive-access lock on the maildrop, held in the store, so a session on
  // another node sharing the database is refused too.
  const unlock = await c.ctx.store.lockMaildrop(account.id);
  if (!unlock) {
    // RFC 2449 §8.1.2: [IN-USE] when the maildrop is locked by another session.
    c.log.info({ user: account.address }, 'pop3 maildrop in use');
    throw new Pop3Error('Maildrop is locked by another POP3 session', 'IN-USE');
  }
  let drop: Maildrop;
  try {
    drop = await Maildrop.open(c.ctx.store, account.id);
  } catch (err) {
    await unlock();
    c.log.error({ err, user: account.address }, 'pop3 cannot open maildrop');
    throw new Pop3Error('Cannot open the maildrop, try again later', 'SYS/TEMP');
  }
  if (c.isEnded) {
    drop.close();
    await unlock();
    return;
  }
  c.unlock = unlock;
  c.maildrop = drop;
  c.address = account.address;
  c.state = 'transaction';
  c.log.info({ user: account.address, messages: drop.entries.length }, 'pop3 login');
  await c.send(okLine(`Logged in, ${maildropSummary(drop)}`));
}

/** Decodes a client response line of a SASL exchange. */
function saslResponse(line: FramedLine): Buffer | 'cancel' {
  // RFC 5034 §4: a client response is base64; "*" cancels the exchange
  if (line.kind === 'too-long') throw new Pop3Error('Authentication response too long');
  const r = decodeSaslResponse(line.line.toString('latin1').trim());
  if (!r) throw new Pop3Error('Invalid base64 in authentication response');
  return r.cancel ? 'cancel' : r.data;
}

export async function runSasl(c: Pop3Conn, mech: SaslMechanism, initial: Buffer | null): Promise<void> {
  let response: Buffer | null = initial;
  for (;;) {
    let step: ReturnType<SaslMechanism['step']>;
    try {
      step = mech.step(response);
    } catch (err) {
      if (err instanceof SaslError) {
        await c.send(errLine('Malformed authentication exchange', 'AUTH'));
        c.countError();
        return;
      }
      throw err;
    }
    if ('credentials' in step) {
      const { username, password, authzid } = step.credentials;
      await login(c, username, password, authzid);
      return;
    }
    await c.send(challengeLine(step.challenge));
    const line = await c.readLine();
    if (line === null) return;
    const r = saslResponse(line);
    // RFC 5034 §4: a "*" response cancels the exchange; the server answers -ERR.
    if (r === 'cancel') throw new Pop3Error('Authentication canceled');
    response = r;
  }
}
