// Fuzzing the session in every state: random command sequences (valid, broken, with control
// characters and odd line ends) never crash it, and everything it writes is well-formed replies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { createTestEnv } from './test-context.js';

function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
}

const PIECES = [
  'EHLO c.test\r\n', 'HELO c.test\r\n', 'MAIL FROM:<x@b.test>\r\n', 'MAIL FROM:<>\r\n', 'MAIL FROM:<x@b.test> BODY=BINARYMIME\r\n',
  'RCPT TO:<alice@a.test>\r\n', 'RCPT TO:<x@remote.test>\r\n', 'RCPT TO:<alice@a.test> NOTIFY=SUCCESS ORCPT=rfc822;a+2Bb@c.test\r\n',
  'DATA\r\n', 'Subject: x\r\n\r\nbody\r\n.\r\n', 'BDAT 5\r\nhello', 'BDAT 3 LAST\r\nab\n', 'BDAT 0 LAST\r\n', 'RSET\r\n', 'NOOP\r\n',
  'VRFY x\r\n', 'HELP\r\n', 'STARTTLS\r\n', 'AUTH PLAIN AGEAYg==\r\n', 'AUTH LOGIN\r\n', '*\r\n', '\r\n', '.\r\n', '\n.\n', '\r.\r',
  'MAIL FROM:<a\x00b@c>\r\n', 'EHLO \x1b\r\n', 'X'.repeat(600) + '\r\n', 'RCPT TO:<"a@b"@a.test>\r\n', '\x00\xff\xfe\r\n', 'BDAT x\r\n',
];

test('random command sequences in every state: no crash, only well-formed replies', async () => {
  const env = await createTestEnv({ smtp: { max_errors: 1000 } });
  try {
    await env.store.addDomain('a.test');
    await env.store.addAccount('alice@a.test', 'x');
    const rand = rng(7);
    for (let round = 0; round < 60; round++) {
      const listener = (['smtp', 'submission', 'submissions'] as const)[round % 3];
      const t = new PipeTransport(listener, { tls: listener === 'submissions' });
      t.attach(env.factory);
      await t.waitFor(/^220 /);
      let input = '';
      for (let i = 0; i < 25; i++) input += PIECES[Math.floor(rand() * PIECES.length)];
      // Feed in random pieces, with pauses so commands interleave with processing.
      const bytes = Buffer.from(input, 'latin1');
      for (let pos = 0; pos < bytes.length && !t.closed; ) {
        const n = 1 + Math.floor(rand() * 64);
        t.send(bytes.subarray(pos, pos + n));
        pos += n;
        if (rand() < 0.3) await new Promise((r) => setTimeout(r, 1));
      }
      await new Promise((r) => setTimeout(r, 20));
      t.close();
      const out = t.take();
      for (const line of out.split('\r\n').slice(0, -1)) assert.match(line, /^[2-5]\d\d[ -]/, JSON.stringify(line));
      assert.ok(out === '' || out.endsWith('\r\n'));
    }
  } finally {
    await env.close();
  }
});
