// The resolver's answer cache: answers kept by TTL (A/AAAA) or the fixed lifetime, negative
// answers capped, temporary failures never kept, bounded size, lookups in flight shared.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type TestDnsServer } from '../../test/helpers/dns-server.js';
import { createResolver, DnsCache, DnsError } from './resolver.js';

let dns: TestDnsServer;
before(async () => {
  dns = await startDnsServer();
});
after(async () => {
  await dns.close();
});

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

test('an A answer is kept for its TTL (the test server answers TTL 60), then asked again', async () => {
  const c = clock();
  const r = createResolver({ servers: [dns.address], timeoutMs: 500, tries: 1, cache: { now: c.now } });
  dns.setRecords('ttl.test', 'A', ['127.0.0.5']);
  const q0 = dns.queries;
  assert.deepEqual(await r.resolve4('ttl.test'), ['127.0.0.5']);
  assert.deepEqual(await r.resolve4('TTL.test.'), ['127.0.0.5']);
  assert.equal(dns.queries, q0 + 1, 'the second lookup (another case, a trailing dot) came from the cache');
  dns.setRecords('ttl.test', 'A', ['127.0.0.6']);
  c.t += 59_000;
  assert.deepEqual(await r.resolve4('ttl.test'), ['127.0.0.5'], 'still within the TTL');
  c.t += 2_000;
  assert.deepEqual(await r.resolve4('ttl.test'), ['127.0.0.6'], 'past the TTL: asked again');
  assert.equal(dns.queries, q0 + 2);
});

test('types without a reported TTL (TXT, MX) are kept for unknownTtlMs; maxTtlMs caps every answer', async () => {
  const c = clock();
  const r = createResolver({ servers: [dns.address], timeoutMs: 500, tries: 1, cache: { now: c.now, unknownTtlMs: 10_000, maxTtlMs: 30_000 } });
  dns.setRecords('txt.test', 'TXT', ['v=spf1 -all']);
  dns.setRecords('txt.test', 'A', ['127.0.0.7']);
  const q0 = dns.queries;
  await r.resolveTxt('txt.test');
  await r.resolve4('txt.test');
  c.t += 9_000;
  await r.resolveTxt('txt.test');
  assert.equal(dns.queries, q0 + 2);
  c.t += 2_000;
  await r.resolveTxt('txt.test');
  assert.equal(dns.queries, q0 + 3, 'TXT asked again after unknownTtlMs');
  c.t += 20_000;
  await r.resolve4('txt.test');
  assert.equal(dns.queries, q0 + 4, 'A (TTL 60 s) asked again after the 30 s cap');
});

test('NXDOMAIN and NODATA are kept for the negative cap; SERVFAIL is never kept', async () => {
  const c = clock();
  const r = createResolver({ servers: [dns.address], timeoutMs: 500, tries: 1, cache: { now: c.now, negativeTtlMs: 5_000 } });
  dns.setRecords('nodata.test', 'A', ['127.0.0.8']);
  const q0 = dns.queries;
  await assert.rejects(r.resolve4('missing.test'), (e: unknown) => e instanceof DnsError && e.kind === 'nxdomain');
  await assert.rejects(r.resolveTxt('nodata.test'), (e: unknown) => e instanceof DnsError && e.kind === 'nodata');
  dns.setRecords('missing.test', 'A', ['127.0.0.9']);
  await assert.rejects(r.resolve4('missing.test'), (e: unknown) => e instanceof DnsError && e.kind === 'nxdomain');
  await assert.rejects(r.resolveTxt('nodata.test'), (e: unknown) => e instanceof DnsError && e.kind === 'nodata');
  assert.equal(dns.queries, q0 + 2, 'the negative answers came from the cache');
  c.t += 5_001;
  assert.deepEqual(await r.resolve4('missing.test'), ['127.0.0.9'], 'past the negative cap: asked again');

  dns.fail('broken.test', 'servfail');
  const q1 = dns.queries;
  await assert.rejects(r.resolve4('broken.test'), (e: unknown) => e instanceof DnsError && e.kind === 'temporary');
  dns.clear('broken.test');
  dns.setRecords('broken.test', 'A', ['127.0.0.10']);
  assert.deepEqual(await r.resolve4('broken.test'), ['127.0.0.10'], 'a temporary failure is asked again at once');
  assert.equal(dns.queries, q1 + 2);
});

test('lookups in flight at the same time share one query; callers get their own copies', async () => {
  const r = createResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 });
  dns.setRecords('shared.test', 'MX', ['10 a.shared.test', '20 b.shared.test']);
  const q0 = dns.queries;
  const answers = await Promise.all(Array.from({ length: 10 }, () => r.resolveMx('shared.test')));
  assert.equal(dns.queries, q0 + 1);
  answers[0]!.sort((a, b) => b.priority - a.priority);
  answers[0]![0]!.exchange = 'changed';
  const again = await r.resolveMx('shared.test');
  assert.ok(again.every((m) => m.exchange !== 'changed'));
  assert.equal(r.cache!.hits, 10);
});

test('the cache is bounded: the oldest answers go first', async () => {
  const cache = new DnsCache({ maxEntries: 3 });
  let asked = 0;
  const ask = (v: string) => async () => {
    asked++;
    return { value: v, ttl: 300 };
  };
  for (const k of ['a', 'b', 'c', 'd']) await cache.lookup(k, ask(k));
  assert.equal(cache.size, 3);
  await cache.lookup('d', ask('d'));
  assert.equal(asked, 4, 'd is cached');
  await cache.lookup('a', ask('a'));
  assert.equal(asked, 5, 'a was dropped');
});

test('a TTL of 0 is not cached (RFC 2181 §8); cache: false asks every time', async () => {
  const cache = new DnsCache();
  let asked = 0;
  const ask = async () => {
    asked++;
    return { value: 'x', ttl: 0 };
  };
  await cache.lookup('z', ask);
  await cache.lookup('z', ask);
  assert.equal(asked, 2);
  const r = createResolver({ servers: [dns.address], timeoutMs: 500, tries: 1, cache: false });
  dns.setRecords('nocache.test', 'A', ['127.0.0.11']);
  const q0 = dns.queries;
  await r.resolve4('nocache.test');
  await r.resolve4('nocache.test');
  assert.equal(dns.queries, q0 + 2);
  assert.equal(r.cache, null);
});
