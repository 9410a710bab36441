// The authentication core shared by SMTP submission, IMAP and POP3.
import type { Account } from '../store/types.js';

export interface AuthAttempt {
  username: string;
  password: string;
  /** Authorization identity (SASL PLAIN authzid); only empty or equal to username is allowed. */
  authzid?: string;
  /** Client IP, for throttling and the log line fail2ban matches. */
  ip: string;
  /** "smtp", "imap", "pop3" (log field). */
  protocol: string;
}

export type AuthResult =
  | { ok: true; account: Account }
  /** Bad credentials: the same answer (and the same time) for an unknown user and a wrong password. */
  | { ok: false; reason: 'invalid' }
  /** Too many failures from this IP or for this account: refuse for now without checking. */
  | { ok: false; reason: 'throttled'; retryAfterMs: number };

export interface Authenticator {
  authenticate(attempt: AuthAttempt): Promise<AuthResult>;
}

/**
 * A SASL mechanism as a state machine (RFC 4422), reusable by every protocol.
 * The protocol layer base64-decodes client responses and base64-encodes challenges.
 */
export interface SaslMechanism {
  readonly name: 'PLAIN' | 'LOGIN';
  /**
   * Feed the next client response (decoded bytes); null for "no initial response".
   * Returns the next challenge to send, or the credentials when complete.
   * Throws SaslError on malformed input.
   */
  step(response: Buffer | null): { challenge: Buffer } | { credentials: { username: string; password: string; authzid: string } };
}

export class SaslError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SaslError';
  }
}
