// The SMTP client against raw peers that behave in the ways real servers do (and should not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { SmtpClient, SmtpConnectionError } from './connection.js';

/** A server that runs `script` for each connection: it gets each received line and may reply. */
async function peer(greeting: string, onLine: (line: string, s: Socket) => void): Promise<{ port: number; lines: string[]; close(): Promise<void> }> {
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    if (greeting) s.write(greeting);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        lines.push(line);
        onLine(line, s);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    lines,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A line handler for a peer that takes DATA: content lines are swallowed, the final dot answered with `dotReply`; `command` gets the rest and calls `startData()` when it answers DATA with 354. */
function takesData(dotReply: string, command: (line: string, s: Socket, startData: () => void) => void): (line: string, s: Socket) => void {
  let inData = false;
  return (l, s) => {
    if (!inData) return command(l, s, () => (inData = true));
    if (l !== '.') return;
    inData = false;
    s.write(dotReply);
  };
}

const opts = (port: number) => ({ host: '127.0.0.1', port, heloName: 'client.test', tls: 'opportunistic' as const, connectTimeoutMs: 2000, replyTimeoutMs: 2000 });
const tx = (rcpts: string[]) => ({ from: 'a@a.test', mailParams: [], recipients: rcpts.map((address) => ({ address, params: [] })), message: () => Readable.from([Buffer.from('Subject: t\r\n\r\n.x\r\n')]) });

test('a 554 greeting: connection error carrying the reply', async () => {
  const p = await peer('554 5.7.1 go away\r\n', () => undefined);
  try {
    await assert.rejects(SmtpClient.connect(opts(p.port)), (err: unknown) => err instanceof SmtpConnectionError && err.reply?.code === 554 && err.reply.enhanced === '5.7.1');
  } finally {
    await p.close();
  }
});

test('EHLO refused: HELO; no PIPELINING: one command at a time; multiline replies', async () => {
  const p = await peer(
    '220-first\r\n220 second\r\n',
    takesData('250-2.0.0 queued\r\n250 2.0.0 as X\r\n', (l, s, startData) => {
      if (l.startsWith('EHLO')) s.write('502 5.5.1 what\r\n');
      else if (l.startsWith('HELO')) s.write('250 hi\r\n');
      else if (l.startsWith('RCPT TO:<no@')) s.write('550 5.1.1 unknown\r\n');
      else if (l === 'DATA') {
        startData();
        s.write('354 go\r\n');
      } else s.write('250 ok\r\n');
    }),
  );
  try {
    const c = await SmtpClient.connect(opts(p.port));
    assert.equal(c.extensions.size, 0);
    const r = await c.send(tx(['yes@b.test', 'no@b.test']));
    assert.deepEqual(r.rcpts.map((x) => x?.code), [250, 550]);
    assert.equal(r.data!.code, 250);
    assert.deepEqual(r.data!.lines, ['queued', 'as X']);
    assert.deepEqual(p.lines.slice(0, 5), ['EHLO client.test', 'HELO client.test', 'MAIL FROM:<a@a.test>', 'RCPT TO:<yes@b.test>', 'RCPT TO:<no@b.test>']);
    assert.ok(p.lines.includes('..x'), 'dot-stuffed');
    await c.quit();
  } finally {
    await p.close();
  }
});

test('every recipient refused: DATA refused (554) or accepted anyway (354: a single dot), never the content; RSET; the connection stays usable', async () => {
  for (const dataReply of ['554 5.5.1 no valid recipients', '354 go']) {
    const p = await peer(
      '220 hi\r\n',
      takesData('554 5.5.1 nobody to deliver to\r\n', (l, s, startData) => {
        if (l.startsWith('EHLO')) s.write('250-x\r\n250 PIPELINING\r\n');
        else if (l.startsWith('RCPT')) s.write('550 5.1.1 no\r\n');
        else if (l === 'DATA') {
          if (dataReply.startsWith('354')) startData();
          s.write(dataReply + '\r\n');
        } else s.write('250 ok\r\n');
      }),
    );
    try {
      const c = await SmtpClient.connect(opts(p.port));
      const r = await c.send(tx(['a@b.test', 'b@b.test']));
      assert.equal(r.data, null);
      assert.ok(!p.lines.includes('Subject: t'), 'no content sent');
      // RFC 2920 §3.1: after a 354 the client sends a single dot
      assert.deepEqual(p.lines.slice(p.lines.indexOf('DATA') + 1), dataReply.startsWith('354') ? ['.', 'RSET'] : ['RSET']);
      assert.equal(c.usable, true);
      const again = await c.send(tx(['a@b.test']));
      assert.equal(again.data, null);
      c.close();
    } finally {
      await p.close();
    }
  }
});

test('PIPELINING: MAIL, every RCPT and DATA go as one group, before any reply (RFC 2920 §3.1)', async () => {
  let held: string[] = [];
  const p = await peer(
    '220 hi\r\n',
    takesData('250 2.0.0 queued\r\n', (l, s, startData) => {
      if (l.startsWith('EHLO')) return void s.write('250-x\r\n250 PIPELINING\r\n');
      // the replies to MAIL and RCPT are held until DATA arrives: a client that waits for them
      // before sending DATA never gets them
      held.push(l.startsWith('MAIL') ? '250 2.1.0 ok' : l.startsWith('RCPT') ? '250 2.1.5 ok' : '');
      if (l === 'DATA') {
        held[held.length - 1] = '354 go';
        startData();
        s.write(held.map((r) => r + '\r\n').join(''));
        held = [];
      }
    }),
  );
  try {
    const c = await SmtpClient.connect(opts(p.port));
    const r = await c.send(tx(['a@b.test', 'b@b.test']));
    assert.deepEqual(r.rcpts.map((x) => x?.code), [250, 250]);
    assert.equal(r.data!.code, 250);
    assert.deepEqual(p.lines.slice(1, 5), ['MAIL FROM:<a@a.test>', 'RCPT TO:<a@b.test>', 'RCPT TO:<b@b.test>', 'DATA']);
    assert.ok(p.lines.includes('..x'), 'dot-stuffed');
    c.close();
  } finally {
    await p.close();
  }
});

test('garbage, a silent peer, and a peer that hangs up: connection errors, never a hang', async () => {
  const garbage = await peer('hello there\r\n', () => undefined);
  const silent = await peer('', () => undefined);
  const hangup = await peer('220 hi\r\n', (l, s) => {
    if (l.startsWith('EHLO')) s.write('250 x\r\n');
    else if (l.startsWith('MAIL')) s.destroy();
  });
  try {
    await assert.rejects(SmtpClient.connect(opts(garbage.port)), /malformed SMTP reply/);
    await assert.rejects(SmtpClient.connect({ ...opts(silent.port), connectTimeoutMs: 300 }), /no reply in/);
    const c = await SmtpClient.connect(opts(hangup.port));
    await assert.rejects(c.send(tx(['a@b.test'])), (err: unknown) => err instanceof SmtpConnectionError && err.midSession);
    assert.equal(c.usable, false);
  } finally {
    await Promise.all([garbage.close(), silent.close(), hangup.close()]);
  }
});

test('connection refused', async () => {
  const p = await peer('', () => undefined);
  const port = p.port;
  await p.close();
  await assert.rejects(SmtpClient.connect(opts(port)), /ECONNREFUSED/);
});

test('quit() lets go of the abort signal at once, not after the QUIT reply (connections being replaced do not pile up on it)', async () => {
  const { EventEmitter } = await import('node:events');
  const getEventListeners = (t: EventTarget, name: string) => EventEmitter.getEventListeners(t, name);
  // answers EHLO, never QUIT
  const p = await peer('220 hi\r\n', (l, s) => {
    if (l.startsWith('EHLO')) s.write('250 ok\r\n');
  });
  const ac = new AbortController();
  try {
    const c = await SmtpClient.connect({ ...opts(p.port), signal: ac.signal });
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    const quitting = c.quit();
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    c.close();
    await quitting;
  } finally {
    await p.close();
  }
});
