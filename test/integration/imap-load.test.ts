// Issue 13 "Bugs seen under load": ten clients APPENDing over IMAPS at once against `yubin serve`
// started as a user starts it. Every APPEND must get its tagged reply (a session that stalls for
// good is the bug); the bound is generous (no timing assertion tighter than 10 s per command).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { startYubin, type YubinInstance } from '../helpers/server.js';

let y: YubinInstance;
const USER = 'alice@a.test';
const PASS = 'correct horse battery';
const CLIENTS = 10;
/** How long the clients keep appending (IMAP_LOAD_SECONDS makes a longer run). */
const SECONDS = Number(process.env.IMAP_LOAD_SECONDS ?? 5);
/** No tagged reply may take longer than this (a stall, not a slow command). */
const MAX_REPLY_MS = 10_000;

before(async () => {
  y = await startYubin({ domains: ['a.test'], users: [{ address: USER, password: PASS }] });
});
after(async () => {
  await y?.destroy();
});

/** A raw IMAPS client: one command at a time, resolves with the tagged reply line. */
class RawClient {
  private buf = '';
  private waiting: { tag: string; resolve: (line: string) => void; reject: (e: Error) => void } | null = null;
  private n = 0;
  private continuation: (() => void) | null = null;
  private constructor(private readonly sock: TLSSocket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.scan();
    });
    sock.on('close', () => this.waiting?.reject(new Error('connection closed')));
    sock.on('error', () => {});
  }
  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  private scan(): void {
    if (this.continuation) {
      const c = /(?:^|\r\n)\+ [^\r\n]*\r\n/.exec(this.buf);
      if (c) {
        this.buf = this.buf.slice(c.index + c[0].length);
        const go = this.continuation;
        this.continuation = null;
        go();
      }
    }
    if (!this.waiting) return;
    const m = new RegExp(`(?:^|\\r\\n)(${this.waiting.tag} (?:OK|NO|BAD)[^\\r\\n]*)\\r\\n`).exec(this.buf);
    if (!m) return;
    const w = this.waiting;
    this.waiting = null;
    this.buf = this.buf.slice(m.index + m[0].length);
    w.resolve(m[1]!);
  }
  cmd(text: string): Promise<string> {
    const tag = `t${++this.n}`;
    return new Promise((resolve, reject) => {
      this.waiting = { tag, resolve, reject };
      this.sock.write(`${tag} ${text}\r\n`);
    });
  }
  /**
   * APPEND with a non-synchronizing literal (LITERAL+, as clients that pipeline do) or a
   * synchronizing one (the message is sent after the server's "+").
   */
  append(mailbox: string, message: string, sync: boolean): Promise<string> {
    const tag = `t${++this.n}`;
    return new Promise((resolve, reject) => {
      this.waiting = { tag, resolve, reject };
      const size = Buffer.byteLength(message);
      if (!sync) {
        this.sock.write(`${tag} APPEND ${mailbox} (\\Seen) {${size}+}\r\n${message}\r\n`);
        return;
      }
      this.continuation = () => this.sock.write(`${message}\r\n`);
      this.sock.write(`${tag} APPEND ${mailbox} (\\Seen) {${size}}\r\n`);
      this.scan();
    });
  }
  close(): void {
    this.sock.destroy();
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no tagged reply in ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

test(`${CLIENTS} clients APPENDing over IMAPS: every tagged reply arrives`, { timeout: (SECONDS + 60) * 1000 }, async () => {
  const body = 'x'.repeat(70) + '\r\n';
  const message = (c: number, i: number) =>
    `From: load${c}@b.test\r\nTo: ${USER}\r\nSubject: load ${c}/${i}\r\nDate: Tue, 3 Feb 2026 09:00:00 +0000\r\nMessage-ID: <l${c}.${i}@b.test>\r\n\r\n${body.repeat(40 + ((c * 7 + i) % 60))}`;
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => RawClient.open(y.port('imaps'))));
  let slowest = 0;
  const counts: number[] = [];
  try {
    // One login after another: the authenticator's throttle counts logins in flight from one IP
    // as possible failures (src/auth/throttle.ts), which is not what this test is about.
    for (const c of clients) assert.match(await within(c.cmd(`LOGIN ${USER} "${PASS}"`), MAX_REPLY_MS, 'LOGIN'), /^t\d+ OK/);
    const end = Date.now() + SECONDS * 1000;
    await Promise.all(
      clients.map(async (c, k) => {
        let i = 0;
        while (Date.now() < end) {
          const t0 = Date.now();
          const r = await within(c.append('INBOX', message(k, i), k % 2 === 1), MAX_REPLY_MS, `client ${k} APPEND ${i}`);
          slowest = Math.max(slowest, Date.now() - t0);
          assert.match(r, /^t\d+ OK \[APPENDUID \d+ \d+\]/, `client ${k} APPEND ${i}`);
          i++;
        }
        counts[k] = i;
      }),
    );
    const total = counts.reduce((a, b) => a + b, 0);
    const st = await within(clients[0]!.cmd('STATUS INBOX (MESSAGES)'), MAX_REPLY_MS, 'STATUS');
    assert.match(st, /OK/);
    if (process.env.IMAP_LOAD_VERBOSE) console.log({ total, counts, slowest });
    assert.ok(total >= CLIENTS, `every client appended (${counts.join(',')})`);
  } finally {
    for (const c of clients) c.close();
  }
});
