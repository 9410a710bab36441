// Issue 10 item 5: the submission From: check and the IMAP ENVELOPE read From: with the same
// RFC 5322 address parser (src/message/address.ts), so a From: that submission accepts shows
// only the user's own addresses in ENVELOPE. Transcript tests through the real session, plus a
// property test over generated From: values (each accepted one read back from the mailbox).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { hashPassword } from '../../auth/index.js';
import { parseMessage } from '../../message/parser.js';
import type { EnvelopeAddress } from '../../message/types.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd } from '../../../test/helpers/smtp-transcript.js';
import { checkSubmissionFrom } from './deliver.js';
import { SmtpError } from './errors.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const plain = (user: string, pw: string): string => b64(`\0${user}\0${pw}`);

/** What alice may send as: her account and the alias info@a.test (store.sendableAddresses). */
const SENDABLE = new Set(['alice@a.test', 'info@a.test']);

/** Every address of an ENVELOPE from list is one alice may send as (and no group markers). */
function onlySendable(from: EnvelopeAddress[] | null): boolean {
  if (!from || from.length === 0) return false;
  return from.every((a) => a.host !== null && a.mailbox !== null && SENDABLE.has(`${a.mailbox}@${a.host}`.toLowerCase()));
}

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ADDRESSES = ['alice@a.test', 'info@a.test', 'ALICE@A.TEST', '"alice"@a.test', 'alice @ a . test', 'ceo@bank.example', 'bob@a.test', 'alice@a.test.bank.example', '"alice@a.test"@bank.example', 'alice', 'alice@[127.0.0.1]'];
const NAMES = ['Alice', '"Alice Q"', '"ceo@bank.example"', '=?utf-8?q?CEO?=', '=?utf-8?q?ceo@bank.example?=', 'J\u00f6rg', '"a, b"', 'A. B.', '"<ceo@bank.example>"', 'ceo@bank.example'];
const COMMENTS = ['(x)', '(ceo@bank.example)', '((nested) c)', '(a\\)b)', '(', ')'];
const NOISE = ['<', '>', ':', ';', ',', '"', '@', '(', ')', '\\', '[', ']', ':;', ' ', '.'];

/** A random From: value: display names, comments, groups, quoting, angle brackets, truncation. */
function genFrom(r: () => number): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const mailbox = (): string => {
    const addr = pick(ADDRESSES);
    const c = r() < 0.3 ? ` ${pick(COMMENTS)}` : '';
    switch (Math.floor(r() * 6)) {
      case 0:
        return addr + c;
      case 1:
        return `${pick(NAMES)} <${addr}>${c}`;
      case 2:
        return `<${addr}>`;
      case 3:
        return `${pick(NAMES)}${c} <${addr}`; // no closing >
      case 4:
        return `${addr}${c} ${pick(ADDRESSES)}`;
      default:
        return `${pick(COMMENTS)} ${addr}`;
    }
  };
  const item = (): string => {
    if (r() < 0.15) {
      const n = Math.floor(r() * 3);
      const members = Array.from({ length: n }, mailbox).join(', ');
      return `${pick([...NAMES, 'ceo@bank.example', 'Team'])}:${members}${r() < 0.8 ? ';' : ''}`;
    }
    return mailbox();
  };
  const n = 1 + Math.floor(r() * 3);
  let v = Array.from({ length: n }, item).join(pick([', ', ',', ' ', ',,']));
  const roll = r();
  if (roll < 0.15) v = v.slice(0, Math.floor(r() * v.length)); // truncation
  else if (roll < 0.3) {
    const at = Math.floor(r() * (v.length + 1));
    v = v.slice(0, at) + pick(NOISE) + v.slice(at);
  }
  return v.trim();
}

describe('submission From: check agrees with the ENVELOPE', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv();
    await env.store.addDomain('a.test');
    const hash = await hashPassword('secret');
    await env.store.addAccount('alice@a.test', hash);
    await env.store.addAccount('bob@a.test', hash);
    await env.store.addAlias('info@a.test', ['alice@a.test']);
  });
  after(() => env.close());

  async function login(): Promise<PipeTransport> {
    const t = new PipeTransport('submissions', { tls: true, remoteAddress: '127.0.0.1' });
    t.attach(env.factory);
    await t.waitFor(/^220 .*\r\n/);
    await cmd(t, 'EHLO client.test');
    assert.match(await cmd(t, `AUTH PLAIN ${plain('alice@a.test', 'secret')}`), /^235 2\.7\.0/);
    return t;
  }

  /** Submits a message with this From: value to bob; returns the final reply. */
  async function submit(t: PipeTransport, from: string): Promise<string> {
    assert.match(await cmd(t, 'MAIL FROM:<alice@a.test>'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<bob@a.test>'), /^250/);
    assert.match(await cmd(t, 'DATA'), /^354/);
    return cmd(t, `From: ${from}\r\nSubject: s\r\n\r\nbody\r\n.`);
  }

  const attacks = [
    'alice@a.test (x) ceo@bank.example', // a second addr-spec after a comment
    'ceo@bank.example:;, alice@a.test', // an address posing as an empty group first
    'ceo@bank.example <alice@a.test', // no closing ">"
  ];
  for (const from of attacks) {
    test(`refused with 553 5.7.1: From: ${from}`, async () => {
      const t = await login();
      const before = (await env.mailbox('bob@a.test')).length;
      const r = await submit(t, from);
      assert.match(r, /^553 5\.7\.1 /, r);
      assert.equal((await env.mailbox('bob@a.test')).length, before, 'nothing delivered');
    });
  }

  test('well-formed From: values of the user are accepted and shown as written', async () => {
    const t = await login();
    const cases: Array<[string, EnvelopeAddress[]]> = [
      ['alice@a.test', [{ name: null, adl: null, mailbox: 'alice', host: 'a.test' }]],
      ['"Alice, Q." <alice@a.test> (work)', [{ name: 'Alice, Q.', adl: null, mailbox: 'alice', host: 'a.test' }]],
      ['=?utf-8?q?Al=C3=AFce?= <ALICE@a.test>', [{ name: '=?utf-8?q?Al=C3=AFce?=', adl: null, mailbox: 'ALICE', host: 'a.test' }]],
      ['alice@a.test (Alice), Info <info@a.test>', [
        { name: 'Alice', adl: null, mailbox: 'alice', host: 'a.test' },
        { name: 'Info', adl: null, mailbox: 'info', host: 'a.test' },
      ]],
      ['"alice"@a.test', [{ name: null, adl: null, mailbox: 'alice', host: 'a.test' }]],
    ];
    for (const [from, envelope] of cases) {
      const r = await submit(t, from);
      assert.match(r, /^250 /, `${from}: ${r}`);
      const stored = (await env.mailbox('bob@a.test')).at(-1)!;
      assert.deepEqual(parseMessage(stored).envelope.from, envelope, from);
    }
  });

  test('refused: another user, a group, a source route, no address, an address without a domain', async () => {
    const t = await login();
    for (const from of ['bob@a.test', 'Alice <alice@a.test>, bob@a.test', 'Team: alice@a.test;', 'Team:;', '<@bank.example:alice@a.test>', '', 'alice', '"alice@a.test"@bank.example', '(alice@a.test)']) {
      const r = await submit(t, from);
      assert.match(r, /^553 5\.7\.1 /, `${JSON.stringify(from)}: ${r}`);
    }
  });

  test('property (through the session): every accepted From: shows only sendable addresses in ENVELOPE', async () => {
    let t = await login();
    const r = rng(0x5eed);
    let accepted = 0;
    let refused = 0;
    let sinceLogin = 0;
    for (let i = 0; i < 250; i++) {
      const from = genFrom(r);
      // Refusals count toward the session's error limit (smtp.max_errors, 20): start afresh.
      if (sinceLogin >= 10) {
        t = await login();
        sinceLogin = 0;
      }
      const before = (await env.mailbox('bob@a.test')).length;
      const reply = await submit(t, from);
      if (/^250 /.test(reply)) {
        accepted++;
        const box = await env.mailbox('bob@a.test');
        assert.equal(box.length, before + 1);
        const envFrom = parseMessage(box.at(-1)!).envelope.from;
        assert.ok(onlySendable(envFrom), `accepted From: ${JSON.stringify(from)} shows ${JSON.stringify(envFrom)}`);
      } else {
        assert.match(reply, /^553 5\.7\.1 /, `${JSON.stringify(from)}: ${reply}`);
        refused++;
        sinceLogin++;
      }
    }
    // The generator must exercise both sides, or the property says nothing.
    assert.ok(accepted >= 10 && refused >= 10, `accepted ${accepted}, refused ${refused}`);
  });

  test('a catch-all marker in the sendable set ("@a.test") is not an address: ""@a.test is refused', () => {
    const header = (from: string): Buffer => Buffer.from(`From: ${from}\r\n\r\n`, 'utf8');
    const sendable = new Set(['alice@a.test', '@a.test']);
    assert.throws(() => checkSubmissionFrom(header('""@a.test'), sendable), (e: unknown) => e instanceof SmtpError && e.code === 553);
    assert.throws(() => checkSubmissionFrom(header('Alice <""@a.test>'), sendable), (e: unknown) => e instanceof SmtpError && e.code === 553);
    checkSubmissionFrom(header('Alice <alice@a.test>'), sendable);
  });

  test('the check reads the From: fields ENVELOPE reads: one only, and none hidden by a bare LF', () => {
    const refused = (e: unknown): boolean => e instanceof SmtpError && e.code === 553 && e.enhanced === '5.7.1';
    // RFC 5322 §3.6: one From:; readers differ in which of two they show.
    assert.throws(() => checkSubmissionFrom(Buffer.from('From: alice@a.test\r\nFrom: info@a.test\r\n\r\n'), SENDABLE), refused);
    // A bare LF (allowed in BODY=BINARYMIME content) starts a field for the message parser but
    // not for the SMTP header splitter: the hidden From: is the one ENVELOPE shows.
    const hidden = Buffer.from('X-A: y\nFrom: ceo@bank.example\r\nFrom: alice@a.test\r\n\r\n');
    assert.equal(parseMessage(hidden).envelope.from?.[0]?.host, 'bank.example');
    assert.throws(() => checkSubmissionFrom(hidden, SENDABLE), refused);
    checkSubmissionFrom(Buffer.from('Subject: s\r\nFrom: Alice <alice@a.test>\r\n\r\n'), SENDABLE);
  });

  test('property (the check itself): 20,000 generated From: values', () => {
    const r = rng(0xf00d);
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const from = genFrom(r);
      const header = Buffer.from(`From: ${from}\r\nSubject: s\r\n\r\n`, 'utf8');
      let ok = true;
      try {
        checkSubmissionFrom(header, SENDABLE);
      } catch (err) {
        assert.ok(err instanceof SmtpError && err.code === 553 && err.enhanced === '5.7.1', String(err));
        ok = false;
      }
      if (!ok) continue;
      accepted++;
      const envFrom = parseMessage(Buffer.concat([header, Buffer.from('body\r\n')])).envelope.from;
      assert.ok(onlySendable(envFrom), `accepted From: ${JSON.stringify(from)} shows ${JSON.stringify(envFrom)}`);
    }
    assert.ok(accepted >= 500, `accepted ${accepted}`);
  });
});
