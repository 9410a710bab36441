// The network core over real loopback sockets, with a tiny line protocol as the session:
// implicit TLS, the STARTTLS upgrade (and that pipelined plaintext never reaches the session),
// connection limits, and draining on close(grace).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log/logger.js';
import { startListeners, type Listeners } from '../../src/net/listener.js';
import { copyFile } from 'node:fs/promises';
import { createTlsProvider, generateSelfSigned, type TlsProvider } from '../../src/net/tls.js';
import type { Session, Transport } from '../../src/net/transport.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

let sharedTls: Promise<{ dir: string; provider: TlsProvider }> | null = null;
function tlsProvider(): Promise<{ dir: string; provider: TlsProvider }> {
  sharedTls ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-net-'));
    dirs.push(dir);
    const provider = await createTlsProvider(configSchema.parse({ hostname: 'mail.net.test', data_dir: dir }), silentLogger());
    return { dir, provider };
  })();
  return sharedTls;
}

function makeConfig(dir: string, over: { listen?: Partial<Record<string, string[]>>; limits?: Record<string, unknown> } = {}): Config {
  const none = { smtp: [], submission: [], submissions: [], imap: [], imaps: [], pop3: [], pop3s: [] };
  return configSchema.parse({ hostname: 'mail.net.test', data_dir: dir, listen: { ...none, ...over.listen }, limits: over.limits ?? {} });
}

/** A line protocol: greets, echoes lines, STARTTLS upgrades, QUIT closes. Records what it saw. */
class LineSession implements Session {
  seen: string[] = [];
  shutdownCalls = 0;
  closedCalls = 0;
  private buf = '';
  private upgrading = false;

  constructor(
    readonly t: Transport,
    private readonly opts: { ignoreShutdown?: boolean } = {},
  ) {}

  start(): void {
    this.t.write(`HELLO ${this.t.listener} ${this.t.tls ? this.t.tls.protocol : 'plain'}\r\n`);
  }

  private busy = false;

  ingest(chunk: Buffer): void {
    if (this.upgrading) throw new Error('input during the TLS upgrade reached the session');
    this.buf += chunk.toString('latin1');
    if (!this.busy) this.process();
  }

  private process(): void {
    let i: number;
    while ((i = this.buf.indexOf('\r\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      this.seen.push(line);
      if (line === 'STARTTLS') {
        this.t.write('GO\r\n');
        // The session drops what it buffered after the command (the transport drops the rest).
        this.buf = '';
        this.upgrading = true;
        this.t.startTls().then(
          (info) => {
            this.upgrading = false;
            this.t.write(`TLS ${info.protocol}\r\n`);
          },
          () => {
            this.upgrading = false;
          },
        );
        return;
      }
      if (line === 'NOTETLS') {
        // Go-ahead, then a line written at once after startTls(), before any handshake.
        this.t.write('GO\r\n');
        this.buf = '';
        this.upgrading = true;
        this.t.startTls().then(
          () => (this.upgrading = false),
          () => (this.upgrading = false),
        );
        this.t.write('EARLY\r\n');
        return;
      }
      if (line === 'LAZYTLS') {
        // Go-ahead first, then startTls() only after the event loop turned (the client's
        // ClientHello may already be waiting in the socket's buffer by then).
        this.t.pause();
        this.t.write('GO\r\n');
        this.buf = '';
        this.upgrading = true;
        setTimeout(() => {
          this.t.startTls().then(
            (info) => {
              this.upgrading = false;
              this.t.resume();
              this.t.write(`TLS ${info.protocol}\r\n`);
            },
            () => (this.upgrading = false),
          );
        }, 50);
        return;
      }
      if (line === 'BIG') {
        // 2 MiB in 64 KiB chunks, waiting for drain() whenever write() says the peer is slow.
        this.busy = true;
        void (async () => {
          const chunk = Buffer.alloc(65536, 0x61);
          let waits = 0;
          for (let n = 0; n < 32; n++) {
            if (!this.t.write(chunk)) {
              waits++;
              await this.t.drain();
            }
          }
          this.t.write(`\r\nBIG DONE ${waits > 0 ? 'waited' : 'never-waited'}\r\n`);
          this.busy = false;
          this.process();
        })();
        return;
      }
      if (line === 'SLOW') {
        // A command that takes a while (like a store commit): input waits, then processing goes on.
        this.busy = true;
        this.t.pause();
        setTimeout(() => {
          this.t.write('SLOW DONE\r\n');
          this.busy = false;
          this.t.resume();
          this.process();
        }, 50);
        return;
      }
      if (line === 'QUIT') {
        this.t.write('BYE\r\n');
        this.t.close();
        return;
      }
      this.t.write(`ECHO ${line}\r\n`);
    }
  }

  closed(): void {
    this.closedCalls++;
  }

  async shutdown(): Promise<void> {
    this.shutdownCalls++;
    if (this.opts.ignoreShutdown) return;
    this.t.write('SHUTDOWN\r\n');
    this.t.close();
  }
}

/** Reads lines from a socket; next() resolves with the next line or null at end of stream. */
function lineReader(s: net.Socket) {
  let buf = '';
  const lines: string[] = [];
  let waiter: (() => void) | null = null;
  let ended = false;
  const wake = () => {
    const w = waiter;
    waiter = null;
    w?.();
  };
  let scanFrom = 0;
  const onData = (d: Buffer) => {
    buf += d.toString('latin1');
    let i: number;
    while ((i = buf.indexOf('\r\n', scanFrom)) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 2);
      scanFrom = 0;
    }
    scanFrom = Math.max(0, buf.length - 1);
    wake();
  };
  s.on('data', onData);
  s.on('close', () => {
    ended = true;
    wake();
  });
  s.on('error', () => {
    ended = true;
    wake();
  });
  return {
    async next(): Promise<string | null> {
      for (;;) {
        if (lines.length) return lines.shift()!;
        if (ended) return null;
        await new Promise<void>((r) => (waiter = r));
      }
    },
    detach() {
      s.removeListener('data', onData);
      return buf;
    },
  };
}

function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

function connectPlain(addr: string): Promise<net.Socket> {
  const { host, port } = hostPort(addr);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** A TLS client handshake (certificates not checked): to an address, or over a plain socket after a go-ahead. */
function tlsHandshake(opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ rejectUnauthorized: false, ...opts }, () => resolve(s));
    s.once('error', reject);
  });
}

function connectTls(addr: string, extra: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const { host, port } = hostPort(addr);
  return tlsHandshake({ host, port, servername: 'mail.net.test', ...extra });
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function start(over: Parameters<typeof makeConfig>[1], sessionOpts: { ignoreShutdown?: boolean; halfCloseMs?: number } = {}) {
  const { dir, provider } = await tlsProvider();
  const sessions: LineSession[] = [];
  const factory = (t: Transport) => {
    const s = new LineSession(t, sessionOpts);
    sessions.push(s);
    return s;
  };
  const listeners: Listeners = await startListeners({
    config: makeConfig(dir, over),
    logger: silentLogger(),
    tls: provider,
    factories: { smtp: factory, imap: factory, imaps: factory, submissions: factory, pop3: factory },
    halfCloseMs: sessionOpts.halfCloseMs ?? 300,
  });
  return { listeners, sessions, provider };
}

test('reports the bound port for port 0 and [] for listeners not started', async () => {
  const { listeners } = await start({ listen: { smtp: ['127.0.0.1:0', '127.0.0.1:0'] } });
  try {
    assert.equal(listeners.addresses.smtp.length, 2);
    for (const a of listeners.addresses.smtp) assert.match(a, /^127\.0\.0\.1:[1-9]\d*$/);
    assert.deepEqual(listeners.addresses.imap, []);
    assert.deepEqual(listeners.addresses.pop3s, []);
  } finally {
    await listeners.close(1000);
  }
});

test('a busy port is a clear error naming the listener', async () => {
  const { listeners } = await start({ listen: { smtp: ['127.0.0.1:0'] } });
  try {
    const taken = listeners.addresses.smtp[0]!;
    await assert.rejects(start({ listen: { imap: [taken] } }), /listen\.imap: cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
  } finally {
    await listeners.close(1000);
  }
});

test('plain connection: greeting, echo, QUIT closes and closed() is called once', async () => {
  const { listeners, sessions } = await start({ listen: { smtp: ['127.0.0.1:0'] } });
  try {
    const s = await connectPlain(listeners.addresses.smtp[0]!);
    const r = lineReader(s);
    assert.equal(await r.next(), 'HELLO smtp plain');
    s.write('ping\r\n');
    assert.equal(await r.next(), 'ECHO ping');
    s.write('QUIT\r\n');
    assert.equal(await r.next(), 'BYE');
    assert.equal(await r.next(), null);
    await until(() => sessions[0]!.closedCalls === 1);
    await until(() => listeners.connections() === 0);
    const t = sessions[0]!.t;
    assert.equal(t.remoteAddress, '127.0.0.1');
    assert.equal(t.listener, 'smtp');
    assert.equal(t.tls, null);
  } finally {
    await listeners.close(1000);
  }
});

test('replies written in one turn leave in one send (pipelined commands are answered in one segment)', async () => {
  const { listeners } = await start({ listen: { smtp: ['127.0.0.1:0'] } });
  // Counts the socket-level sends of the server's side of the connection.
  type Sendable = { _writeGeneric: (...args: unknown[]) => unknown; localPort?: number };
  const proto = net.Socket.prototype as unknown as Sendable;
  const original = proto._writeGeneric;
  const port = Number(listeners.addresses.smtp[0]!.split(':')[1]);
  let sends = 0;
  proto._writeGeneric = function (this: Sendable, ...args: unknown[]) {
    if (this.localPort === port) sends++;
    return original.apply(this, args);
  };
  try {
    const s = await connectPlain(listeners.addresses.smtp[0]!);
    const r = lineReader(s);
    assert.equal(await r.next(), 'HELLO smtp plain');
    await until(() => sends === 1);
    // Three commands in one packet: the session answers each with its own write().
    s.write('one\r\ntwo\r\nthree\r\n');
    assert.equal(await r.next(), 'ECHO one');
    assert.equal(await r.next(), 'ECHO two');
    assert.equal(await r.next(), 'ECHO three');
    assert.equal(sends, 2, 'the three replies were sent together');
    s.end();
  } finally {
    proto._writeGeneric = original;
    await listeners.close(1000);
  }
});
test('implicit TLS: the handshake comes first, then the session starts with tls set', async () => {
  const { listeners, sessions } = await start({ listen: { imaps: ['127.0.0.1:0'], submissions: ['127.0.0.1:0'] } });
  try {
    for (const name of ['imaps', 'submissions'] as const) {
      const s = await connectTls(listeners.addresses[name][0]!);
      const r = lineReader(s);
      assert.match((await r.next())!, new RegExp(`^HELLO ${name} TLSv1\\.[23]$`));
      const cert = s.getPeerCertificate();
      assert.equal(cert.subject.CN, 'mail.net.test');
      s.write('over tls\r\n');
      assert.equal(await r.next(), 'ECHO over tls');
      s.end();
    }
    const t = sessions[0]!.t;
    assert.equal(t.tls?.servername, 'mail.net.test');
    assert.ok(t.tls?.cipher);
    await until(() => sessions.every((x) => x.closedCalls === 1));
  } finally {
    await listeners.close(1000);
  }
});

test('implicit TLS refuses TLS 1.1 and plaintext; no session is created', async () => {
  const { listeners, sessions } = await start({ listen: { imaps: ['127.0.0.1:0'] } });
  try {
    await assert.rejects(connectTls(listeners.addresses.imaps[0]!, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }));
    const s = await connectPlain(listeners.addresses.imaps[0]!);
    const r = lineReader(s);
    s.write('a1 LOGIN user pass\r\n');
    assert.equal(await r.next(), null);
    assert.equal(sessions.length, 0);
  } finally {
    await listeners.close(1000);
  }
});

test('STARTTLS: bytes pipelined after the command never reach the session', async () => {
  const { listeners, sessions } = await start({ listen: { imap: ['127.0.0.1:0'] } });
  try {
    const s = await connectPlain(listeners.addresses.imap[0]!);
    const r = lineReader(s);
    assert.equal(await r.next(), 'HELLO imap plain');
    s.write('STARTTLS\r\nINJECTED\r\n');
    assert.equal(await r.next(), 'GO');
    r.detach();
    const secure = await tlsHandshake({ socket: s, servername: 'mail.net.test' });
    const rt = lineReader(secure);
    assert.match((await rt.next())!, /^TLS TLSv1\.[23]$/);
    secure.write('AFTER\r\n');
    assert.equal(await rt.next(), 'ECHO AFTER');
    assert.deepEqual(sessions[0]!.seen, ['STARTTLS', 'AFTER']);
    assert.match(sessions[0]!.t.tls!.protocol, /^TLSv1\.[23]$/);
    secure.end();
    await until(() => sessions[0]!.closedCalls === 1);
  } finally {
    await listeners.close(1000);
  }
});

test('STARTTLS: plaintext sent after the go-ahead fails the handshake and is never processed', async () => {
  const { listeners, sessions } = await start({ listen: { smtp: ['127.0.0.1:0'] } });
  try {
    const s = await connectPlain(listeners.addresses.smtp[0]!);
    const r = lineReader(s);
    assert.equal(await r.next(), 'HELLO smtp plain');
    s.write('STARTTLS\r\n');
    assert.equal(await r.next(), 'GO');
    s.write('INJECTED\r\nQUIT\r\n');
    assert.equal(await r.next(), null); // the server closes: that was no ClientHello
    await until(() => sessions[0]!.closedCalls === 1);
    assert.deepEqual(sessions[0]!.seen, ['STARTTLS']);
    assert.equal(sessions[0]!.t.tls, null);
  } finally {
    await listeners.close(1000);
  }
});

test('per-IP limit: the connection over the limit gets the refusal and no session', async () => {
  const { listeners, sessions } = await start({ listen: { smtp: ['127.0.0.1:0'], pop3: ['127.0.0.1:0'] }, limits: { max_connections_per_ip: 2 } });
  try {
    const a = await connectPlain(listeners.addresses.smtp[0]!);
    const ra = lineReader(a);
    assert.equal(await ra.next(), 'HELLO smtp plain');
    const b = await connectPlain(listeners.addresses.pop3[0]!);
    const rb = lineReader(b);
    assert.equal(await rb.next(), 'HELLO pop3 plain');
    // The limit counts every listener together.
    const c = await connectPlain(listeners.addresses.smtp[0]!);
    const rc = lineReader(c);
    assert.equal(await rc.next(), '421 4.7.0 mail.net.test Too many connections, try again later');
    assert.equal(await rc.next(), null);
    const d = await connectPlain(listeners.addresses.pop3[0]!);
    const rd = lineReader(d);
    assert.equal(await rd.next(), '-ERR [SYS/TEMP] Too many connections, try again later');
    assert.equal(sessions.length, 2);
    // A slot freed is a slot available again.
    a.write('QUIT\r\n');
    assert.equal(await ra.next(), 'BYE');
    await until(() => listeners.connections() === 1);
    const e = await connectPlain(listeners.addresses.smtp[0]!);
    const re = lineReader(e);
    assert.equal(await re.next(), 'HELLO smtp plain');
    e.destroy();
    b.destroy();
  } finally {
    await listeners.close(1000);
  }
});

test('total limit: max_connections counts every IP', async () => {
  const { listeners, sessions } = await start({ listen: { imap: ['127.0.0.1:0'] }, limits: { max_connections: 1 } });
  try {
    const a = await connectPlain(listeners.addresses.imap[0]!);
    assert.equal(await lineReader(a).next(), 'HELLO imap plain');
    const b = await connectPlain(listeners.addresses.imap[0]!);
    const rb = lineReader(b);
    assert.equal(await rb.next(), '* BYE Too many connections, try again later');
    assert.equal(await rb.next(), null);
    assert.equal(sessions.length, 1);
    a.destroy();
  } finally {
    await listeners.close(1000);
  }
});

test('close(grace): stops accepting, calls shutdown() on every session, waits for them', async () => {
  const { listeners, sessions } = await start({ listen: { smtp: ['127.0.0.1:0'] } });
  const addr = listeners.addresses.smtp[0]!;
  const clients = await Promise.all([connectPlain(addr), connectPlain(addr)]);
  const readers = clients.map(lineReader);
  for (const r of readers) assert.equal(await r.next(), 'HELLO smtp plain');
  const t0 = Date.now();
  await listeners.close(10_000);
  assert.ok(Date.now() - t0 < 5000, 'cooperative sessions close long before the grace ends');
  assert.deepEqual(
    sessions.map((s) => s.shutdownCalls),
    [1, 1],
  );
  for (const r of readers) {
    assert.equal(await r.next(), 'SHUTDOWN');
    assert.equal(await r.next(), null);
  }
  await assert.rejects(connectPlain(addr), /ECONNREFUSED/);
});

test('close(grace): a session that does not finish is cut off when the grace ends', async () => {
  const { listeners, sessions } = await start({ listen: { smtp: ['127.0.0.1:0'] } }, { ignoreShutdown: true });
  const s = await connectPlain(listeners.addresses.smtp[0]!);
  const r = lineReader(s);
  assert.equal(await r.next(), 'HELLO smtp plain');
  const t0 = Date.now();
  await listeners.close(200);
  const took = Date.now() - t0;
  assert.ok(took >= 190 && took < 3000, `took ${took} ms`);
  assert.equal(sessions[0]!.shutdownCalls, 1);
  assert.equal(sessions[0]!.closedCalls, 1);
  assert.equal(await r.next(), null);
});

test('half-close: replies to commands sent before the peer\'s FIN still arrive', async () => {
  const { listeners, sessions } = await start({ listen: { smtp: ['127.0.0.1:0'] } });
  try {
    const s = await connectPlain(listeners.addresses.smtp[0]!);
    const r = lineReader(s);
    assert.equal(await r.next(), 'HELLO smtp plain');
    s.end('SLOW\r\nping\r\nQUIT\r\n');
    assert.equal(await r.next(), 'SLOW DONE');
    assert.equal(await r.next(), 'ECHO ping');
    assert.equal(await r.next(), 'BYE');
    assert.equal(await r.next(), null);
    assert.deepEqual(sessions[0]!.seen, ['SLOW', 'ping', 'QUIT']);
  } finally {
    await listeners.close(1000);
  }
});

test('half-close: a session that does not finish is closed after the grace', async () => {
  const { listeners, sessions } = await start({ listen: { imaps: ['127.0.0.1:0'] } }, { halfCloseMs: 100 });
  try {
    const s = await connectTls(listeners.addresses.imaps[0]!);
    const r = lineReader(s);
    assert.match((await r.next())!, /^HELLO imaps/);
    s.end('SLOW\r\n');
    assert.equal(await r.next(), 'SLOW DONE');
    assert.equal(await r.next(), null);
    await until(() => sessions[0]!.closedCalls === 1);
  } finally {
    await listeners.close(1000);
  }
});

test('STARTTLS: a ClientHello that arrives before startTls() is called is kept for the handshake', async () => {
  const { listeners, sessions } = await start({ listen: { pop3: ['127.0.0.1:0'] } });
  try {
    const s = await connectPlain(listeners.addresses.pop3[0]!);
    const r = lineReader(s);
    assert.equal(await r.next(), 'HELLO pop3 plain');
    s.write('LAZYTLS\r\n');
    assert.equal(await r.next(), 'GO');
    r.detach();
    const secure = await tlsHandshake({ socket: s });
    const rt = lineReader(secure);
    assert.match((await rt.next())!, /^TLS TLSv1\.[23]$/);
    secure.write('AFTER\r\n');
    assert.equal(await rt.next(), 'ECHO AFTER');
    assert.deepEqual(sessions[0]!.seen, ['LAZYTLS', 'AFTER']);
    secure.destroy();
  } finally {
    await listeners.close(1000);
  }
});

test('STARTTLS: plaintext waiting in the buffer when startTls() is called is discarded', async () => {
  const { listeners, sessions } = await start({ listen: { pop3: ['127.0.0.1:0'] } });
  try {
    const s = await connectPlain(listeners.addresses.pop3[0]!);
    const r = lineReader(s);
    assert.equal(await r.next(), 'HELLO pop3 plain');
    s.write('LAZYTLS\r\n');
    assert.equal(await r.next(), 'GO');
    s.write('INJECTED\r\n'); // lands in the paused socket's buffer before startTls()
    r.detach();
    const secure = await tlsHandshake({ socket: s });
    const rt = lineReader(secure);
    assert.match((await rt.next())!, /^TLS TLSv1\.[23]$/);
    secure.write('AFTER\r\n');
    assert.equal(await rt.next(), 'ECHO AFTER');
    assert.deepEqual(sessions[0]!.seen, ['LAZYTLS', 'AFTER']);
    secure.destroy();
  } finally {
    await listeners.close(1000);
  }
});

test('reload (SIGHUP): new connections get the new certificate, open ones keep working', async () => {
  const base = await mkdtemp(join(tmpdir(), 'yubin-net-reload-'));
  dirs.push(base);
  const a = await generateSelfSigned(join(base, 'a'), 'one.net.test');
  const b = await generateSelfSigned(join(base, 'b'), 'two.net.test');
  const cert = join(base, 'fullchain.pem');
  const key = join(base, 'privkey.pem');
  await copyFile(a.cert, cert);
  await copyFile(a.key, key);
  const none = { smtp: [], submission: [], submissions: [], imap: [], imaps: ['127.0.0.1:0'], pop3: [], pop3s: [] };
  const config = configSchema.parse({ hostname: 'mail.net.test', data_dir: base, listen: none, tls: { cert, key } });
  const provider = await createTlsProvider(config, silentLogger());
  const listeners = await startListeners({ config, logger: silentLogger(), tls: provider, factories: { imaps: (t) => new LineSession(t) } });
  try {
    const addr = listeners.addresses.imaps[0]!;
    const first = await connectTls(addr);
    const r1 = lineReader(first);
    assert.match((await r1.next())!, /^HELLO imaps/);
    assert.equal(first.getPeerCertificate().subject.CN, 'one.net.test');
    await copyFile(b.cert, cert);
    await copyFile(b.key, key);
    await provider.reload();
    const second = await connectTls(addr);
    assert.equal(second.getPeerCertificate().subject.CN, 'two.net.test');
    first.write('still here\r\n');
    assert.equal(await r1.next(), 'ECHO still here');
    first.destroy();
    second.destroy();
  } finally {
    await listeners.close(1000);
  }
});

test('SNI: a managed RSA certificate is presented for its name though the fallback is ECDSA (implicit TLS and STARTTLS); no name gets the fallback', async () => {
  // Node's SNICallback adds the chosen certificate to those of the socket's first context, and
  // OpenSSL then presents the first context's ECDSA one: the listener reads the ClientHello first
  const dir = await mkdtemp(join(tmpdir(), 'yubin-net-sni-'));
  dirs.push(dir);
  const none = { smtp: [], submission: [], submissions: [], imap: ['127.0.0.1:0'], imaps: ['127.0.0.1:0'], pop3: [], pop3s: [] };
  const config = configSchema.parse({ hostname: 'mail.net.test', data_dir: dir, listen: none });
  const provider = await createTlsProvider(config, silentLogger());
  const { generate } = await import('selfsigned');
  const rsa = await generate([{ name: 'commonName', value: 'other.net.test' }], {
    keyType: 'rsa',
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'other.net.test' }] }],
  });
  provider.setManaged('other', { cert: rsa.cert, key: rsa.private });
  const listeners = await startListeners({ config, logger: silentLogger(), tls: provider, factories: { imap: (t) => new LineSession(t), imaps: (t) => new LineSession(t) } });
  try {
    const implicit = async (servername?: string) => {
      const s = await connectTls(listeners.addresses.imaps[0]!, { servername });
      const c = s.getPeerX509Certificate()!;
      s.destroy();
      return { cn: c.subject.replace(/^CN=/, '').trim(), type: c.publicKey.asymmetricKeyType };
    };
    assert.deepEqual(await implicit('other.net.test'), { cn: 'other.net.test', type: 'rsa' });
    assert.deepEqual(await implicit('mail.net.test'), { cn: 'mail.net.test', type: 'ec' });
    assert.deepEqual(await implicit(''), { cn: 'mail.net.test', type: 'ec' });
    assert.deepEqual(await implicit('other.net.test'), { cn: 'other.net.test', type: 'rsa' });
    const plain = await connectPlain(listeners.addresses.imap[0]!);
    const r = lineReader(plain);
    assert.equal(await r.next(), 'HELLO imap plain');
    plain.write('STARTTLS\r\n');
    assert.equal(await r.next(), 'GO');
    r.detach();
    const secure = await tlsHandshake({ socket: plain, servername: 'other.net.test' });
    assert.equal(secure.getPeerX509Certificate()!.subject.replace(/^CN=/, '').trim(), 'other.net.test');
    secure.destroy();
  } finally {
    await listeners.close(1000);
  }
});

test('STARTTLS: what the session writes while the ClientHello is awaited goes into TLS, never out in plaintext', async () => {
  const { listeners } = await start({ listen: { imap: ['127.0.0.1:0'] } });
  try {
    const s = await connectPlain(listeners.addresses.imap[0]!);
    const r = lineReader(s);
    assert.equal(await r.next(), 'HELLO imap plain');
    s.write('NOTETLS\r\n');
    assert.equal(await r.next(), 'GO');
    r.detach();
    const secure = await tlsHandshake({ socket: s, servername: 'mail.net.test' });
    assert.equal(await lineReader(secure).next(), 'EARLY');
    secure.destroy();
  } finally {
    await listeners.close(1000);
  }
});

test('TLS: a record header announcing more than 2^14 octets, or an end before the ClientHello is whole, ends the wait at once, not at the handshake time limit', async () => {
  const { listeners, sessions } = await start({ listen: { imaps: ['127.0.0.1:0'] }, limits: { tls_handshake_timeout: '60s' } });
  try {
    for (const send of [Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01]), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01])]) {
      const s = await connectPlain(listeners.addresses.imaps[0]!);
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      s.on('error', () => undefined);
      s.resume(); // read (and drop) the alert, to see the end
      s.write(send);
      // the second announces 64 octets and sends one, then half-closes
      if (send[4] === 0x40) s.end();
      await until(() => s.destroyed || s.readableEnded, 10_000);
      s.destroy();
      await closed;
    }
    assert.equal(sessions.length, 0);
  } finally {
    await listeners.close(1000);
  }
});

test('TLS handshake timeout: a client that never says hello is closed, no session is made', async () => {
  const { listeners, sessions } = await start({ listen: { imaps: ['127.0.0.1:0'] }, limits: { tls_handshake_timeout: '200ms' } });
  try {
    const s = await connectPlain(listeners.addresses.imaps[0]!);
    const t0 = Date.now();
    assert.equal(await lineReader(s).next(), null);
    const took = Date.now() - t0;
    assert.ok(took >= 150 && took < 3000, `closed after ${took} ms`);
    assert.equal(sessions.length, 0);
    await until(() => listeners.connections() === 0);
  } finally {
    await listeners.close(1000);
  }
});

test('limits on an implicit-TLS listener: the extra connection is closed before any handshake', async () => {
  const { listeners, sessions } = await start({ listen: { submissions: ['127.0.0.1:0'] }, limits: { max_connections_per_ip: 1 } });
  try {
    const a = await connectTls(listeners.addresses.submissions[0]!);
    assert.match((await lineReader(a).next())!, /^HELLO submissions/);
    await assert.rejects(connectTls(listeners.addresses.submissions[0]!));
    assert.equal(sessions.length, 1);
    a.destroy();
  } finally {
    await listeners.close(1000);
  }
});

test('backpressure: write() reports a slow peer and drain() resolves as it reads (TLS)', async () => {
  const { listeners } = await start({ listen: { imaps: ['127.0.0.1:0'] } });
  try {
    const s = await connectTls(listeners.addresses.imaps[0]!);
    const r = lineReader(s);
    assert.match((await r.next())!, /^HELLO imaps/);
    s.write('BIG\r\n');
    const big = (await r.next())!;
    assert.equal(big.length, 32 * 65536);
    assert.equal(await r.next(), 'BIG DONE waited');
    s.destroy();
  } finally {
    await listeners.close(1000);
  }
});
