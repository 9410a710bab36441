import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SaslError, type SaslMechanism } from '../types.js';
import { createSasl, decodeSaslResponse, encodeSaslChallenge } from '../index.js';
import { parsePlain } from './plain.js';

const b = (s: string) => Buffer.from(s, 'utf8');

function run(mech: SaslMechanism, responses: Array<Buffer | null>) {
  const challenges: string[] = [];
  for (const r of responses) {
    const out = mech.step(r);
    if ('credentials' in out) return { challenges, credentials: out.credentials };
    challenges.push(out.challenge.toString('utf8'));
  }
  return { challenges, credentials: null };
}

test('createSasl knows PLAIN and LOGIN, any case, and nothing else', () => {
  assert.equal(createSasl('plain')?.name, 'PLAIN');
  assert.equal(createSasl('LOGIN')?.name, 'LOGIN');
  assert.equal(createSasl('CRAM-MD5'), null);
  assert.equal(createSasl(''), null);
});

test('PLAIN with an initial response (RFC 4616 §2 examples)', () => {
  assert.deepEqual(run(createSasl('PLAIN')!, [b('\0tim\0tanstaaftanstaaf')]), {
    challenges: [],
    credentials: { authzid: '', username: 'tim', password: 'tanstaaftanstaaf' },
  });
  assert.deepEqual(run(createSasl('PLAIN')!, [b('Ursel\0Kurt\0xipj3plmq')]).credentials, { authzid: 'Ursel', username: 'Kurt', password: 'xipj3plmq' });
});

test('PLAIN without an initial response: one empty challenge, then the message', () => {
  const r = run(createSasl('PLAIN')!, [null, b('\0alice@a.test\0p w ü')]);
  assert.deepEqual(r.challenges, ['']);
  assert.deepEqual(r.credentials, { authzid: '', username: 'alice@a.test', password: 'p w ü' });
});

test('PLAIN rejects malformed messages with SaslError', () => {
  const bad = ['', 'alice', '\0alice', '\0\0pw', '\0alice\0', 'a\0b\0c\0d', '\0al\0ice\0pw'];
  for (const m of bad) assert.throws(() => createSasl('PLAIN')!.step(b(m)), SaslError, JSON.stringify(m));
  assert.throws(() => createSasl('PLAIN')!.step(Buffer.from([0, 0x61, 0, 0xff, 0xfe])), /not valid UTF-8/);
  assert.throws(() => createSasl('PLAIN')!.step(b(`\0${'a'.repeat(1025)}\0pw`)), /too long/);
  const m = createSasl('PLAIN')!;
  m.step(b('\0a\0b'));
  assert.throws(() => m.step(b('\0a\0b')), /already complete/);
  const n = createSasl('PLAIN')!;
  n.step(null);
  assert.throws(() => n.step(null), SaslError);
});

test('PLAIN, byte by byte: every proper prefix of a message is rejected, never mis-parsed', () => {
  const msg = b('admin\0alice@a.test\0sëcret');
  for (let i = 0; i < msg.length; i++) {
    const prefix = msg.subarray(0, i);
    let parsed: ReturnType<typeof parsePlain> | null = null;
    try {
      parsed = parsePlain(prefix);
    } catch (err) {
      assert.ok(err instanceof SaslError, `prefix ${i}: ${String(err)}`);
      continue;
    }
    // The only prefixes that parse are the ones cut inside the password: a different password.
    assert.equal(parsed.username, 'alice@a.test');
    assert.notEqual(parsed.password, 'sëcret');
  }
  assert.deepEqual(parsePlain(msg), { authzid: 'admin', username: 'alice@a.test', password: 'sëcret' });
});

test('PLAIN, every single-byte value in every position: SaslError or a parse, never another error', () => {
  const msg = b('\0bob\0pw');
  for (let i = 0; i < msg.length; i++) {
    for (let v = 0; v < 256; v++) {
      const m = Buffer.from(msg);
      m[i] = v;
      try {
        parsePlain(m);
      } catch (err) {
        assert.ok(err instanceof SaslError);
      }
    }
  }
});

test('LOGIN: Username: and Password: challenges', () => {
  const r = run(createSasl('LOGIN')!, [null, b('alice@a.test'), b('secret')]);
  assert.deepEqual(r.challenges, ['Username:', 'Password:']);
  assert.deepEqual(r.credentials, { username: 'alice@a.test', password: 'secret', authzid: '' });
});

test('LOGIN with the username as initial response', () => {
  const r = run(createSasl('LOGIN')!, [b('alice@a.test'), b('secret')]);
  assert.deepEqual(r.challenges, ['Password:']);
  assert.equal(r.credentials?.username, 'alice@a.test');
});

test('LOGIN rejects an empty username, NUL, bad UTF-8, a missing answer and steps after the end', () => {
  assert.throws(() => createSasl('LOGIN')!.step(b('')), /empty username/);
  assert.throws(() => createSasl('LOGIN')!.step(b('a\0b')), /NUL/);
  const m = createSasl('LOGIN')!;
  m.step(null);
  assert.throws(() => m.step(Buffer.from([0xc3])), /UTF-8/);
  const n = createSasl('LOGIN')!;
  n.step(null);
  n.step(b('u'));
  assert.throws(() => n.step(null), /expects the password/);
  const o = createSasl('LOGIN')!;
  o.step(b('u'));
  o.step(b('p'));
  assert.throws(() => o.step(b('x')), /already complete/);
});

test('LOGIN, byte by byte: a username fed in pieces is taken whole, as one response', () => {
  // SASL responses are whole lines; the mechanism must not join separate steps into one field.
  const m = createSasl('LOGIN')!;
  m.step(null);
  m.step(b('al'));
  const out = m.step(b('ice'));
  assert.ok('credentials' in out);
  assert.deepEqual(out.credentials, { username: 'al', password: 'ice', authzid: '' });
});

test('base64 framing: "*" cancels, "=" is empty, strict base64 only', () => {
  assert.deepEqual(decodeSaslResponse('*'), { cancel: true });
  assert.deepEqual(decodeSaslResponse('='), { cancel: false, data: Buffer.alloc(0) });
  assert.deepEqual(decodeSaslResponse('AGFsaWNlAHB3'), { cancel: false, data: b('\0alice\0pw') });
  assert.deepEqual(decodeSaslResponse(''), { cancel: false, data: Buffer.alloc(0) });
  for (const bad of ['AGFsaWNlAHB', 'AGF saWNl', 'AG==FsaW', '!!!!', 'AGFsaWNlAHB3\r']) assert.equal(decodeSaslResponse(bad), null, bad);
  assert.equal(encodeSaslChallenge(b('Username:')), 'VXNlcm5hbWU6');
  assert.equal(encodeSaslChallenge(Buffer.alloc(0)), '');
});
