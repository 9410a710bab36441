// tlsStatus: the provider's certificates with the ACME manager's next renewal per managed name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tlsStatus, type CertificateSource } from './tls.js';
import type { NameStatus } from '../acme/files.js';

const now = new Date('2030-01-01T00:00:00Z');
const provider: CertificateSource = {
  source: 'self-signed',
  certificates: () => [
    { names: ['mail.example.test'], validTo: new Date('2030-03-01T00:00:00Z'), issuer: 'CN=Test CA', managed: true },
    { names: ['mta-sts.example.test'], validTo: new Date('2030-02-01T00:00:00Z'), issuer: 'CN=Test CA', managed: true },
    { names: ['mail.example.test'], validTo: new Date('2031-01-01T00:00:00Z'), issuer: 'CN=mail.example.test', managed: false },
  ],
};
const names: NameStatus[] = [
  { name: 'mail.example.test', state: 'issued', issuer: 'CN=Test CA', expires: '2030-03-01T00:00:00.000Z', renewAt: '2030-02-10T00:00:00.000Z' },
  { name: 'mta-sts.example.test', state: 'failed', reason: 'connect ECONNREFUSED', expires: '2030-02-01T00:00:00.000Z', renewAt: '2029-12-20T00:00:00.000Z', nextAttempt: '2030-01-01T00:10:00.000Z' },
  { name: 'autoconfig.example.test', state: 'skipped', reason: 'points at 192.0.2.7, not at this server' },
];

test('managed certificates get their next renewal (the retry time after a failure); the names ACME skipped are listed with the reason', () => {
  const s = tlsStatus(provider, { status: () => names }, now);
  assert.equal(s.fallback, 'self-signed');
  assert.deepEqual(
    s.certificates.map((c) => [c.names[0], c.issuer, c.managed, c.nextRenewal, c.daysLeft, c.expired]),
    [
      ['mail.example.test', 'CN=Test CA', true, '2030-02-10T00:00:00.000Z', 59, false],
      ['mta-sts.example.test', 'CN=Test CA', true, '2030-01-01T00:10:00.000Z', 31, false],
      ['mail.example.test', 'CN=mail.example.test', false, null, 365, false],
    ],
  );
  assert.deepEqual(s.acme, {
    enabled: true,
    names: [
      { name: 'mail.example.test', state: 'issued', reason: null, expires: '2030-03-01T00:00:00.000Z', nextRenewal: '2030-02-10T00:00:00.000Z' },
      { name: 'mta-sts.example.test', state: 'failed', reason: 'connect ECONNREFUSED', expires: '2030-02-01T00:00:00.000Z', nextRenewal: '2030-01-01T00:10:00.000Z' },
      { name: 'autoconfig.example.test', state: 'skipped', reason: 'points at 192.0.2.7, not at this server', expires: null, nextRenewal: null },
    ],
  });
});

test('without ACME: no renewal, acme off; before the first check: managed certificates have no renewal yet', () => {
  const off = tlsStatus(provider, null, now);
  assert.deepEqual(off.acme, { enabled: false });
  assert.ok(off.certificates.every((c) => c.nextRenewal === null));
  const unchecked = tlsStatus(provider, { status: () => [] }, now);
  assert.deepEqual(unchecked.acme, { enabled: true, names: [] });
  assert.ok(unchecked.certificates.every((c) => c.nextRenewal === null));
});
