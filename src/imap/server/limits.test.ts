// Defences that need volume: MIME bombs, many idle connections, random input in every state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createImapTestContext, type ImapTestContext } from '../../../test/helpers/imap-context.js';
// A real collection before each reading: without --expose-gc on the command line,
// globalThis.gc is undefined and heapUsed would count garbage as well.
import { liveMemory as live } from '../../../test/helpers/memory.js';

let t: ImapTestContext;
before(async () => {
  t = await createImapTestContext({ config: { imap: { append_limit: 20 * 1024 * 1024 } } });
});
after(async () => {
  await t.close();
});

async function appendRaw(c: Awaited<ReturnType<ImapTestContext['connect']>>, mailbox: string, raw: string): Promise<void> {
  c.send(`ap APPEND ${mailbox} {${Buffer.byteLength(raw)}+}\r\n`);
  c.send(raw + '\r\n');
  (await c.reply('ap')).ok();
}

test('MIME bombs: 1,000-deep nesting and 100,000 parts give a bounded BODYSTRUCTURE', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Bombs')).ok();
  let deep = '';
  for (let i = 0; i < 1000; i++) deep += `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`;
  deep += 'Content-Type: text/plain\r\n\r\nbottom\r\n';
  for (let i = 999; i >= 0; i--) deep += `--b${i}--\r\n`;
  await appendRaw(c, 'Bombs', 'Subject: deep\r\n' + deep);
  let wide = 'Subject: wide\r\nContent-Type: multipart/mixed; boundary=w\r\n\r\n';
  wide += '--w\r\n\r\nx\r\n'.repeat(100_000) + '--w--\r\n';
  await appendRaw(c, 'Bombs', wide);
  (await c.cmd('SELECT Bombs')).ok();
  const started = Date.now();
  const r = (await c.cmd('FETCH 1:2 (BODYSTRUCTURE BODY[1])')).ok();
  assert.ok(r.text.length < 2_000_000, `response ${r.text.length} octets`);
  assert.ok(Date.now() - started < 10_000);
  (await c.cmd('SEARCH BODY bottom')).ok();
});

test('a thousand logged-in connections in IDLE cost little memory each', async () => {
  const n = 1000;
  const base = live();
  const clients = [];
  for (let i = 0; i < n; i++) {
    const c = await t.connect();
    c.send('l LOGIN alice@a.test "secret pw"\r\ns SELECT INBOX\r\ni IDLE\r\n');
    clients.push(c);
  }
  for (const c of clients) await c.pipe.waitFor('+ idling');
  const per = (live() - base) / n;
  // PipeTransport and test bookkeeping included; a real socket adds its own (outside the session)
  assert.ok(per < 64 * 1024, `${Math.round(per)} bytes per idle connection`);
  for (const c of clients) {
    c.send('DONE\r\n');
    await c.reply('i');
    c.pipe.close();
  }
});

test('random input in every state: no crash, every command answered or the connection closed', async () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const words = ['FETCH', 'UID', 'STORE', 'SEARCH', '1:*', '*', '(', ')', '"x"', '{3}', '{2+}', 'BODY[', ']', '<0.1>', 'NOT', 'OR', '\\Seen', 'INBOX', '$', '\0', 'ab', '%', 'LIST', 'APPEND', 'SELECT', 'RETURN', 'ALL', 'IDLE', 'DONE'];
  for (const prefix of ['', 'p1 LOGIN alice@a.test "secret pw"\r\n', 'p1 LOGIN alice@a.test "secret pw"\r\np2 SELECT INBOX\r\n']) {
    const c = await t.connect();
    if (prefix) {
      c.send(prefix);
      await c.pipe.waitFor(prefix.includes('SELECT') ? 'p2 OK' : 'p1 OK');
    }
    for (let i = 0; i < 150 && !c.pipe.closed; i++) {
      const parts = [];
      const len = 1 + rnd(8);
      for (let k = 0; k < len; k++) parts.push(words[rnd(words.length)]);
      c.send(`f${i} ${parts.join(rnd(4) ? ' ' : '')}\r\n`);
    }
    c.send('zz NOOP\r\n');
    try {
      await c.pipe.waitFor(/zz (OK|BAD)/, 5000);
    } catch (e) {
      // closed (too many bad commands before login, or a refused {n+}): fine; a hang is not
      if (!c.pipe.closed) throw e;
    }
  }
});
