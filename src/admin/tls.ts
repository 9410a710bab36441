// TLS status for /api/v1/tls: every certificate the server presents, with the names it covers,
// its issuer and expiry, from the running server's certificate provider (src/net/tls.ts).
// todo(issue 15): the next ACME renewal per name belongs here too, once src/acme reports it
// (`yubin tls status` is being built there); until then only what the provider knows is shown.

/** What the status needs of the certificate provider (a TlsProvider fits). */
export interface CertificateSource {
  readonly source: 'config' | 'self-signed';
  certificates(): Array<{ names: string[]; validTo: Date; issuer?: string; managed?: boolean }>;
}

export interface TlsStatus {
  /** Where the fallback certificate comes from: [tls] files ("config") or data_dir/tls ("self-signed"). */
  fallback: 'config' | 'self-signed';
  certificates: Array<{ names: string[]; issuer: string | null; notAfter: string; managed: boolean; expired: boolean; daysLeft: number }>;
}

export function tlsStatus(tls: CertificateSource, now: Date = new Date()): TlsStatus {
  return {
    fallback: tls.source,
    certificates: tls.certificates().map((c) => ({
      names: c.names,
      issuer: c.issuer ?? null,
      notAfter: c.validTo.toISOString(),
      managed: c.managed ?? false,
      expired: c.validTo.getTime() <= now.getTime(),
      daysLeft: Math.floor((c.validTo.getTime() - now.getTime()) / 86_400_000),
    })),
  };
}
