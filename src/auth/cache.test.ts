// The authentication cache: a repeated successful login skips argon2; a password change or an
// account removal takes effect at once; failed logins are never cached; entries expire.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../config/schema.js';
import { silentLogger } from '../log/logger.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { AuthCache, createAuthenticator, hashPassword } from './index.js';

let dir: string;
let store: Store;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'yubin-authcache-'));
  store = await openStore(dir);
  await store.addDomain('a.test');
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function setup(ttlMs = 60_000) {
  let now = 1_000_000;
  const config = configSchema.parse({ hostname: 'mail.a.test', data_dir: dir });
  const authn = createAuthenticator(store, config, silentLogger(), { now: () => now, sleep: async () => undefined, cache: { ttlMs } });
  const login = (username: string, password: string) => authn.authenticate({ username, password, ip: '192.0.2.1', protocol: 'smtp' });
  return { authn, login, advance: (ms: number) => (now += ms) };
}

test('a second successful login within the TTL is served from the cache; after the TTL argon2 runs again', async () => {
  await store.addAccount('bob@a.test', await hashPassword('pw-bob-1'));
  const { authn, login, advance } = setup(30_000);
  assert.equal((await login('bob@a.test', 'pw-bob-1')).ok, true);
  assert.equal(authn.cache.hits, 0);
  assert.equal((await login('BOB@a.test', 'pw-bob-1')).ok, true);
  assert.equal(authn.cache.hits, 1);
  advance(30_001);
  assert.equal((await login('bob@a.test', 'pw-bob-1')).ok, true);
  assert.equal(authn.cache.hits, 1, 'expired: verified in full');
});

test('failed logins are never cached, and a cached success does not let a wrong password in', async () => {
  await store.addAccount('carol@a.test', await hashPassword('pw-carol-1'));
  const { authn, login } = setup();
  assert.equal((await login('carol@a.test', 'wrong')).ok, false);
  assert.equal((await login('carol@a.test', 'wrong')).ok, false);
  assert.equal(authn.cache.size, 0);
  assert.equal((await login('carol@a.test', 'pw-carol-1')).ok, true);
  assert.equal((await login('carol@a.test', 'pw-carol-2')).ok, false);
  assert.equal((await login('carol@a.test', 'PW-CAROL-1')).ok, false);
  assert.equal(authn.cache.size, 1);
});

test('a password change invalidates the cached login at once (even made by another process)', async () => {
  await store.addAccount('dave@a.test', await hashPassword('old-password'));
  const { authn, login } = setup();
  assert.equal((await login('dave@a.test', 'old-password')).ok, true);
  assert.equal((await login('dave@a.test', 'old-password')).ok, true);
  assert.equal(authn.cache.hits, 1);
  await store.setPassword('dave@a.test', await hashPassword('new-password'));
  assert.equal((await login('dave@a.test', 'old-password')).ok, false, 'the old password no longer works');
  assert.equal(authn.cache.hits, 1);
  assert.equal((await login('dave@a.test', 'new-password')).ok, true);
});

test('a removed account cannot log in with cached credentials', async () => {
  await store.addAccount('erin@a.test', await hashPassword('pw-erin-1'));
  const { authn, login } = setup();
  assert.equal((await login('erin@a.test', 'pw-erin-1')).ok, true);
  await store.removeAccount('erin@a.test');
  assert.equal((await login('erin@a.test', 'pw-erin-1')).ok, false);
  assert.equal(authn.cache.hits, 0);
});

test('the cache keeps keyed hashes, never the password; it is bounded', () => {
  const c = new AuthCache({ maxEntries: 2 });
  c.add('u@a.test', 'secret-password', '$argon2id$x');
  const keys = [...(c as unknown as { entries: Map<string, number> }).entries.keys()];
  assert.ok(keys.every((k) => !k.includes('secret') && k.length === 44));
  c.add('v@a.test', 'p2', '$argon2id$y');
  c.add('w@a.test', 'p3', '$argon2id$z');
  assert.equal(c.size, 2);
  assert.equal(c.has('u@a.test', 'secret-password', '$argon2id$x'), false, 'the oldest went first');
  assert.equal(c.has('w@a.test', 'p3', '$argon2id$z'), true);
  // another process (another key) computes other tags
  const other = new AuthCache();
  other.add('w@a.test', 'p3', '$argon2id$z');
  assert.notDeepEqual([...(other as unknown as { entries: Map<string, number> }).entries.keys()], [...(c as unknown as { entries: Map<string, number> }).entries.keys()].slice(-1));
});

test('logins with the same credentials at the same moment share one argon2 run; a wrong password is not shared with the right one', async () => {
  await store.addAccount('erin@a.test', await hashPassword('pw-erin-1'));
  const { authn, login } = setup();
  const results = await Promise.all(Array.from({ length: 8 }, () => login('erin@a.test', 'pw-erin-1')));
  assert.ok(results.every((r) => r.ok));
  assert.equal(authn.cache.joined, 7, 'seven waited for the first one');
  // at the same moment: the right and a wrong password, each verified on its own
  authn.cache.clear();
  const [right, wrong, wrongAgain] = await Promise.all([login('erin@a.test', 'pw-erin-1'), login('erin@a.test', 'nope'), login('erin@a.test', 'nope')]);
  assert.equal(right.ok, true);
  assert.equal(wrong.ok, false);
  assert.equal(wrongAgain.ok, false);
  assert.equal(authn.cache.joined, 8, 'only the second wrong one joined the first wrong one');
  // nothing is kept after it settles: a later wrong attempt runs its own verification
  assert.equal((await login('erin@a.test', 'nope')).ok, false);
  assert.equal(authn.cache.joined, 8);
});

test('verifyOnce: one run per triple while it runs; different triples run apart; a rejection reaches every waiter', async () => {
  const cache = new AuthCache();
  let runs = 0;
  let release!: (v: boolean) => void;
  const gate = new Promise<boolean>((r) => (release = r));
  const verify = () => {
    runs++;
    return gate;
  };
  const a = cache.verifyOnce('u', 'p', 'h', verify);
  const b = cache.verifyOnce('u', 'p', 'h', verify);
  const c = cache.verifyOnce('u', 'p', 'h2', verify);
  assert.equal(runs, 2);
  release(true);
  assert.deepEqual(await Promise.all([a, b, c]), [true, true, true]);
  const failing = () => Promise.reject(new Error('argon2 failed'));
  await assert.rejects(Promise.all([cache.verifyOnce('u', 'p', 'h', failing), cache.verifyOnce('u', 'p', 'h', failing)]), /argon2 failed/);
  // settled: the next call runs again
  assert.equal(await cache.verifyOnce('u', 'p', 'h', async () => false), false);
});
