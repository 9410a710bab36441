// Issue 10: one message must not hold every other client. A message whose header has 40,000
// continuation lines costs mailauth's header parser seconds of CPU (quadratic); with the
// structural header limits raised so that it gets through to the checks, the verification runs
// in the worker pool and a new client on another socket still gets its SMTP greeting at once.
// Without the pool, every greeting waits for the parser (seconds).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { LineClient } from '../helpers/lineclient.js';

let dns: TestDnsServer;
let yubin: YubinInstance;

before(async () => {
  dns = await startDnsServer();
  yubin = await startYubin({
    hostname: 'mx.b.test',
    domains: ['b.test'],
    users: [{ address: 'bob@b.test', password: 'secret-bob' }],
    config: {
      dns: { servers: [dns.address], timeout: 1 },
      // the structural limit (issue 10 item 2a) would refuse this message before the checks
      smtp: { max_header_lines: 100_000, max_header_field_lines: 100_000 },
      checks: { trusted_networks: [] },
    },
  });
});

after(async () => {
  await yubin?.destroy();
  await dns?.close();
});

/** Connect → 220 greeting on a new socket, in ms. */
async function greetingLatency(port: number): Promise<number> {
  const t0 = Date.now();
  const c = await LineClient.connect(port);
  try {
    await c.waitFor(/^220 [^\r\n]*\r\n/, 60_000);
    return Date.now() - t0;
  } finally {
    c.socket.destroy();
  }
}

test('a 40,000-line header is authenticated while another client gets its greeting within 1 s', async () => {
  const port = yubin.port('smtp');
  const a = await LineClient.connect(port);
  await a.smtpReply();
  assert.match(await a.smtp('EHLO mail.a.test'), /^250/m);
  assert.match(await a.smtp('MAIL FROM:<alice@a.test>'), /^250/);
  assert.match(await a.smtp('RCPT TO:<bob@b.test>'), /^250/);
  assert.match(await a.smtp('DATA'), /^354/);
  const header = 'From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: folded\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <fold@a.test>\r\nX-Fold: a\r\n' + ' b\r\n'.repeat(40_000);
  a.write(header + '\r\nHello.\r\n.\r\n');

  // Probe with new connections, one after another, until client A has its answer.
  let answered = false;
  const reply = a.smtpReply(120_000).finally(() => (answered = true));
  const latencies: number[] = [];
  const t0 = Date.now();
  while (!answered || latencies.length < 3) latencies.push(await greetingLatency(port));
  const dataReply = await reply;
  const took = Date.now() - t0;

  assert.match(dataReply, /^250 /, 'the message is accepted');
  assert.ok(Math.max(...latencies) < 1000, `greeting latencies (ms) while the message was checked for ${took} ms: ${latencies.join(', ')}`);
  a.socket.destroy();
});
