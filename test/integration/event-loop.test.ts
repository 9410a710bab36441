// test: serial
// Issue 10, "done when": the server keeps answering other clients within 1 s while any single
// client does its worst. Each case runs one hostile client (from 127.0.0.5) against `yubin serve`
// and, while it runs, probes from 127.0.0.1 again and again: a new SMTP connection's 220 greeting
// and a NOOP on a logged-in IMAP connection. Every probe must answer within 1 s (a wide margin:
// they answer in a few ms when the loop is free; a held loop shows as seconds).
//
// The folded header: a message whose header has 40,000 continuation lines costs mailauth's header
// parser seconds of CPU (quadratic); with the structural header limits raised so that it gets
// through to the checks, the verification runs in the worker pool. Without the pool, every
// greeting waits for the parser (seconds).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { LineClient } from '../helpers/lineclient.js';

let dns: TestDnsServer;
let yubin: YubinInstance;
/** A logged-in IMAP connection of the probing (well-behaved) user. */
let prober: LineClient;
let probeTag = 0;

const HOSTILE = '127.0.0.5';
const LIMIT_MS = 1000;

before(async () => {
  dns = await startDnsServer();
  yubin = await startYubin({
    hostname: 'mx.b.test',
    domains: ['b.test'],
    users: [
      { address: 'bob@b.test', password: 'secret-bob' },
      { address: 'carol@b.test', password: 'secret-carol' },
    ],
    // the 1,000-recipient transaction: every other address of b.test reaches carol
    aliases: [{ address: '@b.test', targets: ['carol@b.test'] }],
    config: {
      dns: { servers: [dns.address], timeout: 1 },
      // the structural limit (issue 10 item 2a) would refuse the folded header before the checks
      smtp: { max_header_lines: 100_000, max_header_field_lines: 100_000, max_recipients: 1000 },
      checks: { trusted_networks: [] },
      // IMAP LOGIN on the plain listener (tests only)
      auth: { allow_plaintext: true },
    },
  });
  prober = await imapLogin('carol@b.test', 'secret-carol', '127.0.0.1');
});

after(async () => {
  prober?.socket.destroy();
  await yubin?.destroy();
  await dns?.close();
});

/** A LineClient connected from a given loopback address. */
function connectFrom(port: number, from: string): Promise<LineClient> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: from }, () => resolve(new LineClient(s)));
    s.once('error', reject);
  });
}

async function imapLogin(user: string, password: string, from: string): Promise<LineClient> {
  const c = await connectFrom(yubin.port('imap'), from);
  await c.waitFor(/^\* OK[^\r\n]*\r\n$/);
  c.write(`L LOGIN "${user}" "${password}"\r\n`);
  assert.match(await c.waitFor(/(^|\r\n)L [^\r\n]*\r\n$/), /(^|\r\n)L OK/);
  return c;
}

/** One probe: a new SMTP connection's greeting, then a NOOP on the logged-in IMAP connection; ms of each. */
async function probe(): Promise<number[]> {
  const t0 = performance.now();
  const c = await connectFrom(yubin.port('smtp'), '127.0.0.1');
  let greeting: number;
  try {
    await c.waitFor(/^220 [^\r\n]*\r\n/, 60_000);
    greeting = performance.now() - t0;
  } finally {
    c.socket.destroy();
  }
  const tag = `P${++probeTag}`;
  const t1 = performance.now();
  prober.write(`${tag} NOOP\r\n`);
  await prober.waitFor(new RegExp(`(^|\\r\\n)${tag} OK[^\\r\\n]*\\r\\n$`), 60_000);
  return [greeting, performance.now() - t1];
}

/**
 * Runs `hostile` and probes, one probe after another, until it has finished and at least
 * `minProbes` probes were made; every probe must answer within LIMIT_MS. Returns what hostile returned.
 */
async function whileHostile<T>(name: string, hostile: () => Promise<T>, minProbes = 5): Promise<T> {
  let done = false;
  const run = hostile().finally(() => (done = true));
  run.catch(() => undefined);
  const latencies: number[] = [];
  const t0 = Date.now();
  while (!done || latencies.length < minProbes * 2) latencies.push(...(await probe()));
  const result = await run;
  const sorted = [...latencies].sort((a, b) => a - b);
  const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
  const max = sorted.at(-1)!;
  const summary = `${name}: ${latencies.length} probes over ${Date.now() - t0} ms, p99 ${p99.toFixed(0)} ms, max ${max.toFixed(0)} ms`;
  assert.ok(max < LIMIT_MS, `${summary}; latencies (ms): ${latencies.map((l) => l.toFixed(0)).join(', ')}`);
  return result;
}

/** SMTP from the hostile address up to the 354 of DATA, with the given recipients (pipelined). */
async function smtpToData(rcpts: string[]): Promise<LineClient> {
  const a = await connectFrom(yubin.port('smtp'), HOSTILE);
  await a.smtpReply();
  assert.match(await a.smtp('EHLO mail.a.test'), /^250/m);
  a.write('MAIL FROM:<alice@a.test>\r\n' + rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join(''));
  const want = rcpts.length + 1;
  let got = '';
  while ((got.match(/^\d{3} /gm) ?? []).length < want) got += await a.waitFor(/\r\n$/, 60_000);
  const codes = got.match(/^\d{3} /gm)!;
  assert.ok(codes.every((c) => c === '250 '), got.slice(0, 500));
  assert.match(await a.smtp('DATA'), /^354/);
  return a;
}

const HEAD = 'From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n';

test('a 40,000-line folded header is authenticated while others are answered within 1 s', async () => {
  const reply = await whileHostile('folded header', async () => {
    const a = await smtpToData(['bob@b.test']);
    a.write(HEAD + 'Subject: folded\r\nMessage-ID: <fold@a.test>\r\nX-Fold: a\r\n' + ' b\r\n'.repeat(40_000) + '\r\nHello.\r\n.\r\n');
    const r = await a.smtpReply(120_000);
    a.socket.destroy();
    return r;
  });
  assert.match(reply, /^250 /, 'the message is accepted');
});

test('a 1,000-deep MIME bomb with 10,000 parts is delivered and its BODYSTRUCTURE fetched while others are answered within 1 s', async () => {
  // 1,000 nested multiparts, the innermost holding 10,000 empty parts
  const depth = 1000;
  let body = '';
  for (let i = 0; i < depth; i++) body += `--b${i}\r\nContent-Type: multipart/mixed; boundary="b${i + 1}"\r\n\r\n`;
  for (let k = 0; k < 10_000; k++) body += `--b${depth}\r\nContent-Type: text/plain\r\n\r\nx\r\n`;
  body += `--b${depth}--\r\n`;
  for (let i = depth - 1; i >= 0; i--) body += `--b${i}--\r\n`;
  const message = HEAD + 'Subject: bomb\r\nMessage-ID: <bomb@a.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n' + body;
  const fetched = await whileHostile('MIME bomb', async () => {
    const a = await smtpToData(['bob@b.test']);
    a.write(message + '.\r\n');
    assert.match(await a.smtpReply(120_000), /^250 /);
    a.socket.destroy();
    const c = await imapLogin('bob@b.test', 'secret-bob', HOSTILE);
    c.write('S SELECT INBOX\r\n');
    await c.waitFor(/(^|\r\n)S OK[^\r\n]*\r\n$/, 60_000);
    c.write('F FETCH 1:* (BODYSTRUCTURE BODY.PEEK[1.1.1.1])\r\n');
    const r = await c.waitFor(/(^|\r\n)F (OK|NO|BAD)[^\r\n]*\r\n$/, 120_000);
    c.socket.destroy();
    return r;
  });
  assert.match(fetched, /(^|\r\n)F OK/);
});

test('LIST with 1,000-wildcard patterns over long names, pipelined, while others are answered within 1 s', async () => {
  const c = await imapLogin('bob@b.test', 'secret-bob', HOSTILE);
  // long names of one letter: many ways for a backtracking matcher to split them
  for (let i = 0; i < 20; i++) {
    c.write(`C${i} CREATE "${'a'.repeat(60 + i)}/${'a'.repeat(80)}/${'a'.repeat(100)}"\r\n`);
    assert.match(await c.waitFor(/(^|\r\n)C\d+ [^\r\n]*\r\n$/), /C\d+ OK/);
  }
  let wild = '';
  for (let i = 0; i < 1000; i++) wild += i % 3 ? '%' : '*';
  const patterns = [wild + 'x', '%a'.repeat(500) + 'y', '*a'.repeat(500) + '%'.repeat(10) + 'b'];
  const n = 60;
  const out = await whileHostile('LIST patterns', async () => {
    c.write(Array.from({ length: n }, (_, i) => `L${i} LIST "" "${patterns[i % patterns.length]}"\r\n`).join(''));
    return c.waitFor(new RegExp(`(^|\\r\\n)L${n - 1} [^\\r\\n]*\\r\\n$`), 120_000);
  });
  assert.equal((out.match(/^L\d+ OK/gm) ?? []).length, n, out.slice(-500));
  c.socket.destroy();
});

test('a 30 MB APPEND literal, sent as fast as possible, while others are answered within 1 s', async () => {
  const c = await imapLogin('bob@b.test', 'secret-bob', HOSTILE);
  const line = 'x'.repeat(76) + '\r\n';
  const head = HEAD + 'Subject: big\r\n\r\n';
  const message = Buffer.from(head + line.repeat(Math.floor((30 * 1024 * 1024 - head.length) / line.length)));
  const reply = await whileHostile('giant literal', async () => {
    c.write(`A APPEND INBOX {${message.length}}\r\n`);
    await c.waitFor(/^\+[^\r\n]*\r\n$/);
    c.socket.write(message);
    c.write('\r\n');
    return c.waitFor(/(^|\r\n)A [^\r\n]*\r\n$/, 120_000);
  });
  assert.match(reply, /^A OK/m);
  c.socket.destroy();
});

test('a slow-loris (every connection the address may open, one byte at a time) while others are answered within 1 s', async () => {
  await whileHostile('slow-loris', async () => {
    const sockets: net.Socket[] = [];
    try {
      // the per-IP limit (limits.max_connections_per_ip, 50) refuses those past it
      for (let i = 0; i < 60; i++) {
        const s = net.connect({ host: '127.0.0.1', port: yubin.port(i % 2 ? 'smtp' : 'imap'), localAddress: HOSTILE });
        s.on('error', () => undefined);
        sockets.push(s);
      }
      const text = 'EHLO slow.a.test\r\nMAIL FROM:<a@a.test>\r\n';
      for (let k = 0; k < 40; k++) {
        for (const s of sockets) if (!s.destroyed) s.write(text[k % text.length]!);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});

test('a pipelining flood that never reads its replies while others are answered within 1 s', async () => {
  await whileHostile('pipelining flood', async () => {
    const s = net.connect({ host: '127.0.0.1', port: yubin.port('smtp'), localAddress: HOSTILE });
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.once('connect', () => r()));
    // never read: replies pile up in the server's socket buffers
    s.pause();
    const chunk = 'EHLO flood.a.test\r\nNOOP\r\nRSET\r\nHELP\r\n'.repeat(4096);
    const until = Date.now() + 3000;
    let sent = 0;
    while (Date.now() < until && !s.destroyed) {
      if (s.write(chunk)) sent += chunk.length;
      else await Promise.race([new Promise((r) => s.once('drain', r)), new Promise((r) => setTimeout(r, 200))]);
      await new Promise((r) => setImmediate(r));
    }
    s.destroy();
    return sent;
  });
});

test('a 1,000-recipient transaction with a 1 MB message while others are answered within 1 s', async () => {
  const rcpts = Array.from({ length: 1000 }, (_, i) => `r${i}@b.test`);
  const reply = await whileHostile('1,000 recipients', async () => {
    const a = await smtpToData(rcpts);
    a.write(HEAD + 'Subject: many\r\nMessage-ID: <many@a.test>\r\n\r\n' + ('y'.repeat(76) + '\r\n').repeat(13_000) + '.\r\n');
    const r = await a.smtpReply(120_000);
    a.socket.destroy();
    return r;
  });
  assert.match(reply, /^250 /);
});
