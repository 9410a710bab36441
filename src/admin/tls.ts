// TLS status for /api/v1/tls: every certificate the server presents, with the names it covers,
// its issuer and expiry, from the running server's certificate provider (src/net/tls.ts), and
// for the certificates ACME manages the next renewal, from the ACME manager (src/acme/manager.ts),
// with the names it skipped or failed to renew and why (what `yubin tls status` shows from the
// files the manager writes).
import type { NameStatus } from '../acme/files.js';

/** What the status needs of the certificate provider (a TlsProvider fits). */
export interface CertificateSource {
  readonly source: 'config' | 'self-signed';
  certificates(): Array<{ names: string[]; validTo: Date; issuer?: string; managed?: boolean }>;
}

/** What the status needs of the ACME manager (an AcmeManager fits): the state of each name after its last check. */
export interface AcmeStatusSource {
  status(): NameStatus[];
}

export interface TlsStatus {
  /** Where the fallback certificate comes from: [tls] files ("config") or data_dir/tls ("self-signed"). */
  fallback: 'config' | 'self-signed';
  certificates: Array<{
    names: string[];
    issuer: string | null;
    notAfter: string;
    managed: boolean;
    expired: boolean;
    daysLeft: number;
    /** ACME: when the certificate is renewed next (the retry time after a failed renewal); null when not managed or not checked yet. */
    nextRenewal: string | null;
  }>;
  /** ACME: off, or each name it manages as of its last check (issued, skipped with the reason, failed with the CA's error). */
  acme: { enabled: false } | { enabled: true; names: Array<{ name: string; state: NameStatus['state']; reason: string | null; expires: string | null; nextRenewal: string | null }> };
}

/** The next renewal of a name: its planned renewal, or after a failure the next attempt. */
function nextRenewal(n: NameStatus): string | null {
  return (n.state === 'failed' ? n.nextAttempt : n.renewAt) ?? null;
}

/** `acme` is the manager (null when ACME is off); it is read at each call, since it is made after the listeners start. */
export function tlsStatus(tls: CertificateSource, acme: AcmeStatusSource | null = null, now: Date = new Date()): TlsStatus {
  const names = acme?.status() ?? [];
  const byName = new Map(names.map((n) => [n.name, n]));
  return {
    fallback: tls.source,
    certificates: tls.certificates().map((c) => {
      const managed = c.managed ?? false;
      // one ACME certificate per name (src/acme/names.ts); its status is that name's
      const status = managed ? c.names.map((n) => byName.get(n)).find((s) => s !== undefined) : undefined;
      return {
        names: c.names,
        issuer: c.issuer ?? null,
        notAfter: c.validTo.toISOString(),
        managed,
        expired: c.validTo.getTime() <= now.getTime(),
        daysLeft: Math.floor((c.validTo.getTime() - now.getTime()) / 86_400_000),
        nextRenewal: status ? nextRenewal(status) : null,
      };
    }),
    acme: acme
      ? { enabled: true, names: names.map((n) => ({ name: n.name, state: n.state, reason: n.reason ?? null, expires: n.expires ?? null, nextRenewal: nextRenewal(n) })) }
      : { enabled: false },
  };
}
