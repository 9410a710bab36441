// Fuzzing the SMTP session in every state (test/fuzz/smtp.ts): grammar-aware random sessions on
// every listener and byte-level mutations of them, with a fixed seed so `npm test` is repeatable.
// The target checks, per session: no crash, only well-formed replies, every complete command
// answered in order (or the connection closed with a reason), nothing left in data/tmp or the
// spool, the store consistent, bounded memory. Long runs: `npm run fuzz -- --minutes N`.
// Below: regressions of what fuzzing found, as plain transcripts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { Transcript } from '../../../test/helpers/transcript.js';
import { fuzzSmtp } from '../../../test/fuzz/smtp.js';
import { createTestEnv } from '../../../test/helpers/smtp-context.js';

test('fuzz: random and mutated sessions on every listener (fixed seeds)', async () => {
  for (const seed of [7, 20261128]) await fuzzSmtp({ seed, iterations: 40 });
});

test('found by fuzzing: a quoted local part the store cannot name is "User unknown", not an internal error', async () => {
  const env = await createTestEnv();
  try {
    await env.store.addDomain('a.test');
    await env.store.addAccount('alice@a.test', 'x');
    const t = new Transcript(new PipeTransport('smtp'));
    t.pipe.attach(env.factory);
    await t.expect([/^220 /]);
    t.send('EHLO c.test');
    await t.until(/^250 /);
    t.send('MAIL FROM:<x@b.test>');
    await t.expect(['250 2.1.0 Ok']);
    // RFC 5321 §4.1.2: a Quoted-string local part is valid syntax; no mailbox here has one.
    t.send('RCPT TO:<"quoted local"@a.test>');
    await t.expect(['550 5.1.1 User unknown']);
    t.send('RCPT TO:<alice@a.test>');
    await t.expect(['250 2.1.5 Ok']);
  } finally {
    await env.close();
  }
});

test('found by fuzzing: a pipelining violation that spends the error budget gets one reply, then the close', async () => {
  const env = await createTestEnv({ smtp: { max_errors: 2 } });
  try {
    const t = new Transcript(new PipeTransport('smtp'));
    t.pipe.attach(env.factory);
    await t.expect([/^220 /]);
    t.send('FOO');
    await t.expect(['500 5.5.1 Command unrecognized']);
    // RFC 2920 §3.1: nothing may follow HELO before its reply; 554 and close, no 421 after it.
    t.sendRaw('HELO c.test\r\nNOOP\r\n');
    await t.expect(['554 5.5.0 Protocol error: commands pipelined after HELO']);
    await t.expectClosed();
    t.expectQuiet();
    assert.equal(t.pipe.closed, true);
  } finally {
    await env.close();
  }
});
