// Shared by the outbound tests and bench/relay.ts: a scripted remote SMTP server, Postfix's
// smtp-sink as a peer we did not write, and small waiting helpers.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, chmodSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QueuedMessage, QueuedRecipient } from '../../src/queue/index.js';
import { until as untilReady, type NotYet } from '../helpers/until.js';

/** A remote SMTP server on 127.0.0.1 whose replies the test scripts. */
export class ScriptedRemote {
  private server: Server;
  private sockets = new Set<Socket>();
  port = 0;
  /** RCPT reply by address (default 250). */
  rcpt = new Map<string, string>();
  /** Reply after the data (default 250); null: never answer (a hanging server). */
  dataReply: string | null = '250 2.0.0 ok';
  /** Reply to STARTTLS ("220 ..." makes the client start a handshake this server cannot finish). */
  startTlsReply = '454 4.7.0 TLS not available';
  /** EHLO keywords. */
  ehlo = ['PIPELINING', '8BITMIME', 'DSN'];
  /** Every command line received, in order. */
  commands: string[] = [];
  /** Every message received (un-dot-stuffed, CRLF), whether answered or not. */
  messages: string[] = [];
  /** Messages answered with 2xx. */
  accepted = 0;
  /** Called when a final dot arrives. */
  onDot: (() => void) | null = null;
  connections = 0;

  constructor() {
    this.server = createServer((s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      let buf = ''; // latin1: one character per octet, so BDAT sizes count right
      let data: string[] | null = null;
      let bdatLeft = 0;
      let bdatLast = false;
      let chunks = '';
      const utf8 = (x: string) => Buffer.from(x, 'latin1').toString('utf8');
      const finish = (message: string): void => {
        this.messages.push(message);
        this.onDot?.();
        if (this.dataReply) {
          if (this.dataReply.startsWith('2')) this.accepted++;
          s.write(this.dataReply + '\r\n');
        }
      };
      s.write('220 remote.test ESMTP\r\n');
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (;;) {
          if (bdatLeft > 0) {
            const take = Math.min(bdatLeft, buf.length);
            if (!take) return;
            chunks += buf.slice(0, take);
            buf = buf.slice(take);
            bdatLeft -= take;
            if (bdatLeft > 0) return;
            if (bdatLast) finish(utf8(chunks));
            else s.write('250 2.0.0 chunk ok\r\n');
            continue;
          }
          const i = buf.indexOf('\r\n');
          if (i < 0) return;
          const line = utf8(buf.slice(0, i));
          buf = buf.slice(i + 2);
          if (data) {
            if (line !== '.') {
              data.push(line.startsWith('.') ? line.slice(1) : line);
              continue;
            }
            const message = data.join('\r\n');
            data = null;
            finish(message);
            continue;
          }
          this.commands.push(line);
          const verb = line.split(/[ :]/)[0]!.toUpperCase();
          if (verb === 'EHLO') {
            const lines = ['remote.test', ...this.ehlo];
            s.write(lines.map((l, k) => (k === lines.length - 1 ? '250 ' : '250-') + l).join('\r\n') + '\r\n');
          } else if (verb === 'RCPT') {
            const addr = /<([^>]*)>/.exec(line)?.[1] ?? '';
            s.write((this.rcpt.get(addr) ?? '250 2.1.5 ok') + '\r\n');
          } else if (verb === 'STARTTLS') {
            s.write(this.startTlsReply + '\r\n');
          } else if (verb === 'BDAT') {
            // RFC 3030 §2: BDAT size [LAST], then exactly that many octets
            const m = /^BDAT (\d+)( LAST)?$/i.exec(line)!;
            if (!chunks || bdatLast) chunks = '';
            bdatLeft = Number(m[1]);
            bdatLast = !!m[2];
            if (bdatLeft === 0 && bdatLast) finish(utf8(chunks));
          } else if (verb === 'DATA') {
            data = [];
            s.write('354 go ahead\r\n');
          } else if (verb === 'QUIT') s.end('221 bye\r\n');
          else s.write('250 ok\r\n');
        }
      });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Resolves at the next final dot. */
  nextDot(): Promise<void> {
    return new Promise<void>((r) => (this.onDot = r));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export function haveSmtpSink(): boolean {
  try {
    execFileSync('which', ['smtp-sink']);
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Resolves when something on 127.0.0.1:port sends its greeting. */
export async function waitForGreeting(port: number, what: string): Promise<void> {
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('data', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (i > 200) throw new Error(`${what} did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Sink {
  port: number;
  /** The dumped messages (smtp-sink's X- headers, then the message as received, un-stuffed). */
  messages(): string[];
  /**
   * How many messages smtp-sink has received: its counter (`counter`), else its dump files (the
   * last one possibly still arriving), listed, not read.
   */
  count(): number;
  stop(): Promise<void>;
}

/**
 * Postfix's smtp-sink on 127.0.0.1 with extra flags (e.g. ['-f', 'RCPT']); ready when it greets.
 * It dumps each message to a file (`messages()`), unless `dump` is false; `counter` has it count
 * the messages it received on its standard output instead (smtp-sink -c), for a benchmark: no
 * file per message, whose writing bounds the sink by the disk.
 */
export async function startSink(flags: string[] = [], opts: { dump?: boolean; counter?: boolean } = {}): Promise<Sink> {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-sink-'));
  chmodSync(dir, 0o777); // smtp-sink writes its dumps as the postfix user
  const port = await freePort();
  const dump = opts.dump === false || opts.counter ? [] : ['-d', join(dir, 'm.')];
  const child: ChildProcess = spawn('smtp-sink', ['-u', 'postfix', ...dump, ...(opts.counter ? ['-c'] : []), ...flags, `127.0.0.1:${port}`, '100'], {
    stdio: ['ignore', opts.counter ? 'pipe' : 'ignore', 'ignore'],
  });
  // -c prints "sess=N quit=N mesg=N" and a CR each time a message ends ("." received)
  let counted = 0;
  let tail = '';
  child.stdout?.setEncoding('latin1').on('data', (d: string) => {
    tail = (tail + d).slice(-200);
    const all = [...tail.matchAll(/mesg=(\d+)\r/g)];
    if (all.length) counted = Number(all[all.length - 1]![1]);
  });
  await waitForGreeting(port, 'smtp-sink');
  return {
    port,
    count: () => (opts.counter ? counted : readdirSync(dir).length),
    messages: () =>
      readdirSync(dir)
        .sort()
        .map((f) => readFileSync(join(dir, f), 'utf8')),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls fn every 20 ms until it returns something truthy, or fails after `ms`; an error fails it at once. */
export function until<T>(what: string, fn: () => NotYet<T> | Promise<NotYet<T>>, ms = 10_000): Promise<T> {
  return untilReady(what, fn, { timeoutMs: ms });
}

/** Waits until recipient `idx` of a queued message is deferred; returns it. */
export function untilDeferred(queue: { show(id: string): Promise<QueuedMessage> }, id: string, idx = 0): Promise<QueuedRecipient> {
  return until(`deferral of ${id}`, async () => {
    const r = (await queue.show(id)).recipients[idx]!;
    return r.state === 'deferred' ? r : null;
  });
}
