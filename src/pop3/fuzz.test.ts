// Fuzzing the POP3 session in each state: random mixes of valid commands, bad arguments, garbage
// bytes, bare CR/LF, oversized lines and SASL exchanges, cut into random chunks. The session must
// never throw, never hang, and afterwards either have closed the connection or still answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPop3TestContext, type Pop3TestContext } from '../../test/integration/pop3-context.js';
import type { PipeTransport } from '../../test/helpers/pipe.js';

let c: Pop3TestContext;
let seed = 20261128;
function rnd(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}
function pick<T>(xs: readonly T[]): T {
  return xs[rnd(xs.length)]!;
}

const VERBS = ['USER', 'PASS', 'AUTH', 'APOP', 'STLS', 'UTF8', 'CAPA', 'STAT', 'LIST', 'UIDL', 'RETR', 'TOP', 'DELE', 'NOOP', 'RSET', 'XTND', 'retr', 'list'];
const ARGS = ['', '1', '2', '3', '0', '-1', '99999999999', 'x', '1 0', '1 5', '2 999', 'PLAIN', 'LOGIN', 'PLAIN =', 'PLAIN *', 'LOGIN YWxpY2U=', 'alice@example.test', 'secret pw', '\u00e9\u00e8'];

function randomInput(): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + rnd(30);
  for (let i = 0; i < n; i++) {
    const kind = rnd(10);
    if (kind < 6) {
      const a = pick(ARGS);
      parts.push(Buffer.from(`${pick(VERBS)}${a ? ' ' + a : ''}${pick(['\r\n', '\r\n', '\n', '\r\n'])}`, 'utf8'));
    } else if (kind === 6) {
      parts.push(Buffer.from(Array.from({ length: rnd(50) }, () => rnd(256))));
    } else if (kind === 7) {
      parts.push(Buffer.alloc(rnd(3) === 0 ? 20_000 : 300, 0x41), Buffer.from('\r\n'));
    } else if (kind === 8) {
      parts.push(Buffer.from(pick(['*\r\n', '=\r\n', 'AGFsaWNlQGV4YW1wbGUudGVzdAB4\r\n', '\r\n', '\r', '.\r\n'])));
    } else {
      parts.push(Buffer.from(pick(['QUIT\r\n', 'DELE 1\r\n', 'RSET\r\n'])));
    }
  }
  return Buffer.concat(parts);
}

async function feed(t: PipeTransport, input: Buffer): Promise<void> {
  for (let i = 0; i < input.length && !t.closed; ) {
    const n = 1 + rnd(64);
    t.send(input.subarray(i, i + n));
    i += n;
    // Let the session work through what it has (commands run asynchronously).
    if (rnd(4) === 0) await new Promise((r) => setImmediate(r));
  }
}

/** Either the session closed, or it still answers CAPA (after finishing whatever it was doing). */
async function settle(t: PipeTransport, state: string, input: Buffer): Promise<void> {
  if (t.closed) return;
  // A SASL exchange may be waiting for a response: cancel it first, then ask for CAPA.
  t.send('*\r\nCAPA\r\n');
  try {
    await t.waitFor(/\+OK Capability list follows\r\n[^]*\r\n\.\r\n/, 10_000);
  } catch (err) {
    if (t.closed) return;
    throw new Error(`${state}: no answer after ${JSON.stringify(input.toString('latin1').slice(0, 500))}: ${(err as Error).message}`);
  }
}

before(async () => {
  c = await createPop3TestContext({ auth: { throttle_free_failures: 100_000, throttle_max_failures: 100_000 }, pop3: { max_bad_commands: 1000 } });
});
after(async () => {
  await c.close();
});

test('fuzz: AUTHORIZATION state (plain and TLS)', async () => {
  for (let i = 0; i < 60; i++) {
    const t = await c.connect({ tls: rnd(2) === 0 });
    const input = randomInput();
    await feed(t, input);
    await settle(t, 'AUTHORIZATION', input);
    t.close();
  }
});

test('fuzz: TRANSACTION state', async () => {
  for (let i = 0; i < 20; i++) {
    const inbox = (await c.store.getMailbox(c.alice.id, 'INBOX'))!;
    while ((await c.store.listMessages(inbox.id)).length < 3) {
      await c.deliver(c.alice, `Subject: fuzz ${i}\r\n\r\n.dot\r\nline\r\n`);
    }
    const t = await c.login(c.alice);
    const input = randomInput();
    await feed(t, input);
    await settle(t, 'TRANSACTION', input);
    t.close();
  }
  // Whatever happened, the maildrop is consistent and free again.
  const t = await c.login(c.alice);
  t.send('STAT\r\n');
  assert.match(await t.waitFor(/\r\n$/), /^\+OK \d+ \d+\r\n$/);
  t.close();
});
