import { test } from 'node:test';
import assert from 'node:assert/strict';
import { srsForward, srsReverse, isSrsAddress, SrsError } from './srs.js';

const A = { secret: 'first secret', domain: 'fwd.test' };
const B = { secret: 'second secret', domain: 'relay.test' };
const now = new Date('2026-11-28T12:00:00Z');

test('SRS0: rewritten into our domain and back', () => {
  const r = srsForward('Alice.Smith@a.test', A, now);
  assert.match(r, /^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=a\.test=Alice\.Smith@fwd\.test$/);
  assert.ok(isSrsAddress(r));
  assert.equal(srsReverse(r, A, now), 'Alice.Smith@a.test');
  // receivers may change the case of the local part
  assert.equal(srsReverse(r.toLowerCase(), A, now).toLowerCase(), 'alice.smith@a.test');
});

test('null sender and our own addresses are not rewritten', () => {
  assert.equal(srsForward('', A, now), '');
  assert.equal(srsForward('bob@fwd.test', A, now), 'bob@fwd.test');
  assert.equal(srsForward('bob@FWD.test', A, now), 'bob@FWD.test');
});

test('SRS1: a second forwarder points back at the first, who reverses to the original', () => {
  const first = srsForward('alice@a.test', A, now);
  const second = srsForward(first, B, now);
  assert.match(second, /^SRS1=[A-Za-z0-9+/]{4}=fwd\.test==[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=a\.test=alice@relay\.test$/);
  const back1 = srsReverse(second, B, now);
  assert.equal(back1, first);
  assert.equal(srsReverse(back1, A, now), 'alice@a.test');
  // a third forwarder keeps pointing at the first
  const third = srsForward(second, { secret: 'x', domain: 'third.test' }, now);
  assert.match(third, /^SRS1=[^=]{4}=fwd\.test==.*@third\.test$/);
});

test('forged, damaged and expired SRS addresses are refused', () => {
  const r = srsForward('alice@a.test', A, now);
  assert.throws(() => srsReverse(r, { ...A, secret: 'other' }, now), SrsError);
  assert.throws(() => srsReverse(r.replace('=a.test=', '=evil.test='), A, now), /bad hash/);
  assert.throws(() => srsReverse('SRS0=xx@fwd.test', A, now), /malformed/);
  assert.throws(() => srsReverse('bob@fwd.test', A, now), /not an SRS address/);
  assert.throws(() => srsReverse(r, A, new Date(now.getTime() + 22 * 86_400_000)), /expired/);
  assert.equal(srsReverse(r, A, new Date(now.getTime() + 20 * 86_400_000)), 'alice@a.test');
});

test('createSrs: the hostname and a secret generated once into data_dir/srs.key (0600)', async () => {
  const { mkdtempSync, statSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { validateConfig } = await import('../config/load.js');
  const { createSrs } = await import('./srs.js');
  const dir = mkdtempSync(join(tmpdir(), 'yubin-srs-'));
  try {
    const config = validateConfig({ hostname: 'mail.fwd.test', data_dir: dir });
    const s1 = createSrs(config);
    assert.equal(statSync(join(dir, 'srs.key')).mode & 0o777, 0o600);
    const r = s1.forward('alice@a.test', now);
    assert.match(r, /@mail\.fwd\.test$/);
    assert.ok(s1.isOurs(r));
    assert.ok(!s1.isOurs('bob@mail.fwd.test'));
    assert.ok(!s1.isOurs(r.replace('mail.fwd.test', 'other.test')));
    // a second instance (restart) reads the same secret
    assert.equal(createSrs(config).reverse(r, now), 'alice@a.test');
    const own = createSrs(validateConfig({ hostname: 'mail.fwd.test', data_dir: dir, checks: { srs_domain: 'Fwd.Test', srs_secret: 'configured' } }));
    assert.equal(own.domain, 'fwd.test');
    assert.throws(() => own.reverse(r, now));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
