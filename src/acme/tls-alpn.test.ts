// The https listener's tls-alpn-01 responder (RFC 8737) and SNI choice, over real sockets:
// startHttp with the TLS provider and the challenge certificates, a TLS client offering
// "acme-tls/1" as the CA does, and ordinary clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import acme from 'acme-client';
import { configSchema } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { createTlsProvider } from '../net/tls.js';
import { startHttp } from '../http/server.js';
import { createMetrics } from '../http/metrics.js';
import { AcmeChallenges } from '../http/acme-challenges.js';
import { AlpnChallenges, ACME_TLS_ALPN } from './alpn.js';
import { parseClientHello } from '../net/client-hello.js';

async function withHttps(fn: (port: number, alpn: AlpnChallenges, provider: Awaited<ReturnType<typeof createTlsProvider>>) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-alpn-'));
  const config = configSchema.parse({ hostname: 'mail.example.test', data_dir: dir, listen: { http: [], https: ['127.0.0.1:0'], admin: [] } });
  const logger = createLogger('silent');
  const provider = await createTlsProvider(config, logger);
  const alpn = new AlpnChallenges();
  const web = await startHttp({
    tls: provider,
    alpnChallenges: alpn,
    deps: {
      config,
      store: { isLocalDomain: async () => false },
      logger,
      metrics: createMetrics(),
      challenges: new AcmeChallenges(),
      mailAddresses: () => ({}),
      readiness: async () => ({ ready: true, problems: [] }),
    },
  });
  try {
    await fn(Number(/:(\d+)$/.exec(web.addresses.https[0]!)![1]), alpn, provider);
  } finally {
    await web.close(0);
    rmSync(dir, { recursive: true, force: true });
  }
}

function handshake(port: number, servername: string, ALPNProtocols?: string[]): Promise<{ cert: X509Certificate; protocol: string | false }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols, rejectUnauthorized: false }, () => {
      resolve({ cert: s.getPeerX509Certificate()!, protocol: s.alpnProtocol ?? false });
      s.destroy();
    });
    s.on('error', reject);
  });
}

const ACME_IDENTIFIER_OID_DER = Buffer.from([0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f]);

test('tls-alpn-01: a client offering acme-tls/1 gets the challenge certificate for its SNI name; everyone else the ordinary one', async () => {
  await withHttps(async (port, alpn) => {
    const authz = { identifier: { type: 'dns', value: 'mail.example.test' } } as Parameters<typeof acme.crypto.createAlpnCertificate>[0];
    const [key, cert] = await acme.crypto.createAlpnCertificate(authz, 'token.thumbprint');
    alpn.set('mail.example.test', cert.toString(), key.toString());
    const challenge = new X509Certificate(cert);

    const v = await handshake(port, 'mail.example.test', [ACME_TLS_ALPN]);
    assert.equal(v.cert.fingerprint256, challenge.fingerprint256);
    assert.equal(v.protocol, ACME_TLS_ALPN); // RFC 8737 §3: the server negotiates acme-tls/1
    // RFC 8737 §3: it carries the acmeIdentifier extension (OID 1.3.6.1.5.5.7.1.31, DER below).
    assert.ok(v.cert.raw.includes(ACME_IDENTIFIER_OID_DER));

    // An ordinary client with the same name (during the validation) gets the real certificate.
    const normal = await handshake(port, 'mail.example.test', ['http/1.1']);
    assert.notEqual(normal.cert.fingerprint256, challenge.fingerprint256);
    assert.equal(normal.protocol, 'http/1.1');
    // acme-tls/1 for a name without a pending challenge: not the challenge certificate.
    await assert.rejects(handshake(port, 'other.example.test', [ACME_TLS_ALPN]));

    alpn.delete('mail.example.test');
    assert.equal(alpn.pending(), false);
    await assert.rejects(handshake(port, 'mail.example.test', [ACME_TLS_ALPN]));
  });
});

test('SNI: a managed certificate for the exact name, then a wildcard, then the hostname one; the self-signed only as the fallback', async () => {
  await withHttps(async (port, _alpn, provider) => {
    const selfSigned = (await handshake(port, 'mail.example.test')).cert.fingerprint256;
    const make = async (names: string[]) => {
      const { generate } = await import('selfsigned');
      const p = await generate([{ name: 'commonName', value: names[0]! }], {
        keyType: 'rsa',
        keySize: 2048,
        extensions: [{ name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) }],
      });
      return { cert: p.cert, key: p.private };
    };
    const host = await make(['mail.example.test']);
    const wild = await make(['*.example.test']);
    const exact = await make(['mta-sts.example.test']);
    provider.setManaged('mail.example.test', host);
    provider.setManaged('wild', wild);
    provider.setManaged('mta-sts.example.test', exact);
    const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
    assert.equal((await handshake(port, 'mta-sts.example.test')).cert.fingerprint256, fp(exact.cert));
    assert.equal((await handshake(port, 'autoconfig.example.test')).cert.fingerprint256, fp(wild.cert));
    assert.equal((await handshake(port, 'MAIL.example.test')).cert.fingerprint256, fp(host.cert));
    assert.equal((await handshake(port, 'elsewhere.test')).cert.fingerprint256, fp(host.cert));
    provider.setManaged('mail.example.test', null);
    assert.equal((await handshake(port, 'elsewhere.test')).cert.fingerprint256, selfSigned);
    assert.throws(() => provider.setManaged('bad', { cert: exact.cert, key: host.key }), /unusable certificate or key/);
    assert.equal((await handshake(port, 'mta-sts.example.test')).cert.fingerprint256, fp(exact.cert));
  });
});

test('https: a client that resets the connection in the middle of its ClientHello does not bring the server down', async () => {
  await withHttps(async (port) => {
    const net = await import('node:net');
    for (let i = 0; i < 3; i++) {
      const s = net.connect({ host: '127.0.0.1', port });
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write(Buffer.from([0x16, 0x03, 0x01]));
      // let the server read the partial record before the reset
      await new Promise((r) => setTimeout(r, 50));
      s.resetAndDestroy();
    }
    // the server is up and answers the next handshake
    assert.ok((await handshake(port, 'mail.example.test')).cert.fingerprint256);
  });
});

test('parseClientHello reads SNI and ALPN from a real ClientHello and refuses truncated input', async () => {
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hello = await new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => s.once('data', (d: Buffer) => (resolve(d), s.destroy())));
    const c = tls.connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, servername: 'mail.example.test', ALPNProtocols: ['acme-tls/1', 'h2'] });
    c.on('error', () => undefined);
  });
  server.close();
  assert.deepEqual(parseClientHello(hello), { servername: 'mail.example.test', alpn: ['acme-tls/1', 'h2'] });
  for (const cut of [3, 5, 40, hello.length - 1]) assert.equal(parseClientHello(hello.subarray(0, cut)), null, `cut at ${cut}`);
  assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')), null);
});
