import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { configSchema } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { authFailureLine, createAuthenticator, escapeLogValue, hashPassword, verifyPassword } from './index.js';

let dir: string;
let store: Store;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'yubin-auth-'));
  store = await openStore(dir);
  await store.addDomain('a.test');
  await store.addAccount('alice@a.test', await hashPassword('correct horse'));
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function setup(auth: Record<string, unknown> = {}) {
  const lines: Array<Record<string, unknown> & { msg: string; level: number }> = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  let now = 5_000_000;
  const slept: number[] = [];
  const config = configSchema.parse({ hostname: 'mail.a.test', data_dir: dir, auth });
  const authn = createAuthenticator(store, config, createLogger('info', sink), {
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  });
  return { authn, lines, slept, advance: (ms: number) => (now += ms) };
}

test('hashPassword makes argon2id PHC strings; verifyPassword checks them', async () => {
  const h = await hashPassword('pw');
  assert.match(h, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.equal(await verifyPassword(h, 'pw'), true);
  assert.equal(await verifyPassword(h, 'PW'), false);
  assert.equal(await verifyPassword('not a hash', 'pw'), false);
  assert.equal(await verifyPassword('$argon2id$garbage', 'pw'), false);
});

test('the right password, any case of the address, logs in', async () => {
  const { authn } = setup();
  const r = await authn.authenticate({ username: 'Alice@A.Test', password: 'correct horse', ip: '192.0.2.1', protocol: 'imap' });
  assert.equal(r.ok, true);
  assert.equal(r.ok && r.account.address, 'alice@a.test');
});

test('an unknown user and a wrong password get the same answer', async () => {
  const { authn, lines } = setup();
  const wrong = await authn.authenticate({ username: 'alice@a.test', password: 'nope', ip: '192.0.2.2', protocol: 'imap' });
  const unknown = await authn.authenticate({ username: 'nobody@a.test', password: 'nope', ip: '192.0.2.3', protocol: 'imap' });
  const malformed = await authn.authenticate({ username: 'no at sign', password: 'nope', ip: '192.0.2.4', protocol: 'pop3' });
  assert.deepEqual(wrong, { ok: false, reason: 'invalid' });
  assert.deepEqual(unknown, wrong);
  assert.deepEqual(malformed, wrong);

  const fails = lines.filter((l) => l.msg.startsWith('auth failed:'));
  assert.equal(fails[0]!.msg, 'auth failed: protocol=imap ip=192.0.2.2 user=alice@a.test reason=invalid');
  assert.equal(fails[1]!.msg, 'auth failed: protocol=imap ip=192.0.2.3 user=nobody@a.test reason=invalid');
  assert.equal(fails[2]!.msg, 'auth failed: protocol=pop3 ip=192.0.2.4 user=no\\x20at\\x20sign reason=invalid');
});

test('an unknown user costs about the same time as a wrong password', async () => {
  const { authn } = setup({ throttle_max_failures: 1000 });
  const time = async (username: string) => {
    const t0 = process.hrtime.bigint();
    await authn.authenticate({ username, password: 'nope', ip: '198.51.100.1', protocol: 'smtp' });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 5; i++) {
    known.push(await time('alice@a.test'));
    unknown.push(await time(`ghost${i}@a.test`));
  }
  // The minimum is what the work costs; load on a shared machine only adds to it.
  const k = Math.min(...known);
  const u = Math.min(...unknown);
  assert.ok(u > k / 3 && u < k * 3, `known ${k.toFixed(1)} ms vs unknown ${u.toFixed(1)} ms`);
});

test('authzid: empty or the user itself is fine; anyone else is refused like a wrong password', async () => {
  const { authn, lines } = setup();
  const ok = await authn.authenticate({ username: 'alice@a.test', password: 'correct horse', authzid: 'ALICE@a.test', ip: '192.0.2.10', protocol: 'smtp' });
  assert.equal(ok.ok, true);
  const other = await authn.authenticate({ username: 'alice@a.test', password: 'correct horse', authzid: 'bob@a.test', ip: '192.0.2.10', protocol: 'smtp' });
  assert.deepEqual(other, { ok: false, reason: 'invalid' });
  assert.equal(lines.at(-1)!.msg, 'auth failed: protocol=smtp ip=192.0.2.10 user=alice@a.test reason=authzid');
});

test('throttling: growing delays, then refusal without checking, even with the right password', async () => {
  const { authn, slept, lines, advance } = setup({ throttle_free_failures: 2, throttle_max_failures: 4, throttle_window: '10m', throttle_delay: '1s', throttle_max_delay: '10s' });
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await authn.authenticate({ username: 'alice@a.test', password: `bad${i}`, ip: '203.0.113.9', protocol: 'imap' }));
  assert.ok(results.every((r) => !r.ok && r.reason === 'invalid'));
  assert.deepEqual(slept, [1000, 2000]);
  const refused = await authn.authenticate({ username: 'alice@a.test', password: 'correct horse', ip: '203.0.113.9', protocol: 'imap' });
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.reason, 'throttled');
  assert.ok(!refused.ok && refused.reason === 'throttled' && refused.retryAfterMs > 0);
  assert.match(lines.at(-1)!.msg, /^auth failed: protocol=imap ip=203\.0\.113\.9 user=alice@a\.test reason=throttled$/);
  // From another IP the owner gets in: the account is slowed down (capped), never refused.
  slept.length = 0;
  const other = await authn.authenticate({ username: 'alice@a.test', password: 'correct horse', ip: '203.0.113.10', protocol: 'imap' });
  assert.equal(other.ok, true);
  assert.deepEqual(slept, [3000]);
  // A wrong password from a third address is slowed by the account's failures too.
  slept.length = 0;
  await authn.authenticate({ username: 'alice@a.test', password: 'bad', ip: '203.0.113.11', protocol: 'imap' });
  assert.deepEqual(slept, [3000]);
  // After the window, the first IP is allowed again and nothing is remembered.
  advance(11 * 60_000);
  const ok = await authn.authenticate({ username: 'alice@a.test', password: 'correct horse', ip: '203.0.113.9', protocol: 'imap' });
  assert.equal(ok.ok, true);
  assert.equal(authn.throttle.failures('account', 'alice@a.test'), 0);
  assert.equal(authn.throttle.failures('ip', '203.0.113.9'), 0);
});

test('the account delay is an async wait for that attempt only: other logins are answered meanwhile', async () => {
  // Real timers: the account's failures from other addresses make the owner wait 1.5 s (the cap)...
  const config = configSchema.parse({
    hostname: 'mail.a.test',
    data_dir: dir,
    auth: { throttle_free_failures: 1, throttle_delay: '1500ms', throttle_max_delay: '1500ms', throttle_account_max_delay: '1500ms' },
  });
  const authn = createAuthenticator(store, config, createLogger('silent'));
  authn.throttle.begin('192.0.2.200', 'alice@a.test');
  authn.throttle.end('192.0.2.200', 'alice@a.test', false);
  const order: string[] = [];
  const t0 = performance.now();
  const slowed = authn.authenticate({ username: 'alice@a.test', password: 'correct horse', ip: '192.0.2.201', protocol: 'imap' }).then((r) => {
    order.push('alice');
    return { r, ms: performance.now() - t0 };
  });
  // ...while a login for another name, from another address, is answered without waiting for it.
  const other = await authn.authenticate({ username: 'nobody@a.test', password: 'x', ip: '192.0.2.202', protocol: 'pop3' });
  order.push('other');
  assert.deepEqual(other, { ok: false, reason: 'invalid' });
  const { r, ms } = await slowed;
  assert.equal(r.ok, true);
  assert.ok(ms >= 1400, `the delayed login took ${Math.round(ms)} ms`);
  assert.deepEqual(order, ['other', 'alice']);
});

test('log values are escaped so a user name cannot forge fields or lines', () => {
  assert.equal(escapeLogValue('a b\r\nip=1.1.1.1\\x'), 'a\\x20b\\x0d\\x0aip\\x3d1.1.1.1\\x5cx');
  assert.equal(escapeLogValue('ü\u2028'), 'ü\\u2028');
  assert.equal(escapeLogValue('x'.repeat(300)).length, 259);
  assert.equal(authFailureLine('pop3', '::1', 'eve" user=root', 'invalid'), 'auth failed: protocol=pop3 ip=::1 user=eve\\x22\\x20user\\x3droot reason=invalid');
});

test('the fail2ban filter in docs/network.md matches the logged JSON line and finds the real IP', async () => {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      raw.push(String(chunk).trimEnd());
      cb();
    },
  });
  const config = configSchema.parse({ hostname: 'mail.a.test', data_dir: dir });
  const authn = createAuthenticator(store, config, createLogger('info', sink), { sleep: async () => {} });
  const forged = 'x","msg":"auth failed: protocol=a ip=6.6.6.6 user=a reason=invalid"}';
  await authn.authenticate({ username: forged, password: 'pw', ip: '2001:db8::7', protocol: 'imap' });
  await authn.authenticate({ username: 'alice@a.test', password: 'pw', ip: '192.0.2.77', protocol: 'pop3' });
  // failregex = "msg":"auth failed: protocol=\S+ ip=<ADDR> user=\S* reason=\w+"\}$
  const failregex = /"msg":"auth failed: protocol=\S+ ip=(?<addr>[0-9A-Fa-f.:]+) user=\S* reason=\w+"\}$/;
  const hosts = raw.map((l) => failregex.exec(l)?.groups?.addr ?? null);
  assert.deepEqual(hosts, ['2001:db8::7', '192.0.2.77']);
  assert.match(raw[0]!, /^\{"level":40,"time":\d+,/);
});

test('a very long user name is no account, is cut in the log and still gets the same answer', async () => {
  const { authn, lines } = setup();
  const long = `${'x'.repeat(70_000)}@a.test`;
  assert.deepEqual(await authn.authenticate({ username: long, password: 'pw', ip: '192.0.2.99', protocol: 'smtp' }), { ok: false, reason: 'invalid' });
  const last = lines.at(-1)!;
  assert.ok(last.msg.length < 400);
  assert.ok(String(last.user).length <= 256);
});
