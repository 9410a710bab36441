// The base64 framing SMTP AUTH (RFC 4954 §4), IMAP AUTHENTICATE (RFC 9051 §6.2.2) and POP3 AUTH
// (RFC 5034 §4) share for SASL responses.

export type SaslResponse = { cancel: true } | { cancel: false; data: Buffer };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes one client response line (without CRLF). "*" cancels the exchange; "=" is an empty
 * initial response (RFC 4954 §4). Returns null when the line is not strict base64.
 */
export function decodeSaslResponse(line: string): SaslResponse | null {
  // RFC 4954 §4: a client response of "*" cancels the authentication exchange
  if (line === '*') return { cancel: true };
  // RFC 4954 §4: "=" stands for a zero-length initial response
  if (line === '=') return { cancel: false, data: Buffer.alloc(0) };
  if (!BASE64.test(line)) return null;
  return { cancel: false, data: Buffer.from(line, 'base64') };
}

/** Encodes a server challenge; an empty challenge is sent as an empty string. */
export function encodeSaslChallenge(challenge: Uint8Array): string {
  return Buffer.from(challenge).toString('base64');
}
