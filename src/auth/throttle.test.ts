import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, ipKey, type ThrottleDecision } from './throttle.js';

function setup() {
  let now = 1_000_000;
  const t = new AuthThrottle({ freeFailures: 3, maxFailures: 6, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 4000, accountMaxDelayMs: 2000, now: () => now });
  const attempt = (ip: string, user: string, ok: boolean): ThrottleDecision => {
    const d = t.begin(ip, user);
    if (d.allowed) t.end(ip, user, ok);
    return d;
  };
  return { t, attempt, advance: (ms: number) => (now += ms) };
}

test('free failures, then a growing delay, then a refusal; the window expires them', () => {
  const { attempt, advance } = setup();
  const delays: Array<number | string> = [];
  for (let i = 0; i < 8; i++) {
    const d = attempt('1.2.3.4', 'alice@a.test', false);
    delays.push(d.allowed ? d.delayMs : `refused ${d.retryAfterMs}`);
    advance(1000);
  }
  // 3 free, then 1s, 2s, 4s (capped at max), then refused until the oldest failure leaves the window.
  assert.deepEqual(delays, [0, 0, 0, 1000, 2000, 4000, 'refused 54000', 'refused 53000']);
  advance(52_000); // t = 60s after the first failure: it drops out
  const d = attempt('1.2.3.4', 'alice@a.test', false);
  assert.equal(d.allowed, true);
});

test('per account: failures from many IPs slow the account down (capped) but never refuse it', () => {
  const { t, attempt } = setup();
  // A guesser spread over many addresses: each address stays under its own free failures, yet the
  // account's delay grows (1s, then the account cap of 2s) for every further attempt.
  const delays: number[] = [];
  for (let i = 0; i < 12; i++) {
    const d = attempt(`10.0.0.${i}`, 'bob@a.test', false);
    assert.equal(d.allowed, true, `attempt ${i} refused`);
    delays.push(d.allowed ? d.delayMs : -1);
  }
  assert.deepEqual(delays, [0, 0, 0, 1000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000]);
  // The owner, from an address without failures: allowed, after the capped account delay.
  assert.deepEqual(attempt('10.0.0.99', 'bob@a.test', true), { allowed: true, delayMs: 2000 });
  // Another account from a fresh IP is not affected.
  assert.deepEqual(attempt('10.0.0.100', 'carol@a.test', false), { allowed: true, delayMs: 0 });
  assert.ok(t.failures('account', 'bob@a.test') > 0);
});

test('one IP that keeps failing against one account: that IP is refused, the owner elsewhere is not', () => {
  const { attempt } = setup();
  for (let i = 0; i < 6; i++) assert.equal(attempt('127.0.0.5', 'bob@a.test', false).allowed, true);
  // The failing IP is refused, even with the right password.
  assert.equal(attempt('127.0.0.5', 'bob@a.test', true).allowed, false);
  // The owner from another address gets in, delayed at most the account cap.
  assert.deepEqual(attempt('127.0.0.1', 'bob@a.test', true), { allowed: true, delayMs: 2000 });
});

test('per IP: failures against many accounts add up for one IP', () => {
  const { attempt } = setup();
  for (let i = 0; i < 6; i++) attempt('5.5.5.5', `user${i}@a.test`, false);
  assert.equal(attempt('5.5.5.5', 'fresh@a.test', true).allowed, false);
  assert.equal(attempt('5.5.5.6', 'fresh@a.test', true).allowed, true);
});

test('a success clears the account failures from its own IP only, and never the IP counter', () => {
  const { t, attempt } = setup();
  for (let i = 0; i < 4; i++) attempt('7.7.7.7', 'dave@a.test', false);
  attempt('8.8.8.8', 'dave@a.test', false);
  assert.equal(t.failures('account', 'dave@a.test'), 5);
  // The owner's own typos from 8.8.8.8 are forgotten on success; the guesser's from 7.7.7.7 are not,
  // so the owner's mail client logging in does not reset the slowdown of a guesser elsewhere.
  assert.deepEqual(attempt('8.8.8.8', 'dave@a.test', true), { allowed: true, delayMs: 2000 });
  assert.equal(t.failures('account', 'dave@a.test'), 4);
  assert.equal(t.failures('ip', '8.8.8.8'), 1);
  assert.equal(t.failures('ip', '7.7.7.7'), 4);
  assert.deepEqual(attempt('9.9.9.9', 'dave@a.test', false), { allowed: true, delayMs: 2000 });
});

test('attempts in progress count once a failure is on record: parallel guesses cannot race past the limit', () => {
  const { t } = setup();
  const first = t.begin('6.6.6.6', 'eve@a.test');
  assert.ok(first.allowed);
  t.end('6.6.6.6', 'eve@a.test', false);
  const decisions = Array.from({ length: 10 }, () => t.begin('6.6.6.6', 'eve@a.test'));
  assert.equal(decisions.filter((d) => d.allowed).length, 5);
  assert.ok(decisions.slice(5).every((d) => !d.allowed && d.retryAfterMs >= 1000));
});

test('a burst of logins from a client with no failures is neither delayed nor refused (ten IMAPS connections at once)', () => {
  const { t } = setup();
  const decisions = Array.from({ length: 10 }, () => t.begin('6.6.6.7', 'ann@a.test'));
  assert.deepEqual(
    decisions.map((d) => (d.allowed ? d.delayMs : -1)),
    Array.from({ length: 10 }, () => 0),
  );
  for (let i = 0; i < 10; i++) t.end('6.6.6.7', 'ann@a.test', true);
});

test('attempts in progress count for the account too: parallel guesses from many IPs are all delayed', () => {
  const { t } = setup();
  t.begin('10.2.1.1', 'eve@a.test');
  t.end('10.2.1.1', 'eve@a.test', false);
  const decisions = Array.from({ length: 10 }, (_, i) => t.begin(`10.2.0.${i}`, 'eve@a.test'));
  assert.ok(decisions.every((d) => d.allowed));
  assert.deepEqual(
    decisions.map((d) => (d.allowed ? d.delayMs : -1)),
    [0, 0, 1000, 2000, 2000, 2000, 2000, 2000, 2000, 2000],
  );
});

test('the account delay reaches its cap with a small base and stays there for the whole window', () => {
  let now = 0;
  const t = new AuthThrottle({ freeFailures: 3, maxFailures: 10, windowMs: 60_000, baseDelayMs: 100, maxDelayMs: 400, accountMaxDelayMs: 3000, now: () => now });
  const delays: number[] = [];
  for (let i = 0; i < 20; i++) {
    const d = t.begin(`10.3.0.${i}`, 'frank@a.test');
    assert.ok(d.allowed);
    delays.push(d.delayMs);
    t.end(`10.3.0.${i}`, 'frank@a.test', false);
    now += 1000;
  }
  assert.deepEqual(delays.slice(0, 10), [0, 0, 0, 100, 200, 400, 800, 1600, 3000, 3000]);
  assert.ok(delays.slice(8).every((d) => d === 3000), delays.join(' '));
  now += 60_000;
  assert.deepEqual(t.begin('10.3.1.1', 'frank@a.test'), { allowed: true, delayMs: 0 });
});

test('IPv6 clients are grouped by /64', () => {
  assert.equal(ipKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(ipKey('2001:db8:1:2::ffff'), '2001:db8:1:2::/64');
  assert.equal(ipKey('2001:0db8:0001:0002:0:0:0:1'), '2001:db8:1:2::/64');
  assert.equal(ipKey('::1'), '0:0:0:0::/64');
  assert.equal(ipKey('192.0.2.1'), '192.0.2.1');
  const { attempt } = setup();
  for (let i = 0; i < 6; i++) attempt(`2001:db8:1:2::${i + 1}`, `u${i}@a.test`, false);
  assert.equal(attempt('2001:db8:1:2:ffff::9', 'x@a.test', true).allowed, false);
  assert.equal(attempt('2001:db8:1:3::9', 'x@a.test', true).allowed, true);
});

test('memory stays bounded: keys without failures are forgotten', () => {
  let now = 0;
  const t = new AuthThrottle({ freeFailures: 3, maxFailures: 6, windowMs: 1000, baseDelayMs: 1, maxDelayMs: 1, accountMaxDelayMs: 1, now: () => now, maxKeys: 50 });
  for (let i = 0; i < 500; i++) {
    t.begin(`10.1.${i >> 8}.${i & 255}`, `u${i}`);
    t.end(`10.1.${i >> 8}.${i & 255}`, `u${i}`, false);
    now += 10;
  }
  const sizes = t as unknown as { ips: Map<string, unknown>; accounts: Map<string, unknown> };
  assert.ok(sizes.ips.size <= 51 && sizes.accounts.size <= 51, `${sizes.ips.size} ${sizes.accounts.size}`);
});
