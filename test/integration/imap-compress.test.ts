// COMPRESS=DEFLATE (RFC 4978) against the real server over a raw TCP socket, with zlib on the
// client side too: after the tagged OK, every byte each way is raw DEFLATE, each response is
// flushed (Z_SYNC_FLUSH) so it can be read without waiting for more, and a large FETCH, an
// APPEND literal, IDLE pushes and LOGOUT's BYE all pass through it. imapflow (test/integration/
// imap.test.ts) compresses too whenever the server offers COMPRESS=DEFLATE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { startYubin, type YubinInstance } from '../helpers/server.js';

let y: YubinInstance;
const USER = 'alice@a.test';
const PASS = 'correct horse battery';

before(async () => {
  y = await startYubin({ domains: ['a.test'], users: [{ address: USER, password: PASS }], config: { auth: { allow_plaintext: true } } });
});
after(async () => {
  await y?.destroy();
});

/** A raw IMAP client that can switch to DEFLATE both ways. */
class RawClient {
  private text = '';
  private waiters: Array<() => void> = [];
  private deflate: DeflateRaw | null = null;
  private inflate: InflateRaw | null = null;
  /** Compressed octets received (after COMPRESS). */
  wireIn = 0;
  /** The socket closed. */
  closed = false;
  /** Closed, and everything received before is in `text` (inflated). */
  private drained = false;

  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      if (this.inflate) {
        this.wireIn += d.length;
        this.inflate.write(d);
      } else this.got(d);
    });
    sock.on('close', () => {
      this.closed = true;
      const done = () => {
        this.drained = true;
        this.wake();
      };
      // zlib inflates on libuv's pool: what arrived just before the close may not be out of the
      // inflater yet (on a loaded machine the close came first and the last reply was lost)
      if (this.inflate && !this.inflate.destroyed) this.inflate.once('end', done).once('error', done).once('close', done).end();
      else done();
    });
  }

  private got(d: Buffer): void {
    this.text += d.toString('latin1');
    this.wake();
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Everything received up to and including the line matching `re`; consumed. */
  async until(re: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.text);
      if (m) {
        const end = m.index + m[0].length;
        const out = this.text.slice(0, end);
        this.text = this.text.slice(end);
        return out;
      }
      if (this.drained) throw new Error(`closed; unread ${JSON.stringify(this.text.slice(0, 500))}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; unread ${JSON.stringify(this.text.slice(0, 500))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200).unref();
      });
    }
  }

  send(data: string | Buffer): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    // Each command is flushed so the server can act on it at once (RFC 4978 §4, both directions).
    if (this.deflate) {
      this.deflate.write(b);
      this.deflate.flush(constants.Z_SYNC_FLUSH);
    } else this.sock.write(b);
  }

  async cmd(tag: string, line: string): Promise<string> {
    this.send(`${tag} ${line}\r\n`);
    return this.until(new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r]*\\r\\n`));
  }

  startDeflate(): void {
    this.deflate = createDeflateRaw();
    this.deflate.on('data', (c: Buffer) => this.sock.write(c));
    this.inflate = createInflateRaw();
    this.inflate.on('data', (c: Buffer) => this.got(c));
  }

  /** Sends compressed bytes as they are (no flush). */
  rawCompressed(b: Buffer): void {
    this.sock.write(b);
  }
}

async function open(): Promise<RawClient> {
  const sock = connect(y.port('imap'), '127.0.0.1');
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  const c = new RawClient(sock);
  await c.until(/^\* OK .*\r\n/);
  return c;
}

test('COMPRESS DEFLATE with zlib on both sides: commands, a large FETCH, APPEND, IDLE, LOGOUT', async () => {
  const c = await open();
  // RFC 4978 §3: only after login
  assert.match(await c.cmd('a0', 'COMPRESS DEFLATE'), /a0 BAD/);
  const caps = await c.cmd('a1', `LOGIN ${USER} "${PASS}"`);
  assert.match(caps, /COMPRESS=DEFLATE/);
  assert.match(await c.cmd('a2', 'COMPRESS GZIP'), /a2 BAD/);
  assert.match(await c.cmd('a3', 'COMPRESS DEFLATE'), /a3 OK DEFLATE active\r\n$/);
  c.startDeflate();
  assert.match(await c.cmd('b1', 'NOOP'), /^b1 OK NOOP completed\r\n$/);
  // RFC 4978 §3: a second COMPRESS is refused, in the compressed stream
  assert.match(await c.cmd('b2', 'COMPRESS DEFLATE'), /^b2 NO \[COMPRESSIONACTIVE\]/);
  // A message bigger than the inflater's chunks and the server's 256 KiB streaming threshold.
  const body = 'All work and no play makes Jack a dull boy.\r\n'.repeat(20_000);
  const msg = `From: b@b.test\r\nTo: ${USER}\r\nSubject: big\r\n\r\n${body}`;
  c.send(`b3 APPEND INBOX {${msg.length}}\r\n`);
  await c.until(/^\+ [^\r]*\r\n/);
  c.send(msg + '\r\n');
  assert.match(await c.until(/b3 (OK|NO|BAD)[^\r]*\r\n/), /b3 OK \[APPENDUID \d+ 1\]/);
  assert.match(await c.cmd('b4', 'SELECT INBOX'), /\* 1 EXISTS/);
  const before = c.wireIn;
  const fetched = await c.cmd('b5', 'FETCH 1 BODY.PEEK[]');
  assert.ok(fetched.includes(`BODY[] {${msg.length}}\r\n${msg})\r\n`), 'the message comes back whole');
  // The repetitive body compresses well: much less crossed the wire than was read.
  assert.ok(c.wireIn - before < msg.length / 20, `compressed ${c.wireIn - before} octets for ${msg.length}`);
  // IDLE: a push from another session arrives flushed, without waiting for more output.
  c.send('b6 IDLE\r\n');
  await c.until(/^\+ idling\r\n|^\+ [^\r]*\r\n/);
  const other = await open();
  await other.cmd('o1', `LOGIN ${USER} "${PASS}"`);
  other.send(`o2 APPEND INBOX {${'Subject: x\r\n\r\nhi\r\n'.length}+}\r\nSubject: x\r\n\r\nhi\r\n\r\n`);
  await other.until(/o2 OK/);
  assert.match(await c.until(/\* 2 EXISTS\r\n/), /\* 2 EXISTS/);
  c.send('DONE\r\n');
  await c.until(/b6 OK[^\r]*\r\n/);
  other.sock.destroy();
  // LOGOUT: BYE and the tagged OK are flushed before the close.
  const bye = await c.cmd('b7', 'LOGOUT');
  assert.match(bye, /\* BYE [^\r]*\r\nb7 OK/);
  await new Promise<void>((r) => (c.closed ? r() : c.sock.once('close', () => r())));
});

test('COMPRESS: input that does not inflate closes the connection; the server goes on', async () => {
  const c = await open();
  await c.cmd('a1', `LOGIN ${USER} "${PASS}"`);
  await c.cmd('a2', 'COMPRESS DEFLATE');
  // Not a DEFLATE stream: a stored block header with a broken length check.
  c.rawCompressed(Buffer.from([0x00, 0x05, 0x00, 0x05, 0x00, 0x41, 0x42]));
  await new Promise<void>((r) => (c.closed ? r() : c.sock.once('close', () => r())));
  const d = await open();
  assert.match(await d.cmd('x1', 'NOOP'), /x1 OK/);
  d.sock.destroy();
});
