import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { configSchema } from '../config/schema.js';
import { createLogger, silentLogger } from '../log/logger.js';
import { createTlsProvider, generateSelfSigned, selfSignedPaths, type TlsProvider } from './tls.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'yubin-tls-'));
  dirs.push(d);
  return d;
}

/** A TLS server as the listener builds one: the provider's current context for each connection. */
async function serve<T>(provider: TlsProvider, fn: (port: number) => Promise<T>): Promise<T> {
  const server = net.createServer((sock) => {
    const s = new tls.TLSSocket(sock, { isServer: true, secureContext: provider.secureContext() });
    s.on('error', () => s.destroy());
    s.on('secure', () => s.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await fn((server.address() as net.AddressInfo).port);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

function handshake(port: number, extra: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...extra }, () => resolve(c));
    c.once('error', reject);
  });
}

/** The fingerprint of the certificate a TLS client sees from a server using provider. */
function servedFingerprint(provider: TlsProvider): Promise<string> {
  return serve(provider, async (port) => {
    const c = await handshake(port);
    const fp = c.getPeerX509Certificate()!.fingerprint256;
    c.destroy();
    return fp;
  });
}

async function fingerprintOf(path: string): Promise<string> {
  return new X509Certificate(await readFile(path)).fingerprint256;
}

test('without [tls]: a self-signed certificate for hostname is generated once and reused', async () => {
  const dir = await tempDir();
  const config = configSchema.parse({ hostname: 'mail.tls.test', data_dir: dir });
  const p1 = await createTlsProvider(config, silentLogger());
  const paths = selfSignedPaths(dir);
  assert.equal(p1.source, 'self-signed');
  assert.equal(p1.certPath, paths.cert);
  const cert = new X509Certificate(await readFile(paths.cert));
  assert.equal(cert.checkHost('mail.tls.test'), 'mail.tls.test');
  // ECDSA P-256, as the ACME certificates
  assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal((await stat(paths.key)).mode & 0o777, 0o600);
  const first = await fingerprintOf(paths.cert);
  assert.equal(await servedFingerprint(p1), first);

  const p2 = await createTlsProvider(config, silentLogger());
  assert.equal(await fingerprintOf(paths.cert), first, 'reused, not regenerated');
  assert.equal(await servedFingerprint(p2), first);
});

test('without [tls]: a certificate for another hostname is replaced', async () => {
  const dir = await tempDir();
  await createTlsProvider(configSchema.parse({ hostname: 'old.tls.test', data_dir: dir }), silentLogger());
  const before = await fingerprintOf(selfSignedPaths(dir).cert);
  await createTlsProvider(configSchema.parse({ hostname: 'new.tls.test', data_dir: dir }), silentLogger());
  const cert = new X509Certificate(await readFile(selfSignedPaths(dir).cert));
  assert.notEqual(cert.fingerprint256, before);
  assert.equal(cert.checkHost('new.tls.test'), 'new.tls.test');
});

test('[tls]: reload() picks up a new certificate; a bad file keeps the old one and logs an error', async () => {
  const a = await tempDir();
  const b = await tempDir();
  const live = await tempDir();
  const certA = await generateSelfSigned(a, 'a.tls.test');
  const certB = await generateSelfSigned(b, 'b.tls.test');
  const certPath = join(live, 'fullchain.pem');
  const keyPath = join(live, 'privkey.pem');
  await copyFile(certA.cert, certPath);
  await copyFile(certA.key, keyPath);

  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const config = configSchema.parse({ hostname: 'mail.tls.test', data_dir: live, tls: { cert: certPath, key: keyPath } });
  const provider = await createTlsProvider(config, createLogger('info', sink));
  assert.equal(provider.source, 'config');
  assert.equal(await servedFingerprint(provider), await fingerprintOf(certA.cert));

  await copyFile(certB.cert, certPath);
  await copyFile(certB.key, keyPath);
  await provider.reload();
  const fpB = await fingerprintOf(certB.cert);
  assert.equal(provider.fingerprint(), fpB);
  assert.equal(await servedFingerprint(provider), fpB);

  // A key that does not match the certificate: the old context stays.
  await copyFile(certA.key, keyPath);
  await provider.reload();
  assert.equal(provider.fingerprint(), fpB);
  assert.equal(await servedFingerprint(provider), fpB);
  await writeFile(certPath, 'not a certificate');
  await provider.reload();
  assert.equal(await servedFingerprint(provider), fpB);
  const errors = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: string }).filter((l) => l.level === 50);
  assert.equal(errors.length, 2);
  assert.match(errors[0]!.msg, /certificate reload failed/);
  assert.match(errors[1]!.err!, /fullchain\.pem: not a PEM certificate/);
});

test('[tls]: a missing or bad file at start is an error naming the file', async () => {
  const dir = await tempDir();
  const config = configSchema.parse({ hostname: 'mail.tls.test', data_dir: dir, tls: { cert: join(dir, 'nope.pem'), key: join(dir, 'nokey.pem') } });
  await assert.rejects(createTlsProvider(config, silentLogger()), /nope\.pem: cannot read certificate \(ENOENT\)/);
});

test('TLS below 1.2 is refused', async () => {
  const dir = await tempDir();
  const provider = await createTlsProvider(configSchema.parse({ hostname: 'mail.tls.test', data_dir: dir }), silentLogger());
  await serve(provider, async (port) => {
    await assert.rejects(handshake(port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
    const ok = await handshake(port, { maxVersion: 'TLSv1.2' });
    assert.equal(ok.getProtocol(), 'TLSv1.2');
    ok.destroy();
  });
});

test('without [tls]: a lost or damaged key makes a new self-signed pair instead of failing', async () => {
  const dir = await tempDir();
  const config = configSchema.parse({ hostname: 'mail.tls.test', data_dir: dir });
  await createTlsProvider(config, silentLogger());
  const paths = selfSignedPaths(dir);
  const before = await fingerprintOf(paths.cert);
  await rm(paths.key);
  const p = await createTlsProvider(config, silentLogger());
  const after1 = await fingerprintOf(paths.cert);
  assert.notEqual(after1, before);
  assert.equal(p.fingerprint(), after1);
  await writeFile(paths.key, 'garbage');
  await createTlsProvider(config, silentLogger());
  assert.notEqual(await fingerprintOf(paths.cert), after1);
  assert.equal((await stat(paths.key)).mode & 0o777, 0o600);
});
