// data_dir/tls/acme/: the ACME account key, one PEM file per name (its private key followed by
// the certificate chain, so key and chain change together in one rename), and status.json (what
// the server decided last: issued, skipped and failed names), read by `yubin tls status`.
// Every file is written atomically: temporary file, fsync, rename, fsync of the directory.
import { open, mkdir, readFile, rename, readdir, unlink } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';

export function acmeDir(dataDir: string): string {
  return join(dataDir, 'tls', 'acme');
}

export const accountKeyPath = (dataDir: string) => join(acmeDir(dataDir), 'account.key');
export const statusPath = (dataDir: string) => join(acmeDir(dataDir), 'status.json');
const certsDir = (dataDir: string) => join(acmeDir(dataDir), 'certs');

/** A DNS name is safe as a file name (checked again here: names come from the store and config). */
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*$/;
export function certPath(dataDir: string, name: string): string {
  if (!NAME.test(name)) throw new Error(`not a DNS name: ${JSON.stringify(name)}`);
  return join(certsDir(dataDir), `${name}.pem`);
}

/** Writes data to path so that a crash leaves either the old or the new file, never a mix. */
export async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask may have narrowed it
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export interface StoredCert {
  name: string;
  key: string;
  /** The chain, leaf first. */
  cert: string;
  leaf: X509Certificate;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----\r?\n?/g;

/** Splits a stored file into key and chain; throws a one-line error naming the file. */
export function parseStored(name: string, path: string, text: string): StoredCert {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  const key = blocks.find((b) => b[1]!.endsWith('PRIVATE KEY'))?.[0];
  const certs = blocks.filter((b) => b[1] === 'CERTIFICATE').map((b) => b[0].trimEnd() + '\n');
  if (!key || !certs.length) throw new Error(`${path}: expected a private key and a certificate chain`);
  return { name, key, cert: certs.join(''), leaf: new X509Certificate(certs[0]!) };
}

export async function saveCert(dataDir: string, name: string, key: string, chain: string): Promise<void> {
  await writeAtomic(certPath(dataDir, name), `${key.trimEnd()}\n${chain.trimEnd()}\n`, 0o600);
}

/** Every stored certificate; an unreadable one is reported through onError and left out. */
export async function loadCerts(dataDir: string, onError: (path: string, err: Error) => void): Promise<StoredCert[]> {
  let files: string[];
  try {
    files = await readdir(certsDir(dataDir));
  } catch {
    return [];
  }
  const out: StoredCert[] = [];
  for (const f of files.filter((f) => f.endsWith('.pem')).sort()) {
    const name = f.slice(0, -4);
    const path = join(certsDir(dataDir), f);
    try {
      out.push(parseStored(name, path, await readFile(path, 'utf8')));
    } catch (err) {
      onError(path, err as Error);
    }
  }
  return out;
}

export type NameState = 'issued' | 'skipped' | 'pending' | 'failed';

export interface NameStatus {
  name: string;
  state: NameState;
  /** Why a name is skipped or what the last failure was (the CA's error). */
  reason?: string;
  /** ISO times. */
  expires?: string;
  renewAt?: string;
  nextAttempt?: string;
  issuer?: string;
}

export interface AcmeStatus {
  updated: string;
  directory: string;
  challenge: string;
  /** The addresses names must point at. */
  addresses: string[];
  names: NameStatus[];
}

export async function saveStatus(dataDir: string, status: AcmeStatus): Promise<void> {
  await writeAtomic(statusPath(dataDir), JSON.stringify(status, null, 2) + '\n', 0o644);
}

export async function readStatus(dataDir: string): Promise<AcmeStatus | null> {
  try {
    return JSON.parse(await readFile(statusPath(dataDir), 'utf8')) as AcmeStatus;
  } catch {
    return null;
  }
}

/** RFC 8555 leaves renewal timing to the client: renew at two thirds of the lifetime. */
export function renewalTime(leaf: X509Certificate): Date {
  const from = new Date(leaf.validFrom).getTime();
  const to = new Date(leaf.validTo).getTime();
  return new Date(from + ((to - from) * 2) / 3);
}
