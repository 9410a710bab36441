import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, cidrContains, inNetworks, networkKey, reversedIp, ipBytes } from './ip.js';
import { ptrNameToIp } from './dns.js';
import { authservId } from './spf-dkim-dmarc.js';

test('CIDR matching for IPv4, IPv6 and mapped addresses', () => {
  const lo = parseCidr('127.0.0.0/8')!;
  assert.ok(cidrContains(lo, '127.1.2.3'));
  assert.ok(cidrContains(lo, '::ffff:127.0.0.1'));
  assert.ok(!cidrContains(lo, '128.0.0.1'));
  assert.ok(!cidrContains(lo, '::1'));
  const v6 = parseCidr('2001:db8::/32')!;
  assert.ok(cidrContains(v6, '2001:db8:1::5'));
  assert.ok(!cidrContains(v6, '2001:db9::5'));
  assert.ok(cidrContains(parseCidr('::1/128')!, '::1'));
  assert.ok(cidrContains(parseCidr('192.0.2.0/25')!, '192.0.2.127'));
  assert.ok(!cidrContains(parseCidr('192.0.2.0/25')!, '192.0.2.128'));
  assert.equal(parseCidr('300.1.1.1/8'), null);
  assert.equal(parseCidr('10.0.0.0/33'), null);
  assert.equal(ipBytes('1:2:3:4:5:6:7:8:9'), null);
});

test('greylisting network keys and DNSBL reversed names (RFC 5782 §2.1, §2.4)', () => {
  assert.equal(networkKey('192.0.2.77'), '192.0.2.0/24');
  assert.equal(networkKey('2001:db8:1:2:3:4:5:6'), '2001:0db8:0001:0002::/64');
  assert.equal(reversedIp('192.0.2.99'), '99.2.0.192');
  assert.equal(reversedIp('2001:db8:1:2:3:4:567:89ab'), 'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2');
});

test('PTR query names back to addresses', () => {
  assert.equal(ptrNameToIp('4.3.2.1.in-addr.arpa'), '1.2.3.4');
  assert.equal(ptrNameToIp('b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.'), '2001:0db8:0001:0002:0003:0004:0567:89ab');
  assert.equal(ptrNameToIp('example.com'), null);
});

test('authserv-id of an Authentication-Results value (RFC 8601 §2.2)', () => {
  assert.equal(authservId(' mx.b.test; spf=pass'), 'mx.b.test');
  assert.equal(authservId('MX.B.TEST 1; none'), 'mx.b.test');
  assert.equal(authservId('(comment) mx.b.test (x); dkim=pass'), 'mx.b.test');
});

test('inNetworks: answers kept per list of networks stay right for each list and each address', () => {
  const loopback = ['127.0.0.0/8', '::1/128'].map((s) => parseCidr(s)!);
  const office = [parseCidr('192.0.2.0/24')!];
  for (let round = 0; round < 2; round++) {
    assert.equal(inNetworks(loopback, '127.0.0.1'), true);
    assert.equal(inNetworks(loopback, '::ffff:127.0.0.9'), true);
    assert.equal(inNetworks(loopback, '::1'), true);
    assert.equal(inNetworks(office, '127.0.0.1'), false);
    assert.equal(inNetworks(office, '192.0.2.77'), true);
    assert.equal(inNetworks(loopback, '192.0.2.77'), false);
    assert.equal(inNetworks(loopback, 'not an address'), false);
  }
  // Past the bound the answers are worked out again, still right.
  for (let i = 0; i < 1500; i++) assert.equal(inNetworks(office, `192.0.${2 + (i % 2)}.${i % 250}`), i % 2 === 0);
});
