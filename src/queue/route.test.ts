import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type TestDnsServer } from '../../test/helpers/dns-server.js';
import { createResolver, type Resolver } from '../dns/resolver.js';
import { routeDomain, orderMx, routeSmarthost } from './route.js';

let dns: TestDnsServer;
let resolver: Resolver;

before(async () => {
  dns = await startDnsServer();
  resolver = createResolver({ servers: [dns.address], timeoutMs: 2000, tries: 1 });
  dns.setRecords('b.test', 'MX', ['20 mx2.b.test', '10 mx1.b.test', '10 mx1b.b.test']);
  dns.setRecords('mx1.b.test', 'A', ['127.0.0.3']);
  dns.setRecords('mx1b.b.test', 'A', ['127.0.0.4']);
  dns.setRecords('mx2.b.test', 'A', ['127.0.0.5']);
  dns.setRecords('mx2.b.test', 'AAAA', ['::1']);
  dns.setRecords('plain.test', 'A', ['127.0.0.9']);
  dns.setRecords('xn--bcher-kva.test', 'A', ['127.0.0.10']);
  dns.setRecords('nullmx.test', 'MX', ['0 .']);
  dns.setRecords('noaddr.test', 'TXT', ['v=spf1 -all']);
  dns.setRecords('deadmx.test', 'MX', ['10 nowhere.deadmx.test']);
  dns.setRecords('tempmx.test', 'MX', ['10 broken.tempmx.test']);
  dns.fail('broken.tempmx.test', 'servfail');
  dns.fail('servfail.test', 'servfail');
  dns.fail('timeout.test', 'timeout');
});
after(() => dns.close());

test('MX records by preference, equal preferences randomised (RFC 5321 §5.1)', async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const r = await routeDomain(resolver, 'b.test');
    assert.equal(r.kind, 'hosts');
    if (r.kind !== 'hosts') return;
    assert.deepEqual(r.hosts.map((h) => h.preference), [10, 10, 20]);
    assert.equal(r.hosts[2]!.name, 'mx2.b.test');
    assert.deepEqual(r.hosts[2]!.addresses, ['127.0.0.5', '::1']);
    seen.add(r.hosts[0]!.name);
  }
  assert.deepEqual([...seen].sort(), ['mx1.b.test', 'mx1b.b.test']);
});

test('orderMx is a stable sort by preference with a random key for ties', () => {
  const recs = [
    { exchange: 'c', priority: 30 },
    { exchange: 'a', priority: 10 },
    { exchange: 'b', priority: 10 },
  ];
  assert.deepEqual(orderMx(recs, () => 0.5).map((r) => r.exchange), ['a', 'b', 'c']);
  let k = 1;
  assert.deepEqual(orderMx(recs, () => (k -= 0.1)).map((r) => r.exchange), ['b', 'a', 'c']);
});

test('no MX: the domain itself (implicit MX)', async () => {
  const r = await routeDomain(resolver, 'plain.test');
  assert.deepEqual(r, { kind: 'hosts', hosts: [{ name: 'plain.test', addresses: ['127.0.0.9'], preference: 0 }], tempErrors: [] });
});

test('an internationalised domain is looked up by its A-label (RFC 5890)', async () => {
  const r = await routeDomain(resolver, 'bücher.test');
  assert.equal(r.kind === 'hosts' && r.hosts[0]!.addresses[0], '127.0.0.10');
});

test('null MX bounces with 5.1.10 (RFC 7505)', async () => {
  const r = await routeDomain(resolver, 'nullmx.test');
  assert.equal(r.kind, 'fail');
  if (r.kind === 'fail') {
    assert.equal(r.permanent, true);
    assert.equal(r.status, '5.1.10');
    assert.equal(r.code, 556);
  }
});

test('NXDOMAIN bounces with 5.1.2; no address at all with 5.4.4', async () => {
  const r = await routeDomain(resolver, 'does-not-exist.test');
  assert.equal(r.kind === 'fail' && r.permanent && r.status, '5.1.2');
  const n = await routeDomain(resolver, 'noaddr.test');
  assert.equal(n.kind === 'fail' && n.permanent && n.status, '5.4.4');
  const d = await routeDomain(resolver, 'deadmx.test');
  assert.equal(d.kind === 'fail' && d.permanent && d.status, '5.4.4');
});

test('SERVFAIL and timeouts defer with 4.4.3', async () => {
  for (const name of ['servfail.test', 'timeout.test', 'tempmx.test']) {
    const r = await routeDomain(resolver, name);
    assert.equal(r.kind, 'fail', name);
    if (r.kind === 'fail') {
      assert.equal(r.permanent, false, name);
      assert.equal(r.status, '4.4.3', name);
    }
  }
});

test('address literals and smarthosts', async () => {
  const r = await routeDomain(resolver, '[127.0.0.7]');
  assert.equal(r.kind === 'hosts' && r.hosts[0]!.addresses[0], '127.0.0.7');
  const s = await routeSmarthost(resolver, 'mx1.b.test');
  assert.equal(s.kind === 'hosts' && s.hosts[0]!.addresses[0], '127.0.0.3');
  const bad = await routeSmarthost(resolver, 'nothing.test');
  assert.equal(bad.kind === 'fail' && !bad.permanent, true);
});
