// The session core (line-session.ts) through a tiny echo protocol: lifecycle rules that every
// protocol inherits (timeouts, deadline, error budget, backpressure, half-close, shutdown,
// STARTTLS input drop, resource release).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../test/helpers/pipe.js';
import { Transcript } from '../../test/helpers/transcript.js';
import { silentLogger } from '../log/logger.js';
import { LineSession, type EndReason, type InputFramer } from './line-session.js';
import type { Transport } from './transport.js';

class Lines implements InputFramer {
  private buf = Buffer.alloc(0);
  get buffered(): number {
    return this.buf.length;
  }
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
  }
  clear(): void {
    this.buf = Buffer.alloc(0);
  }
  next(): string | null {
    const i = this.buf.indexOf('\r\n');
    if (i < 0) return null;
    const line = this.buf.subarray(0, i).toString();
    this.buf = this.buf.subarray(i + 2);
    return line;
  }
}

interface EchoOpts {
  idleMs?: number;
  deadlineMs?: number;
  budget?: number;
}

/** ECHO x → "ok x"; SLOW ms → answers after ms; BAD → "err" (counted); LOGIN; OPEN (holds a resource); TLS; QUIT. */
class Echo extends LineSession<Lines> {
  released: string[] = [];
  reasons: EndReason[] = [];
  gate: Promise<void> | null = null;

  constructor(
    transport: Transport,
    private readonly o: EchoOpts,
  ) {
    super(transport, new Lines(), silentLogger(), { highWater: 64, lowWater: 16 });
  }
  protected greet(): boolean {
    this.write('hello\r\n');
    this.startDeadline(this.o.deadlineMs ?? 0);
    return true;
  }
  protected idleTimeoutMs(): number {
    return this.o.idleMs ?? 0;
  }
  protected override errorBudget(): number {
    return this.o.budget ?? Infinity;
  }
  protected goodbye(reason: EndReason): string {
    this.reasons.push(reason);
    return `bye ${reason}\r\n`;
  }
  protected override onEnd(): void {
    this.released.push('session');
  }
  protected async step(): Promise<boolean> {
    const line = await this.take((f) => f.next());
    if (line === null) return false;
    const [verb, arg = ''] = line.split(' ');
    switch (verb) {
      case 'ECHO':
        this.write(`ok ${arg}\r\n`);
        break;
      case 'SLOW':
        await (this.gate ?? new Promise((r) => setTimeout(r, Number(arg))));
        this.write(`ok slow\r\n`);
        break;
      case 'BAD':
        this.write('err\r\n');
        this.countError();
        break;
      case 'LOGIN':
        this.clearDeadline();
        this.write('ok login\r\n');
        break;
      case 'OPEN':
        this.hold(() => {
          this.released.push(arg);
        });
        this.write('ok open\r\n');
        break;
      case 'TLS':
        this.write('ok tls\r\n');
        await this.upgradeTls();
        break;
      case 'UPPER':
        // A layer that upper-cases what the session writes and what it receives.
        this.write('ok upper\r\n');
        this.installLayer((inner, deliver) => ({
          transport: {
            listener: inner.listener,
            remoteAddress: inner.remoteAddress,
            remotePort: inner.remotePort,
            localAddress: inner.localAddress,
            localPort: inner.localPort,
            id: inner.id,
            tls: inner.tls,
            write: (d: string | Uint8Array) => inner.write(Buffer.from(d).toString().toUpperCase()),
            drain: () => inner.drain(),
            startTls: () => inner.startTls(),
            pause: () => inner.pause(),
            resume: () => inner.resume(),
            close: () => inner.close(),
          },
          ingest: (chunk) => deliver(Buffer.from(chunk.toString().toUpperCase())),
        }));
        break;
      case 'QUIT':
        this.write('ok bye\r\n');
        return false;
      default:
        this.write('unknown\r\n');
    }
    return true;
  }
}

test('installLayer: later writes go through the layer, later input through its ingest; input already received stays as it was', async () => {
  const { s, pipe, t } = connect();
  await t.expect(['hello']);
  // "ECHO b" was received before the layer: read as it came (its answer is written through the layer).
  t.sendRaw('UPPER\r\nECHO b\r\n');
  await t.expect(['ok upper', 'OK B']);
  t.sendRaw('echo c\r\n');
  await t.expect(['OK C']);
  assert.equal(s.transport === pipe, false);
  assert.equal(s.transport.id, pipe.id);
  // The goodbye goes through the layer too.
  t.sendRaw('quit\r\n');
  await t.expect(['OK BYE']);
  await t.expectClosed();
});

function connect(o: EchoOpts = {}): { s: Echo; pipe: PipeTransport; t: Transcript } {
  const pipe = new PipeTransport('imap');
  let s!: Echo;
  pipe.attach((tr) => (s = new Echo(tr, o)));
  return { s, pipe, t: new Transcript(pipe) };
}

test('commands run in order; QUIT closes', async () => {
  const { t } = connect();
  await t.expect(['hello']);
  t.sendRaw('ECHO a\r\nECHO b\r\nQUIT\r\nECHO c\r\n');
  await t.expect(['ok a', 'ok b', 'ok bye']);
  await t.expectClosed();
  t.expectQuiet();
});

test('idle timeout ends a silent client with the protocol goodbye, never a busy server', async () => {
  const { s, t } = connect({ idleMs: 60 });
  await t.expect(['hello']);
  // The server works for longer than the idle limit: that is not the client's silence.
  t.send('SLOW 150');
  await t.expect(['ok slow']);
  await t.expect(['bye idle-timeout']);
  await t.expectClosed();
  assert.deepEqual(s.reasons, ['idle-timeout']);
});

test('the login deadline counts from connect, whatever the client keeps sending', async () => {
  const { t } = connect({ deadlineMs: 150, idleMs: 10_000 });
  await t.expect(['hello']);
  const started = Date.now();
  for (;;) {
    t.send('ECHO x');
    const l = await t.line();
    if (l === 'bye deadline') break;
    assert.equal(l, 'ok x');
    assert.ok(Date.now() - started < 3000, 'the deadline did not end the session');
    await new Promise((r) => setTimeout(r, 20));
  }
  await t.expectClosed();
});

test('logging in stops the deadline', async () => {
  const { pipe, t } = connect({ deadlineMs: 80 });
  await t.expect(['hello']);
  t.send('LOGIN');
  await t.expect(['ok login']);
  t.send('SLOW 200');
  await t.expect(['ok slow']);
  assert.equal(pipe.closed, false);
  t.send('QUIT');
  await t.expect(['ok bye']);
});

test('the error budget ends the session', async () => {
  const { t } = connect({ budget: 3 });
  await t.expect(['hello']);
  t.sendRaw('BAD\r\nBAD\r\nBAD\r\nECHO never\r\n');
  await t.expect(['err', 'err', 'err', 'bye too-many-errors']);
  await t.expectClosed();
  t.expectQuiet();
});

test('half-close: what was sent before FIN is answered, then the session ends at once', async () => {
  const { s, pipe, t } = connect();
  await t.expect(['hello']);
  s.gate = new Promise((r) => setTimeout(r, 50));
  t.sendRaw('ECHO 1\r\nSLOW 0\r\nECHO 2\r\n');
  pipe.end();
  await t.expect(['ok 1', 'ok slow', 'ok 2']);
  await t.expectClosed(1000);
  assert.deepEqual(s.released, ['session']);
});

test('half-close while waiting for a command ends the session', async () => {
  const { pipe, t } = connect();
  await t.expect(['hello']);
  pipe.end();
  await t.expectClosed(1000);
  t.expectQuiet();
});

test('shutdown: a waiting session says goodbye at once; a busy one after its command', async () => {
  const a = connect();
  await a.t.expect(['hello']);
  await a.s.shutdown();
  await a.t.expect(['bye shutdown']);
  assert.equal(a.pipe.closed, true);

  const b = connect();
  await b.t.expect(['hello']);
  let open!: () => void;
  b.s.gate = new Promise((r) => (open = r));
  b.t.send('SLOW 0');
  await new Promise((r) => setImmediate(r));
  const done = b.s.shutdown();
  assert.equal(b.pipe.closed, false);
  open();
  await done;
  await b.t.expect(['ok slow', 'bye shutdown']);
});

test('backpressure: reading pauses above the high mark and resumes when drained', async () => {
  const { s, pipe, t } = connect();
  await t.expect(['hello']);
  let open!: () => void;
  s.gate = new Promise((r) => (open = r));
  t.send('SLOW 0');
  await new Promise((r) => setImmediate(r));
  t.sendRaw('ECHO ' + 'x'.repeat(100) + '\r\n');
  assert.equal(pipe.paused, true);
  open();
  await t.expect(['ok slow', 'ok ' + 'x'.repeat(100)]);
  assert.equal(pipe.paused, false);
});

test('STARTTLS drops what the client sent before the handshake', async () => {
  const { pipe, t } = connect();
  await t.expect(['hello']);
  t.sendRaw('TLS\r\nECHO injected\r\n');
  await t.expect(['ok tls']);
  assert.equal(pipe.tlsStarts, 1);
  t.send('ECHO after');
  await t.expect(['ok after']);
  t.expectQuiet();
});

test('held resources are released at the end of the session, however it ends', async () => {
  const { s, pipe, t } = connect();
  await t.expect(['hello']);
  t.send('OPEN one');
  await t.expect(['ok open']);
  assert.equal(s.heldCount, 1);
  pipe.close();
  await s.whenClosed;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(s.released.sort(), ['one', 'session']);
  assert.equal(s.heldCount, 0);
});

test('a resource held after the session ended is released at once', async () => {
  const { s, pipe, t } = connect();
  await t.expect(['hello']);
  pipe.close();
  await s.whenClosed;
  let released = false;
  s.hold(() => {
    released = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(released, true);
  assert.equal(s.heldCount, 0);
});

test('a write waiting for a client that never reads ends with the session', async () => {
  class Stuck extends PipeTransport {
    override write(data: string | Uint8Array): boolean {
      super.write(data);
      return false;
    }
    override drain(): Promise<void> {
      return new Promise(() => {});
    }
  }
  const pipe = new Stuck('imap');
  let s!: Echo;
  pipe.attach((tr) => (s = new Echo(tr, {})));
  let settled = false;
  const w = s.writeAndDrain('big\r\n').then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false);
  pipe.close();
  await w;
  assert.equal(settled, true);
});
