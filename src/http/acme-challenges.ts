// ACME http-01 challenge responses (RFC 8555 §8.3): the ACME client puts token → key
// authorization here while an order is pending; the http listener answers
// GET /.well-known/acme-challenge/<token> from it (404 for tokens it does not hold).

/** RFC 8555 §8.1: a token is base64url (no padding). */
const TOKEN = /^[A-Za-z0-9_-]+$/;

export class AcmeChallenges {
  private readonly tokens = new Map<string, string>();

  set(token: string, keyAuthorization: string): void {
    if (!TOKEN.test(token)) throw new Error(`ACME token is not base64url: ${JSON.stringify(token)}`);
    this.tokens.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  get(token: string): string | undefined {
    return TOKEN.test(token) ? this.tokens.get(token) : undefined;
  }
}
