// Issue 10 item 4: failed logins from one address must not lock the account out everywhere.
// The server runs as a user runs it (`yubin serve` with a config file, test/helpers/server.ts).
// A stranger at 127.0.0.5 makes 10 wrong-password attempts for bob over IMAP, POP3 and SMTP
// AUTH; then bob logs in with the right password from 127.0.0.1 on each protocol within 5 s,
// while 127.0.0.5 itself stays refused (the per-IP limit) and bob's logins are still slowed
// (the per-account delay that slows an attack spread over many addresses).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { LineClient } from '../helpers/lineclient.js';
import { startYubin, type YubinInstance } from '../helpers/server.js';

const BOB = 'bob@example.test';
const PW = 'correct horse battery';
const ATTACKER = '127.0.0.5';
const OWNER = '127.0.0.1';
const REPLY_TIMEOUT = 30_000;

let y: YubinInstance;

before(async () => {
  y = await startYubin({
    domains: ['example.test'],
    users: [{ address: BOB, password: PW }],
    // Short per-IP delays so the stranger's ten failures do not take a minute; every other
    // throttle key (the limit of 10, the window, the per-account delay cap) keeps its default.
    config: { auth: { throttle_delay: '100ms', throttle_max_delay: '400ms' } },
  });
});

after(async () => {
  await y?.destroy();
});

type Proto = 'imap' | 'pop3' | 'smtp';
type Outcome = 'ok' | 'invalid' | 'throttled' | 'other';

/** A TLS connection (implicit-TLS listener) whose client end is bound to `from`. */
function connect(port: number, from: string): Promise<LineClient> {
  return new Promise((resolve, reject) => {
    // The TCP socket is made first: tls.connect's options have no localAddress.
    const raw = net.connect({ host: '127.0.0.1', port, localAddress: from });
    const s = tls.connect({ socket: raw, rejectUnauthorized: false }, () => resolve(new LineClient(s)));
    s.once('error', reject);
  });
}

/** One login attempt on a fresh connection; the server's answer, classified, and how long it all took. */
async function attempt(proto: Proto, from: string, password: string): Promise<{ outcome: Outcome; ms: number; reply: string }> {
  const t0 = performance.now();
  let reply: string;
  let outcome: Outcome = 'other';
  if (proto === 'imap') {
    const c = await connect(y.port('imaps'), from);
    await c.waitFor(/^\* OK[^\r\n]*\r\n$/, REPLY_TIMEOUT);
    c.write(`a1 LOGIN "${BOB}" "${password}"\r\n`);
    reply = await c.waitFor(/(^|\r\n)a1 [^\r\n]*\r\n$/, REPLY_TIMEOUT);
    c.socket.destroy();
    const tagged = reply.slice(reply.lastIndexOf('a1 '));
    // RFC 5530 §3: AUTHENTICATIONFAILED for bad credentials, UNAVAILABLE while throttled
    if (/^a1 OK/.test(tagged)) outcome = 'ok';
    else if (/^a1 NO \[AUTHENTICATIONFAILED\]/.test(tagged)) outcome = 'invalid';
    else if (/^a1 NO \[UNAVAILABLE\]/.test(tagged)) outcome = 'throttled';
  } else if (proto === 'pop3') {
    const c = await connect(y.port('pop3s'), from);
    await c.waitFor(/^\+OK[^\r\n]*\r\n$/, REPLY_TIMEOUT);
    c.write(`USER ${BOB}\r\n`);
    await c.waitFor(/^\+OK[^\r\n]*\r\n$/, REPLY_TIMEOUT);
    c.write(`PASS ${password}\r\n`);
    reply = await c.waitFor(/^[+-][^\r\n]*\r\n$/, REPLY_TIMEOUT);
    c.socket.destroy();
    // RFC 3206: [AUTH] for bad credentials, [SYS/TEMP] while throttled
    if (/^\+OK/.test(reply)) outcome = 'ok';
    else if (/^-ERR \[AUTH\]/.test(reply)) outcome = 'invalid';
    else if (/^-ERR \[SYS\/TEMP\]/.test(reply)) outcome = 'throttled';
  } else {
    const c = await connect(y.port('submissions'), from);
    await c.smtpReply(REPLY_TIMEOUT);
    await c.smtp('EHLO client.example.test');
    c.write(`AUTH PLAIN ${Buffer.from(`\0${BOB}\0${password}`).toString('base64')}\r\n`);
    reply = await c.smtpReply(REPLY_TIMEOUT);
    c.socket.destroy();
    // RFC 4954 §6: 235 success, 535 bad credentials, 454 temporary refusal
    if (/^235 /.test(reply)) outcome = 'ok';
    else if (/^535 /.test(reply)) outcome = 'invalid';
    else if (/^454 /.test(reply)) outcome = 'throttled';
  }
  return { outcome, ms: performance.now() - t0, reply: reply.trim() };
}

const PROTOS: Proto[] = ['imap', 'pop3', 'smtp'];

test('ten failures from one address do not lock the owner out from another, on IMAP, POP3 and SMTP AUTH', async (t) => {
  // The stranger's ten wrong passwords, spread over the three protocols, all at once.
  const failures = await Promise.all(Array.from({ length: 10 }, (_, i) => attempt(PROTOS[i % 3]!, ATTACKER, `wrong-${i}`)));
  assert.deepEqual(
    failures.map((f) => f.outcome),
    Array(10).fill('invalid'),
    failures.map((f) => f.reply).join('\n'),
  );

  // The per-IP limit still holds: the stranger's address is refused now, even with the right password.
  for (const proto of PROTOS) {
    const r = await attempt(proto, ATTACKER, PW);
    assert.equal(r.outcome, 'throttled', `${proto} from ${ATTACKER}: ${r.reply}`);
  }

  // The owner, from another address, logs in on every protocol within 5 s. The three logins run
  // together so each one meets the account's full failure count (a success does not clear the
  // failures that came from other addresses, so they would meet it one after another too).
  const logins = await Promise.all(PROTOS.map((proto) => attempt(proto, OWNER, PW)));
  t.diagnostic(`owner logins: ${logins.map((r, i) => `${PROTOS[i]} ${Math.round(r.ms)} ms`).join(', ')}`);
  for (const [i, r] of logins.entries()) {
    assert.equal(r.outcome, 'ok', `${PROTOS[i]} from ${OWNER}: ${r.reply}`);
    assert.ok(r.ms < 5000, `${PROTOS[i]} login took ${Math.round(r.ms)} ms`);
    // Still slowed by the account's failures: a guesser spread over many addresses is too.
    assert.ok(r.ms >= 1000, `${PROTOS[i]} login took only ${Math.round(r.ms)} ms: no per-account delay`);
  }
});
