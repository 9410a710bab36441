// DKIM keys of the local domains, in data_dir/dkim/<domain>/ (directory 0700, files 0600):
// one "<selector>.pem" private key per selector and keys.json listing them. Each generation
// makes two selectors, RSA-2048 (RFC 8301 §3.2: at least 1024, 2048 recommended) and Ed25519
// (RFC 8463). Rotation adds a new generation and keeps the old one until it is retired.
// With the PostgreSQL store the keys live in the database (state/dkim.ts) and these files are
// each node's copy of them (mirrorDomainKeys); dkim-key-store.ts picks the backend.
import { generateKeyPairSync, createPublicKey, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync, chmodSync, existsSync, unlinkSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

export interface DkimKeyInfo {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  created: Date;
  /** Path of the PEM private key (PKCS#8). */
  path: string;
}

interface KeysFile {
  keys: Array<{ selector: string; algorithm: DkimAlgorithm; created: string }>;
}

/** RFC 6376 §3.1: a selector is one or more dot-atoms of letters, digits and hyphens. */
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const DOMAIN = /^[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))+$/;

export class DkimKeyError extends Error {
  readonly userFacing = true;
  constructor(message: string) {
    super(message);
    this.name = 'DkimKeyError';
  }
}

export function checkDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  if (!DOMAIN.test(d)) throw new DkimKeyError(`malformed domain: ${JSON.stringify(domain)}`);
  return d;
}

export function domainKeyDir(dataDir: string, domain: string): string {
  return join(dataDir, 'dkim', checkDomain(domain));
}

/** Writes a file with mode 0600 atomically (temp file, fsync, rename). */
function writePrivate(path: string, data: string): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  chmodSync(path, 0o600);
}

function readKeysFile(dir: string): KeysFile {
  const p = join(dir, 'keys.json');
  if (!existsSync(p)) return { keys: [] };
  const parsed = JSON.parse(readFileSync(p, 'utf8')) as KeysFile;
  return { keys: Array.isArray(parsed.keys) ? parsed.keys : [] };
}

/** Every key of the domain, newest first. */
export function listDomainKeys(dataDir: string, domain: string): DkimKeyInfo[] {
  const d = checkDomain(domain);
  const dir = domainKeyDir(dataDir, d);
  return readKeysFile(dir)
    .keys.map((k) => ({ domain: d, selector: k.selector, algorithm: k.algorithm, created: new Date(k.created), path: join(dir, `${k.selector}.pem`) }))
    .filter((k) => existsSync(k.path))
    .sort((a, b) => b.created.getTime() - a.created.getTime() || (a.selector < b.selector ? 1 : -1));
}

function stamp(now: Date): string {
  return now.toISOString().slice(0, 10).replace(/-/g, '');
}

/** A key with its PEM, as the PostgreSQL backend keeps it (src/checks/state/dkim.ts). */
export interface DkimKeyMaterial {
  selector: string;
  algorithm: DkimAlgorithm;
  created: Date;
  /** PKCS#8 PEM private key. */
  pem: string;
}

/** One generation's fresh key pairs, not yet named: RSA-2048 and Ed25519. CPU-heavy (RSA). */
export function newKeyPairs(): Array<{ algorithm: DkimAlgorithm; pem: string }> {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ed = generateKeyPairSync('ed25519');
  return [
    { algorithm: 'rsa-sha256', pem: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    { algorithm: 'ed25519-sha256', pem: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
  ];
}

/** Names a generation: y<yyyymmdd>r / y<yyyymmdd>e, or y<yyyymmdd>n<i>r/e when those are taken. */
export function nameGeneration(pairs: Array<{ algorithm: DkimAlgorithm; pem: string }>, taken: ReadonlySet<string>, now: Date): DkimKeyMaterial[] {
  let base = `y${stamp(now)}`;
  for (let i = 2; taken.has(`${base}r`) || taken.has(`${base}e`); i++) base = `y${stamp(now)}n${i}`;
  return pairs.map((p) => ({ selector: `${base}${p.algorithm === 'rsa-sha256' ? 'r' : 'e'}`, algorithm: p.algorithm, created: now, pem: p.pem }));
}

/** Creates a new generation: an RSA-2048 and an Ed25519 key with fresh selectors. */
function addGeneration(dataDir: string, domain: string, now: Date): DkimKeyInfo[] {
  const d = checkDomain(domain);
  const dir = domainKeyDir(dataDir, d);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = readKeysFile(dir);
  const made = nameGeneration(newKeyPairs(), new Set(file.keys.map((k) => k.selector)), now);
  for (const m of made) writePrivate(join(dir, `${m.selector}.pem`), m.pem);
  file.keys.push(...made.map((m) => ({ selector: m.selector, algorithm: m.algorithm, created: now.toISOString() })));
  writePrivate(join(dir, 'keys.json'), JSON.stringify(file, null, 2) + '\n');
  return made.map((m) => ({ domain: d, selector: m.selector, algorithm: m.algorithm, created: now, path: join(dir, `${m.selector}.pem`) }));
}

/**
 * Makes data_dir/dkim/<domain>/ hold exactly `keys` (the PostgreSQL backend's copy on each node,
 * which the signer and the ARC sealer read): the PEM files written (0600, atomically), keys.json
 * replaced, the files of selectors no longer listed removed.
 */
export function mirrorDomainKeys(dataDir: string, domain: string, keys: readonly DkimKeyMaterial[]): DkimKeyInfo[] {
  const d = checkDomain(domain);
  const dir = domainKeyDir(dataDir, d);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  for (const k of keys) {
    if (!SELECTOR.test(k.selector)) throw new DkimKeyError(`malformed selector: ${JSON.stringify(k.selector)}`);
    const p = join(dir, `${k.selector}.pem`);
    if (!existsSync(p) || readFileSync(p, 'utf8') !== k.pem) writePrivate(p, k.pem);
  }
  const old = readKeysFile(dir).keys;
  const json = JSON.stringify({ keys: keys.map((k) => ({ selector: k.selector, algorithm: k.algorithm, created: k.created.toISOString() })) }, null, 2) + '\n';
  writePrivate(join(dir, 'keys.json'), json);
  const kept = new Set(keys.map((k) => k.selector));
  for (const o of old) {
    const p = join(dir, `${o.selector}.pem`);
    if (!kept.has(o.selector) && SELECTOR.test(o.selector) && existsSync(p)) unlinkSync(p);
  }
  return listDomainKeys(dataDir, d);
}

/** The keys of data_dir/dkim/<domain>/ with their PEMs (to import them into the database). */
export function readDomainKeyMaterial(dataDir: string, domain: string): DkimKeyMaterial[] {
  return listDomainKeys(dataDir, domain).map((k) => ({ selector: k.selector, algorithm: k.algorithm, created: k.created, pem: readPrivateKey(k) }));
}

/** The domains that have a key directory under data_dir/dkim. */
export function listKeyDomains(dataDir: string): string[] {
  const root = join(dataDir, 'dkim');
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && DOMAIN.test(e.name))
    .map((e) => e.name);
}

/** Checks a selector before it is used in a path or a query. */
export function checkSelector(selector: string): string {
  const s = selector.toLowerCase();
  if (!SELECTOR.test(s)) throw new DkimKeyError(`malformed selector: ${JSON.stringify(selector)}`);
  return s;
}

/** `yubin dkim generate`: the first keys of a domain; refuses if it has keys already. */
export function generateDomainKeys(dataDir: string, domain: string, now: Date = new Date()): DkimKeyInfo[] {
  if (listDomainKeys(dataDir, domain).length) throw new DkimKeyError(`${checkDomain(domain)} already has DKIM keys (use "yubin dkim rotate" for new ones)`);
  return addGeneration(dataDir, domain, now);
}

/** Keys for the domain, generating the first pair if it has none (for `yubin domain add`). */
export function ensureDomainKeys(dataDir: string, domain: string, now: Date = new Date()): DkimKeyInfo[] {
  const keys = listDomainKeys(dataDir, domain);
  return keys.length ? keys : addGeneration(dataDir, domain, now);
}

/** `yubin dkim rotate`: adds a new RSA and Ed25519 selector; the old ones stay until retired. */
export function rotateDomainKeys(dataDir: string, domain: string, now: Date = new Date()): DkimKeyInfo[] {
  return addGeneration(dataDir, domain, now);
}

/** `yubin dkim retire`: removes one selector's key (after its DNS record has been withdrawn). */
export function retireDomainKey(dataDir: string, domain: string, selector: string): void {
  const d = checkDomain(domain);
  const s = selector.toLowerCase();
  if (!SELECTOR.test(s)) throw new DkimKeyError(`malformed selector: ${JSON.stringify(selector)}`);
  const dir = domainKeyDir(dataDir, d);
  const file = readKeysFile(dir);
  const key = file.keys.find((k) => k.selector === s);
  if (!key) throw new DkimKeyError(`${d} has no DKIM selector ${s}`);
  const left = file.keys.filter((k) => k.selector !== s);
  if (!left.some((k) => k.algorithm === key.algorithm)) throw new DkimKeyError(`${s} is the last ${key.algorithm} key of ${d}; rotate first`);
  writePrivate(join(dir, 'keys.json'), JSON.stringify({ keys: left }, null, 2) + '\n');
  const pem = join(dir, `${s}.pem`);
  if (existsSync(pem)) unlinkSync(pem);
}

export function readPrivateKey(key: DkimKeyInfo): string {
  return readFileSync(key.path, 'utf8');
}

/**
 * The TXT record to publish at <selector>._domainkey.<domain> (RFC 6376 §3.6.1): "v=DKIM1;
 * k=rsa; p=<SPKI DER base64>", or for Ed25519 (RFC 8463 §4.2) the raw 32-octet public key.
 */
export function dkimRecord(key: DkimKeyInfo): string {
  const pub = createPublicKey(readPrivateKey(key)).export({ type: 'spki', format: 'der' });
  if (key.algorithm === 'ed25519-sha256') return `v=DKIM1; k=ed25519; p=${pub.subarray(pub.length - 32).toString('base64')}`;
  return `v=DKIM1; k=rsa; p=${pub.toString('base64')}`;
}

/** The newest key of each algorithm first, then the older ones (the signer's order of preference). */
export function keysByAlgorithm(keys: DkimKeyInfo[]): Record<DkimAlgorithm, DkimKeyInfo[]> {
  return {
    'rsa-sha256': keys.filter((k) => k.algorithm === 'rsa-sha256'),
    'ed25519-sha256': keys.filter((k) => k.algorithm === 'ed25519-sha256'),
  };
}
