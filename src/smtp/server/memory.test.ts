// Bounded memory while many large messages stream in at once (issue 7 "Streaming"): the
// session pauses its transport when input piles up, every spool write is awaited and delivery
// copies in chunks, so live memory stays far below the bytes in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { liveMemory as live } from '../../../test/helpers/memory.js';
import { createTestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd } from '../../../test/helpers/smtp-transcript.js';

test('16 concurrent 6 MB messages: live memory stays bounded', async () => {
  const env = await createTestEnv({ smtp: { max_message_size: '16M' } });
  try {
    await env.store.addDomain('a.test');
    await env.store.addAccount('big@a.test', 'x');
    const SESSIONS = 16;
    const SIZE = 6 * 1024 * 1024;
    const line = Buffer.from('x'.repeat(78) + '\r\n');
    const chunk = Buffer.concat(Array.from({ length: 64 * 1024 / line.length }, () => line));
    const baseline = live();
    let peak = 0;
    let sent = 0;
    await Promise.all(
      Array.from({ length: SESSIONS }, async () => {
        const t = new PipeTransport('smtp');
        t.attach(env.factory);
        await t.waitFor(/^220 /);
        await cmd(t, 'EHLO c.test');
        await cmd(t, 'MAIL FROM:<x@b.test>');
        await cmd(t, 'RCPT TO:<big@a.test>');
        assert.match(await cmd(t, 'DATA'), /^354/);
        t.send('Subject: big\r\n\r\n');
        for (let n = 0; n < SIZE; n += chunk.length) {
          // A real socket stops reading while the session has paused it: do the same.
          while (t.paused) await new Promise((r) => setTimeout(r, 1));
          t.send(chunk);
          if (++sent % 64 === 0) peak = Math.max(peak, live() - baseline);
          await new Promise((r) => setImmediate(r));
        }
        assert.match(await cmd(t, '.'), /^250 2\.0\.0/);
      }),
    );
    const total = SESSIONS * SIZE;
    // Holding the messages would need at least `total` bytes; streaming needs a small fraction.
    assert.ok(peak < total / 4, `peak live memory growth ${(peak / 1048576).toFixed(1)} MB for ${total / 1048576} MB in flight`);
    const msgs = await env.store.listMessages((await env.store.getMailbox((await env.store.getAccount('big@a.test'))!.id, 'INBOX'))!.id);
    assert.equal(msgs.length, SESSIONS);
    assert.ok(msgs.every((m) => m.size > SIZE));
  } finally {
    await env.close();
  }
});
