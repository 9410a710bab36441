// AUTH (RFC 4954) with SASL PLAIN and LOGIN from the shared auth core: only on the submission
// listeners and only over TLS; failures are throttled by the authenticator (ctx.auth).
import { createSasl, decodeSaslResponse, encodeSaslChallenge } from '../../../auth/index.js';
import { SaslError } from '../../../auth/types.js';
import { SmtpError } from '../errors.js';
import type { SmtpCommand } from '../state.js';

/** RFC 4954 §4: AUTH lines and SASL responses may be up to 12288 octets. */
const AUTH_LINE = 12288;

export interface AuthArgs {
  mechanism: string;
  /** The initial response as sent (base64, or "=" for empty), or null. */
  initial: string | null;
}

export const auth: SmtpCommand<AuthArgs> = {
  name: 'AUTH',
  states: ['init', 'ready', 'mail', 'rcpt', 'bdat'],
  maxLength: AUTH_LINE,
  parse(args) {
    const m = /^([A-Za-z0-9_-]{1,20})(?: (\S+))?$/.exec(args);
    if (!m) throw new SmtpError(501, '5.5.4', 'Syntax: AUTH mechanism [initial-response]');
    return { mechanism: m[1]!.toUpperCase(), initial: m[2] ?? null };
  },
  async run(s, a) {
    if (!s.isSubmission) throw new SmtpError(502, '5.5.1', 'AUTH not available here; use the submission port');
    if (s.state === 'init') throw new SmtpError(503, '5.5.1', 'Send EHLO first');
    // RFC 4954 §4: not during a mail transaction; at most once per session.
    if (s.state !== 'ready') throw new SmtpError(503, '5.5.1', 'AUTH not allowed during a mail transaction');
    if (s.authenticated) throw new SmtpError(503, '5.5.1', 'Already authenticated');
    // RFC 4954 §6: 538 when the mechanism needs an encrypted connection (every one here does).
    if (!s.transport.tls) throw new SmtpError(538, '5.7.11', 'Encryption required for requested authentication mechanism');
    const mech = createSasl(a.mechanism);
    if (!mech) throw new SmtpError(504, '5.5.4', 'Unrecognized authentication type');

    let response: Buffer | null = null;
    if (a.initial !== null) {
      const r = decodeSaslResponse(a.initial);
      if (!r) throw new SmtpError(501, '5.5.2', 'Invalid base64 data');
      if (r.cancel) throw new SmtpError(501, '5.0.0', 'Authentication canceled');
      response = r.data;
    }
    let credentials: { username: string; password: string; authzid: string };
    try {
      for (;;) {
        const step = mech.step(response);
        if ('credentials' in step) {
          credentials = step.credentials;
          break;
        }
        s.reply(334, null, encodeSaslChallenge(step.challenge));
        const line = await s.readLine(AUTH_LINE);
        if (line === null) return;
        const r = decodeSaslResponse(line);
        if (!r) throw new SmtpError(501, '5.5.2', 'Invalid base64 data');
        if (r.cancel) throw new SmtpError(501, '5.0.0', 'Authentication canceled');
        response = r.data;
      }
    } catch (err) {
      if (err instanceof SaslError) throw new SmtpError(501, '5.5.2', 'Malformed authentication data');
      throw err;
    }
    const result = await s.ctx.auth.authenticate({
      username: credentials.username,
      password: credentials.password,
      authzid: credentials.authzid,
      ip: s.transport.remoteAddress,
      protocol: 'smtp',
    });
    if (result.ok) {
      s.authenticated = result.account;
      s.log.info({ user: result.account.address }, 'authenticated');
      s.reply(235, '2.7.0', 'Authentication successful');
      return;
    }
    // RFC 4954 §6: 535 for bad credentials; 454 4.7.0 for a temporary refusal (throttled).
    if (result.reason === 'throttled') throw new SmtpError(454, '4.7.0', 'Too many failed attempts, try again later');
    throw new SmtpError(535, '5.7.8', 'Authentication credentials invalid');
  },
};
