// Transcript tests: long lines are accepted up to smtp.max_line_length and stored byte for byte
// (issue 10 item 9); a header of abusive structure (too many lines, or one field of too many
// lines) is refused with 552 5.3.4 at the end of data, counted as an error (issue 10 item 2a).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd, replies } from '../../../test/helpers/smtp-transcript.js';

async function open(env: TestEnv): Promise<PipeTransport> {
  const t = new PipeTransport('smtp');
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  assert.match(await cmd(t, 'EHLO client.b.test'), /^250-/);
  return t;
}

async function setup(env: TestEnv): Promise<void> {
  await env.store.addDomain('a.test');
  await env.store.addAccount('alice@a.test', 'x');
}

/** Sends one message with DATA (dot-stuffed by the caller's content having no leading dots); returns the reply. */
async function sendData(t: PipeTransport, message: string): Promise<string> {
  assert.match(await cmd(t, 'MAIL FROM:<x@b.test>'), /^250 /);
  assert.match(await cmd(t, 'RCPT TO:<alice@a.test>'), /^250 /);
  assert.match(await cmd(t, 'DATA'), /^354 /);
  t.send(Buffer.from(message + '.\r\n', 'latin1'));
  return (await replies(t, 1, 20_000))[0]!;
}

/** Sends one message in a single BDAT LAST chunk; returns the reply. */
async function sendBdat(t: PipeTransport, message: string): Promise<string> {
  assert.match(await cmd(t, 'MAIL FROM:<x@b.test>'), /^250 /);
  assert.match(await cmd(t, 'RCPT TO:<alice@a.test>'), /^250 /);
  const bytes = Buffer.from(message, 'latin1');
  t.send(`BDAT ${bytes.length} LAST\r\n`);
  t.send(bytes);
  return (await replies(t, 1, 20_000))[0]!;
}

/** A header of `fields` fields, each of `lines` lines (its first line and continuations). */
function header(fields: number, lines: number): string {
  let h = '';
  for (let f = 0; f < fields; f++) {
    h += `X-${f}: v\r\n`;
    for (let l = 1; l < lines; l++) h += ' c\r\n';
  }
  return h;
}

async function spoolFiles(env: TestEnv): Promise<string[]> {
  return readdir(join(env.ctx.config.data_dir, 'smtp-spool')).catch(() => []);
}

describe('long lines on the inbound listener', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv();
    await setup(env);
  });
  after(() => env.close());

  for (const [how, send] of [
    ['DATA', sendData],
    ['BDAT', sendBdat],
  ] as const) {
    test(`a 5,000-octet line and a line of exactly 64 KB are accepted and stored byte for byte (${how})`, async () => {
      const t = await open(env);
      const message = `From: x@b.test\r\nSubject: long\r\n\r\n${'y'.repeat(5000)}\r\nshort\r\n${'z'.repeat(64 * 1024)}\r\n`;
      const before = (await env.mailbox('alice@a.test')).length;
      assert.match(await send(t, message), /^250 2\.0\.0 Ok: queued/);
      const stored = await env.mailbox('alice@a.test');
      assert.equal(stored.length, before + 1);
      assert.ok(stored.at(-1)!.toString('latin1').endsWith(message), 'the message is stored as it came');
    });

    test(`a line over smtp.max_line_length gets 552 5.3.4 naming the limit; the session goes on (${how})`, async () => {
      const t = await open(env);
      const before = (await env.mailbox('alice@a.test')).length;
      const r = await send(t, `Subject: long\r\n\r\n${'y'.repeat(64 * 1024 + 1)}\r\n`);
      assert.match(r, /^552 5\.3\.4 Message has a line longer than 65536 octets/);
      assert.equal((await env.mailbox('alice@a.test')).length, before);
      assert.match(await cmd(t, 'NOOP'), /^250/);
      assert.deepEqual(await spoolFiles(env), []);
    });
  }

  test('the limit is configurable', async () => {
    const small = await createTestEnv({ smtp: { max_line_length: 2000 } });
    try {
      await setup(small);
      const t = await open(small);
      assert.match(await sendData(t, `Subject: x\r\n\r\n${'a'.repeat(2000)}\r\n`), /^250 /);
      assert.match(await sendData(t, `Subject: x\r\n\r\n${'a'.repeat(2001)}\r\n`), /^552 5\.3\.4 .*2000 octets/);
    } finally {
      await small.close();
    }
  });

  test('a line over 1 MB is within a limit configured above it (not a flood)', async () => {
    const big = await createTestEnv({ smtp: { max_line_length: '2M' } });
    try {
      await setup(big);
      const t = await open(big);
      const message = `Subject: x\r\n\r\n${'a'.repeat(1536 * 1024)}\r\n`;
      assert.match(await sendData(t, message), /^250 /);
      assert.ok((await big.mailbox('alice@a.test')).at(-1)!.toString('latin1').endsWith(message));
    } finally {
      await big.close();
    }
  });
});

describe('abusive header structure', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv();
    await setup(env);
  });
  after(() => env.close());

  for (const [how, send] of [
    ['DATA', sendData],
    ['BDAT', sendBdat],
  ] as const) {
    test(`a header field of 40,000 continuation lines: 552 5.3.4 at once, nothing stored (${how})`, async () => {
      const t = await open(env);
      const before = (await env.mailbox('alice@a.test')).length;
      const message = 'From: x@b.test\r\nSubject: x\r\n' + 'X-Folded: a\r\n' + ' b\r\n'.repeat(40_000) + '\r\nbody\r\n';
      assert.ok(message.length < 256 * 1024, 'under the header size limit');
      const started = performance.now();
      const r = await send(t, message);
      const ms = performance.now() - started;
      assert.match(r, /^552 5\.3\.4 Message header has more than 10000 lines/);
      // a regression guard with a wide margin: before the fix, the checks' parsers took seconds
      assert.ok(ms < 3000, `answered after ${Math.round(ms)} ms`);
      assert.equal((await env.mailbox('alice@a.test')).length, before);
      assert.match(await cmd(t, 'NOOP'), /^250/);
      assert.deepEqual(await spoolFiles(env), []);
    });

    test(`exactly at the limits (10,000 header lines, a field of 1,000 lines) is accepted (${how})`, async () => {
      const t = await open(env);
      // 9 fields of 1,000 lines + 1,000 one-line fields = 10,000 lines
      const message = header(9, 1000) + header(1000, 1) + '\r\nbody\r\n';
      assert.match(await send(t, message), /^250 2\.0\.0/);
      assert.ok((await env.mailbox('alice@a.test')).at(-1)!.toString('latin1').endsWith(message));
    });

    test(`one line more is refused: 10,001 header lines, or a field of 1,001 lines (${how})`, async () => {
      const t = await open(env);
      assert.match(await send(t, header(9, 1000) + header(1001, 1) + '\r\nbody\r\n'), /^552 5\.3\.4 Message header has more than 10000 lines/);
      assert.match(await send(t, header(1, 1001) + '\r\nbody\r\n'), /^552 5\.3\.4 Message header has a field of more than 1000 lines/);
    });
  }

  test('the limits are configurable; each refusal counts toward smtp.max_errors', async () => {
    const strict = await createTestEnv({ smtp: { max_header_lines: 50, max_header_field_lines: 5, max_errors: 2 } });
    try {
      await setup(strict);
      const t = await open(strict);
      assert.match(await sendData(t, header(10, 5) + '\r\nok\r\n'), /^250 /);
      assert.match(await sendData(t, header(1, 6) + '\r\nno\r\n'), /^552 5\.3\.4 .*more than 5 lines/);
      assert.match(await cmd(t, 'MAIL FROM:<x@b.test>'), /^250 /);
      assert.match(await cmd(t, 'RCPT TO:<alice@a.test>'), /^250 /);
      assert.match(await cmd(t, 'DATA'), /^354 /);
      t.send(header(51, 1) + '\r\nno\r\n.\r\n');
      const [r, bye] = await replies(t, 2);
      assert.match(r!, /^552 5\.3\.4 .*more than 50 lines/);
      assert.match(bye!, /^421 4\.7\.0 .*Too many errors/);
      assert.equal(t.closed, true);
    } finally {
      await strict.close();
    }
  });
});
