// ACME (RFC 8555) against a real CA on loopback: Debian's pebble, its DNS pointed at the tests'
// DNS server. Yubin is started as a user starts it (the CLI with a config file); the certificates
// are checked where clients see them: the peer certificate of IMAPS, SMTPS (465) and HTTPS by SNI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { startDnsServer } from '../helpers/dns-server.js';
import { startPebble, freePort } from '../helpers/pebble.js';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { until } from '../helpers/mail.js';

interface Peer {
  issuer: string;
  serial: string;
  names: string;
  authorized: boolean;
  authorizationError: string | null;
}

/** The certificate a listener presents for a server name, verified against the given root. */
function peer(port: number, servername: string, ca: string): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: false, ALPNProtocols: port ? undefined : [] }, () => {
      const c = s.getPeerCertificate();
      resolve({
        issuer: [c.issuer?.CN ?? ''].flat().join(','),
        serial: c.serialNumber.toUpperCase(),
        names: c.subjectaltname ?? '',
        authorized: s.authorized,
        authorizationError: s.authorizationError ? String(s.authorizationError) : null,
      });
      s.destroy();
    });
    s.on('error', reject);
  });
}

/** JSON log lines of the instance with this msg. */
function logs(inst: YubinInstance, msg: string): Array<Record<string, unknown>> {
  return inst
    .output()
    .split('\n')
    .flatMap((l) => {
      try {
        const j = JSON.parse(l) as Record<string, unknown>;
        return j.msg === msg ? [j] : [];
      } catch {
        return [];
      }
    });
}

async function setup(t: { after(fn: () => Promise<void>): void }, challenge: 'tls-alpn-01' | 'http-01', extra: { validitySeconds?: number; domains?: string[]; retry?: string } = {}) {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const pebble = await startPebble({ dns: dns.address, httpPort, tlsPort: httpsPort, validitySeconds: extra.validitySeconds });
  if (!pebble) return null;
  t.after(() => pebble.close());
  dns.setRecords('mail.example.test', 'A', ['127.0.0.1']);
  const inst = async () => {
    const y = await startYubin({
      hostname: 'mail.example.test',
      domains: extra.domains ?? [],
      listen: { http: [`127.0.0.1:${httpPort}`], https: [`127.0.0.1:${httpsPort}`] },
      config: {
        dns: { servers: [dns.address], timeout: 2 },
        acme: { enabled: true, directory: pebble.directory, ca_file: pebble.caFile, challenge, retry: extra.retry ?? '5m' },
      },
    });
    t.after(() => y.destroy());
    return y;
  };
  return { dns, pebble, inst };
}

test('done when: on a fresh data dir yubin serve obtains certificates within a minute (tls-alpn-01) and IMAPS/SMTPS/HTTPS present them; names DNS does not point here are skipped', async (t) => {
  const env = await setup(t, 'tls-alpn-01', { domains: ['example.test'] });
  if (!env) return t.skip('pebble is not installed (Debian package "pebble")');
  env.dns.setRecords('mta-sts.example.test', 'A', ['127.0.0.1']);
  env.dns.setRecords('autoconfig.example.test', 'A', ['192.0.2.7']);
  const started = Date.now();
  const y = await env.inst();
  await until('two certificates', async () => logs(y, 'ACME: certificate obtained').length >= 2, 60_000);
  assert.ok(Date.now() - started < 60_000, 'certificates within a minute');
  const obtained = logs(y, 'ACME: certificate obtained').map((l) => l.name).sort();
  assert.deepEqual(obtained, ['mail.example.test', 'mta-sts.example.test']);

  const root = await env.pebble.root();
  for (const listener of ['imaps', 'submissions', 'https'] as const) {
    const p = await peer(y.port(listener), 'mail.example.test', root);
    assert.match(p.issuer, /^Pebble Intermediate CA/, `${listener} issuer`);
    assert.equal(p.authorized, true, `${listener}: ${p.authorizationError}`);
    assert.equal(p.names, 'DNS:mail.example.test', listener);
  }
  // SNI picks the certificate: the MTA-STS policy host gets its own.
  const sts = await peer(y.port('https'), 'mta-sts.example.test', root);
  assert.equal(sts.names, 'DNS:mta-sts.example.test');
  assert.equal(sts.authorized, true, String(sts.authorizationError));
  // A name without a certificate gets the hostname's (a CA one), not the self-signed fallback.
  assert.equal((await peer(y.port('imaps'), 'autoconfig.example.test', root)).names, 'DNS:mail.example.test');

  // The skipped name, with the reason, in the log and in `yubin tls status`.
  const skipped = logs(y, 'ACME: name skipped (DNS does not point it at this server)');
  assert.deepEqual(skipped.map((l) => l.name), ['autoconfig.example.test']);
  assert.match(String(skipped[0]!.reason), /points at 192\.0\.2\.7, not at this server \(127\.0\.0\.1\)/);
  const status = await y.cli(['tls', 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^acme: on /m);
  assert.match(status.stdout, /^mail\.example\.test {2}issued {2}issuer "Pebble Intermediate CA [^"]+" {2}expires \d{4}-\S+Z {2}renews \d{4}-\S+Z$/m);
  assert.match(status.stdout, /^mta-sts\.example\.test {2}issued /m);
  assert.match(status.stdout, /^autoconfig\.example\.test {2}skipped {2}skipped: points at 192\.0\.2\.7/m);
  assert.match(status.stdout, /^fallback: self-signed /m);
  const json = JSON.parse((await y.cli(['tls', 'status', '--json'])).stdout) as { names: Array<{ name: string; state: string }> };
  assert.deepEqual(json.names.map((n) => `${n.name}:${n.state}`).sort(), ['autoconfig.example.test:skipped', 'mail.example.test:issued', 'mta-sts.example.test:issued']);

  // The admin API's TLS status: each certificate's issuer and next renewal, from the running ACME manager.
  const token = (await y.cli(['api-token', 'create', 'ops'])).stdout.trim();
  const api = await until('the API shows the checked names', async () => {
    const res = await fetch(`http://127.0.0.1:${y.port('admin')}/api/v1/tls`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as {
      certificates: Array<{ names: string[]; issuer: string | null; notAfter: string; managed: boolean; nextRenewal: string | null }>;
      acme: { enabled: boolean; names?: Array<{ name: string; state: string; reason: string | null; nextRenewal: string | null }> };
    };
    return body.acme.names?.length === 3 ? body : null;
  });
  assert.equal(api.acme.enabled, true);
  for (const name of ['mail.example.test', 'mta-sts.example.test']) {
    const c = api.certificates.find((x) => x.managed && x.names.includes(name));
    assert.ok(c, `${name}: ${JSON.stringify(api)}`);
    assert.match(c.issuer!, /CN=Pebble Intermediate CA/);
    const renew = Date.parse(c.nextRenewal!);
    assert.ok(renew > Date.now() && renew < Date.parse(c.notAfter), `${name} renews between now and its expiry: ${c.nextRenewal}`);
    assert.equal(api.acme.names!.find((n) => n.name === name)!.nextRenewal, c.nextRenewal);
  }
  const fallback = api.certificates.find((x) => !x.managed);
  assert.equal(fallback?.nextRenewal, null);
  assert.deepEqual(
    api.acme.names!.filter((n) => n.state === 'skipped').map((n) => [n.name, /points at 192\.0\.2\.7/.test(n.reason ?? '')]),
    [['autoconfig.example.test', true]],
  );

  // A restart serves the stored certificates at once, without a new order.
  const y2 = await y.restart();
  t.after(() => y2.destroy());
  assert.equal((await peer(y2.port('imaps'), 'mail.example.test', root)).authorized, true);
  await until('the restarted server checked its names', async () => logs(y2, 'ACME enabled').length === 1 && (await y2.cli(['tls', 'status'])).stdout.includes('skipped'), 30_000);
  assert.equal(logs(y2, 'ACME: ordering certificate').length, 0);
});

test('ACME http-01: renewal at two thirds of the lifetime reaches the listeners; a CA outage keeps the old certificate, logs the error and retries', async (t) => {
  const env = await setup(t, 'http-01', { validitySeconds: 15, retry: '1s' });
  if (!env) return t.skip('pebble is not installed (Debian package "pebble")');
  const y = await env.inst();
  const obtained = () => logs(y, 'ACME: certificate obtained');
  await until('a certificate', async () => obtained().length >= 1, 60_000);
  const first = String(obtained()[0]!.serial).toUpperCase();
  await until('the first certificate served', async () => (await peer(y.port('imaps'), 'mail.example.test', '')).serial === first);

  // Renewal: pebble issues 15 s certificates, so the renewal comes after about 10 s.
  await until('a renewal', async () => obtained().length >= 2, 60_000);
  assert.ok(logs(y, 'ACME: renewing certificate').length >= 1);
  const second = String(obtained()[1]!.serial).toUpperCase();
  assert.notEqual(second, first);
  await until('the renewed certificate served', async () => (await peer(y.port('submissions'), 'mail.example.test', '')).serial === second);

  // Outage: stop the CA. The next renewals fail, are logged with the error and retried.
  await env.pebble.stop();
  const renewedBefore = obtained().length;
  await until('two failed renewals', async () => logs(y, 'ACME: renewal failed; keeping the current certificate').length >= 2, 60_000);
  const failures = logs(y, 'ACME: renewal failed; keeping the current certificate');
  assert.match(String(failures[0]!.err), /ECONNREFUSED|connect/);
  assert.equal(failures[1]!.attempt, 2);
  const kept = String(obtained().at(-1)!.serial).toUpperCase();
  assert.equal(obtained().length, renewedBefore);
  for (const listener of ['imaps', 'https'] as const) assert.equal((await peer(y.port(listener), 'mail.example.test', '')).serial, kept, listener);
  const status = await y.cli(['tls', 'status']);
  assert.match(status.stdout, /^mail\.example\.test {2}failed {2}issuer "Pebble Intermediate CA [^"]+" .* {2}error: .*(ECONNREFUSED|connect).* {2}next attempt \d{4}-/m);

  // The CA comes back (a new pebble run, which knows no accounts): the retry succeeds.
  await env.pebble.start();
  await until('a certificate after the outage', async () => obtained().length > renewedBefore, 60_000);
  const root = await env.pebble.root();
  await until('the new certificate served and valid under the new root', async () => {
    const p = await peer(y.port('imaps'), 'mail.example.test', root);
    return p.authorized;
  });
});
