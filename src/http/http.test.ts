// The HTTP apps without sockets (Hono's app.request): readiness, ACME challenges, the admin
// listener's loopback rule, the MTA-STS id, XML escaping and request-body parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { createApps, checkAdminAddresses, isLoopback } from './server.js';
import { createMetrics } from './metrics.js';
import { AcmeChallenges } from './acme-challenges.js';
import type { HttpDeps, Readiness } from './deps.js';
import { mtaStsId, mtaStsPolicy, mtaStsRecord } from './mta-sts.js';
import { elementText, escapeXml, isXmlSafe } from './xml.js';
import { mailEndpoints } from './endpoints.js';

function deps(over: { readiness?: Readiness } = {}): HttpDeps {
  const config = configSchema.parse({ hostname: 'mail.example.test', data_dir: '/nonexistent' });
  return {
    config,
    store: { isLocalDomain: async (d: string) => d === 'example.test' },
    logger: createLogger('silent'),
    metrics: createMetrics(),
    challenges: new AcmeChallenges(),
    mailAddresses: () => ({ imaps: ['127.0.0.1:993'], submission: ['127.0.0.1:587'] }),
    readiness: async () => over.readiness ?? { ready: true, problems: [] },
  };
}

test('/readyz is 503 with the reasons when not ready, 200 when ready; /healthz always 200', async () => {
  const bad = createApps(deps({ readiness: { ready: false, problems: ['store closed'] } }), { httpsPort: () => 443 });
  const r = await bad.admin.request('/readyz');
  assert.equal(r.status, 503);
  assert.match(await r.text(), /store closed/);
  assert.equal((await bad.admin.request('/healthz')).status, 200);
  assert.equal((await createApps(deps(), { httpsPort: () => 443 }).admin.request('/readyz')).status, 200);
});

test('ACME http-01: a known token answers its key authorization on http, unknown 404', async () => {
  const d = deps();
  const apps = createApps(d, { httpsPort: () => 443 });
  d.challenges.set('tok_en-1', 'tok_en-1.thumbprint');
  const r = await apps.http.request('http://mail.example.test/.well-known/acme-challenge/tok_en-1');
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'tok_en-1.thumbprint');
  assert.equal(r.headers.get('content-type'), 'application/octet-stream');
  d.challenges.delete('tok_en-1');
  assert.equal((await apps.http.request('http://mail.example.test/.well-known/acme-challenge/tok_en-1')).status, 404);
  assert.throws(() => d.challenges.set('../x', 'y'), /base64url/);
});

test('http redirects to https on port 443 without a port in the URL; admin API under /api/v1 only on admin', async () => {
  const apps = createApps(deps(), {
    httpsPort: () => 443,
    adminRoutes: [(api) => api.get('/ping', (c) => c.json({ pong: true }))],
  });
  const r = await apps.http.request('http://mta-sts.example.test/.well-known/mta-sts.txt', { headers: { host: 'mta-sts.example.test' } });
  assert.equal(r.status, 308);
  assert.equal(r.headers.get('location'), 'https://mta-sts.example.test/.well-known/mta-sts.txt');
  assert.deepEqual(await (await apps.admin.request('/api/v1/ping')).json(), { pong: true });
  assert.equal((await apps.admin.request('/api/v1/nothing')).status, 404);
  assert.equal((await apps.https.request('https://mail.example.test/api/v1/ping')).status, 404);
});

test('the admin listener refuses non-loopback addresses', () => {
  assert.doesNotThrow(() => checkAdminAddresses(['127.0.0.1:2081', '127.9.9.9:0', '[::1]:2081']));
  assert.throws(() => checkAdminAddresses(['0.0.0.0:2081']), /listen\.admin: 0\.0\.0\.0:2081 is not a loopback address/);
  assert.throws(() => checkAdminAddresses(['[::]:2081']), /not a loopback address/);
  assert.throws(() => checkAdminAddresses(['192.0.2.1:2081']), /not a loopback address/);
  assert.equal(isLoopback('::ffff:127.0.0.1'), true);
});

test('MTA-STS: the policy from [mta_sts], and an id that changes exactly when the policy does', () => {
  const c = (mta_sts: object) => configSchema.parse({ hostname: 'mail.example.test', mta_sts });
  const base = c({});
  assert.equal(mtaStsPolicy(base), 'version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\nmax_age: 604800\r\n');
  assert.equal(mtaStsPolicy(c({ mx: ['MX1.example.test', '*.example.test'] })), 'version: STSv1\r\nmode: testing\r\nmx: mx1.example.test\r\nmx: *.example.test\r\nmax_age: 604800\r\n');
  assert.match(mtaStsRecord(base), /^v=STSv1; id=[0-9a-f]{20}$/);
  assert.equal(mtaStsRecord(base), mtaStsRecord(c({})));
  assert.notEqual(mtaStsRecord(base), mtaStsRecord(c({ mode: 'enforce' })));
  assert.notEqual(mtaStsRecord(base), mtaStsRecord(c({ max_age: 86400 })));
  assert.equal(mtaStsId('x').length, 20);
  assert.throws(() => c({ mode: 'strict' }));
  assert.throws(() => c({ mx: ['bad name'] }));
});

test('XML: escaping of every metacharacter; characters XML cannot carry are refused', () => {
  assert.equal(escapeXml(`a<b>&"c'`), 'a&lt;b&gt;&amp;&quot;c&apos;');
  assert.equal(isXmlSafe('a\u0000b'), false);
  assert.equal(isXmlSafe('a\uD800b'), false);
  assert.equal(isXmlSafe('日本\u{1F600}\t'), true);
  assert.throws(() => escapeXml('\u0001'));
});

test('autodiscover request parsing: prefixes, entities, no DTDs, no markup inside', () => {
  assert.equal(elementText('<a:Autodiscover xmlns:a="x"><a:Request><a:EMailAddress> bob@example.test </a:EMailAddress></a:Request></a:Autodiscover>', 'EMailAddress'), 'bob@example.test');
  assert.equal(elementText('<EMailAddress>a&amp;b&#64;example.test</EMailAddress>', 'EMailAddress'), 'a&b@example.test');
  assert.equal(elementText('<EMailAddress>&bogus;@example.test</EMailAddress>', 'EMailAddress'), null);
  assert.equal(elementText('<!DOCTYPE x [<!ENTITY e "a">]><EMailAddress>&e;</EMailAddress>', 'EMailAddress'), null);
  assert.equal(elementText('<EMailAddressX>a@b</EMailAddressX>', 'EMailAddress'), null);
  assert.equal(elementText('<EMailAddress><b>a@b</b></EMailAddress>', 'EMailAddress'), null);
});

test('endpoints: implicit TLS first, listeners off or unbound not offered', () => {
  assert.deepEqual(mailEndpoints('h.test', { imap: ['127.0.0.1:143'], imaps: ['127.0.0.1:993'], pop3: [], submission: ['[::1]:587'] }), [
    { protocol: 'imap', host: 'h.test', port: 993, security: 'tls' },
    { protocol: 'imap', host: 'h.test', port: 143, security: 'starttls' },
    { protocol: 'smtp', host: 'h.test', port: 587, security: 'starttls' },
  ]);
});

test('dns-records: a published _mta-sts record with the id of another policy is WRONG; the current one ok', async () => {
  const { dnsRecords } = await import('../checks/dns-records.js');
  const { DnsError } = await import('../dns/resolver.js');
  const config = configSchema.parse({ hostname: 'mail.example.test', mta_sts: { mode: 'enforce' } });
  const none = async (): Promise<never> => {
    throw new DnsError('nxdomain', 'ENOTFOUND', 'no such name');
  };
  const check = async (published: string) => {
    const resolver = { resolveMx: none, resolve4: none, resolve6: none, reverse: none, resolveTxt: async (n: string) => (n === '_mta-sts.example.test' ? [published] : none()) };
    const out = await dnsRecords({ config, domain: 'example.test', keys: [], resolver });
    return out.find((r) => r.name === '_mta-sts.example.test.')!;
  };
  const stale = await check(mtaStsRecord(configSchema.parse({ hostname: 'mail.example.test' })));
  assert.equal(stale.status, 'wrong');
  assert.match(stale.found!, /another policy/);
  assert.match(stale.note!, /mode: enforce/);
  assert.equal((await check(mtaStsRecord(config))).status, 'ok');
});
