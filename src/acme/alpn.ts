// tls-alpn-01 challenge certificates (RFC 8737 §3): while an order is pending the ACME client
// puts a self-signed certificate for each name here; the https listener serves it to a client
// that offers only the "acme-tls/1" protocol with that name in SNI.
import tls from 'node:tls';

/** RFC 8737 §6.2: the ALPN protocol name of the validation. */
export const ACME_TLS_ALPN = 'acme-tls/1';

export class AlpnChallenges {
  private readonly byName = new Map<string, tls.SecureContext>();

  /** Installs the challenge certificate (PEM) for a name. */
  set(name: string, certPem: string, keyPem: string): void {
    this.byName.set(name.toLowerCase(), tls.createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' }));
  }

  delete(name: string): void {
    this.byName.delete(name.toLowerCase());
  }

  /** True while any validation is pending (the listener then looks at ClientHellos). */
  pending(): boolean {
    return this.byName.size > 0;
  }

  context(servername: string): tls.SecureContext | undefined {
    return this.byName.get(servername.toLowerCase().replace(/\.$/, ''));
  }
}
