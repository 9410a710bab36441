// POP3 download benchmark: RETR of 1,000 messages of 20 KB each, in MB/s, for Yubin and, in the
// same run and with the same messages and the same client, Debian's Dovecot POP3 (dovecot-pop3d
// on a loopback port with a temporary configuration and a maildir). Plain TCP on 127.0.0.1 for
// both, so the figure is the POP3 engine and its store, not TLS.
//
//   npm run bench -- pop3            (with the other benchmarks' runner)
//   node --import tsx bench/pop3.ts  (standalone)
//
// Yubin runs as a user runs it (`yubin serve` in its own process, through the test harness);
// the messages are written into its store before it starts. The client is one raw POP3
// connection that sends RETR n and reads the whole response before the next, as a mail client does.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startYubin } from '../test/helpers/server.js';
import { dovecotConfigHead } from '../test/helpers/dovecot.js';
import { openStore } from '../src/store/index.js';
import { rebuildIndex } from '../src/search/indexer.js';
import { fillStore, freePort, cpuProfileArgs, ensureBuilt, launchDovecot } from './common.js';

const COUNT = 1000;
const SIZE = 20 * 1024;
const ROUNDS = Math.max(1, Number(process.env.BENCH_POP3_ROUNDS ?? 7));
/** Unmeasured rounds first: Node's JIT and Dovecot's index both warm up on the first downloads. */
const WARMUP = 2;

/** A 20 KB message of 78-octet text lines with CRLF ends (a few start with "." to exercise stuffing). */
export function makeMessage(i: number, size = SIZE): Buffer {
  const head = `From: sender${i}@example.net\r\nTo: bench@example.test\r\nSubject: benchmark message ${i}\r\nMessage-ID: <bench-${i}@example.net>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n`;
  let body = '';
  let n = 0;
  while (head.length + body.length + 78 <= size) {
    const text = `${n % 40 === 7 ? '.' : ''}line ${n} of message ${i}: the quick brown fox jumps over the lazy dog`;
    body += text.padEnd(76, ' x').slice(0, 76) + '\r\n';
    n++;
  }
  const rest = size - head.length - body.length;
  if (rest >= 2) body += 'z'.repeat(rest - 2) + '\r\n';
  return Buffer.from(head + body, 'latin1');
}

/** One POP3 connection; resolves replies and multi-line responses by watching the byte stream. */
class RawPop3 {
  private chunks: Buffer[] = [];
  private len = 0;
  private tail = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.len += d.length;
      this.tail = Buffer.concat([this.tail, d.subarray(Math.max(0, d.length - 5))]).subarray(-5);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
    // Nothing in this benchmark may hang: a silent server fails the run.
    socket.setTimeout(60_000, () => socket.destroy());
  }

  static connect(port: number): Promise<RawPop3> {
    return new Promise((res, rej) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => res(new RawPop3(s)));
      s.once('error', rej);
    });
  }

  private async until(done: () => boolean): Promise<Buffer> {
    while (!done()) {
      if (this.closed) throw new Error(`connection closed; got ${Buffer.concat(this.chunks).toString('latin1').slice(0, 200)}`);
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = null;
    }
    const all = Buffer.concat(this.chunks);
    this.chunks = [];
    this.len = 0;
    this.tail = Buffer.alloc(0);
    return all;
  }

  async line(cmd?: string): Promise<string> {
    if (cmd !== undefined) this.socket.write(cmd + '\r\n');
    const r = (await this.until(() => this.tail.length >= 2 && this.tail[this.tail.length - 2] === 13 && this.tail[this.tail.length - 1] === 10)).toString('latin1');
    if (!r.startsWith('+OK')) throw new Error(`${cmd}: ${r}`);
    return r;
  }

  /** Sends a command with a multi-line answer; returns the octets received. */
  async multi(cmd: string): Promise<Buffer> {
    this.socket.write(cmd + '\r\n');
    const r = await this.until(() => this.len >= 5 && this.tail.toString('latin1') === '\r\n.\r\n');
    if (r[0] !== 0x2b) throw new Error(`${cmd}: ${r.toString('latin1', 0, 100)}`);
    return r;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Logs in, RETRs every message, QUITs; MB/s of message octets (LIST sizes) over the RETR phase. */
async function downloadAll(port: number, user: string, password: string, messages: Buffer[]): Promise<{ mbps: number; seconds: number; octets: number }> {
  const c = await RawPop3.connect(port);
  await c.line();
  await c.line(`USER ${user}`);
  await c.line(`PASS ${password}`);
  const stat = await c.line('STAT');
  const [, count, octets] = /^\+OK (\d+) (\d+)/.exec(stat)!.map(Number) as [number, number, number];
  if (count !== COUNT) throw new Error(`expected ${COUNT} messages, STAT says ${stat.trim()}`);
  const start = process.hrtime.bigint();
  let wire = 0;
  for (let i = 1; i <= count; i++) {
    const r = await c.multi(`RETR ${i}`);
    wire += r.length;
    if (i === 1) {
      // Check one message byte for byte (Dovecot numbers a maildir in its own order: find it by subject).
      const body = r.subarray(r.indexOf('\r\n') + 2, r.length - 3).toString('latin1').replace(/(^|\r\n)\./g, '$1');
      const n = Number(/^Subject: benchmark message (\d+)\r$/m.exec(body)?.[1]);
      if (body !== messages[n - 1]?.toString('latin1')) throw new Error(`RETR 1 on port ${port} did not return a message byte for byte`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await c.line('QUIT');
  c.close();
  if (wire < octets) throw new Error(`received ${wire} octets, fewer than the ${octets} STAT reported`);
  return { mbps: octets / 1e6 / seconds, seconds, octets };
}

/** Dovecot with a throw-away configuration: POP3 only, static passdb/userdb, one maildir. */
async function startDovecot(dir: string, messages: Buffer[]): Promise<{ port: number; stop(): Promise<void> }> {
  const dovecot = ['/usr/sbin/dovecot', '/usr/bin/dovecot'].find((p) => existsSync(p));
  if (!dovecot || !existsSync('/usr/lib/dovecot/pop3')) throw new Error('dovecot-pop3d is not installed (apt-get install dovecot-pop3d)');
  const home = join(dir, 'home');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(home, 'Maildir', sub), { recursive: true });
  const t = Math.floor(Date.now() / 1000);
  messages.forEach((m, i) => writeFileSync(join(home, 'Maildir', 'cur', `${t}.M${i}P1.bench,S=${m.length}:2,`), m));
  // Dovecot refuses to serve mail as root; the mail user is "nobody".
  spawnSync('chown', ['-R', 'nobody:nogroup', home]);
  chmodSync(dir, 0o755);
  const port = await freePort();
  const conf = join(dir, 'dovecot.conf');
  writeFileSync(
    conf,
    `${dovecotConfigHead({ dir, protocols: 'pop3', home, password: 'benchpw' })}service pop3-login {
  inet_listener pop3 {
    port = ${port}
  }
  inet_listener pop3s {
    port = 0
  }
}
`,
  );
  const d = await launchDovecot({ argv: [dovecot, '-c', conf], pidFile: join(dir, 'run', 'master.pid'), port });
  return { port, stop: d.stop };
}

/** Yubin: the store filled before `yubin serve` starts on the same directory. */
async function startYubinWith(dir: string, messages: Buffer[]): Promise<{ port: number; stop(): Promise<void> }> {
  await fillStore(join(dir, 'data'), { address: 'bench@example.test', password: 'benchpw', messages });
  // The full-text index built first, as `yubin index rebuild` does (else the server indexes the
  // new messages in the background while the download is timed; Dovecot here has no index at all).
  const store = await openStore(join(dir, 'data'));
  try {
    await rebuildIndex(store, store.textIndex!);
  } finally {
    await store.close();
  }
  // The compiled server, as `npm start` runs it.
  ensureBuilt();
  const inst = await startYubin({ dir, compiled: { nodeArgs: cpuProfileArgs() }, config: { auth: { allow_plaintext: true } } });
  return { port: inst.port('pop3'), stop: async () => void (await inst.destroy()) };
}

export async function benchPop3(): Promise<{ yubinMBps: number; dovecotMBps: number | null; ratio: number | null }> {
  const messages = Array.from({ length: COUNT }, (_, i) => makeMessage(i + 1));
  const total = messages.reduce((a, m) => a + m.length, 0);
  console.log(`POP3 download: RETR of ${COUNT} messages of ${SIZE / 1024} KB (${(total / 1e6).toFixed(1)} MB), one connection, plain TCP; best of ${ROUNDS} rounds after ${WARMUP} warm-up rounds`);
  const root = mkdtempSync(join(tmpdir(), 'yubin-bench-pop3-'));
  // Dovecot's maildir lives here and its mail user is "nobody": it must be able to reach it.
  chmodSync(root, 0o755);
  let yubin: { port: number; stop(): Promise<void> } | null = null;
  let dove: { port: number; stop(): Promise<void> } | null = null;
  try {
    yubin = await startYubinWith(join(root, 'yubin'), messages);
    let dovecotError: string | null = null;
    try {
      mkdirSync(join(root, 'dovecot'));
      dove = await startDovecot(join(root, 'dovecot'), messages);
    } catch (err) {
      dovecotError = (err as Error).message;
    }
    for (let round = 0; round < WARMUP; round++) {
      await downloadAll(yubin.port, 'bench@example.test', 'benchpw', messages);
      if (dove) await downloadAll(dove.port, 'bench', 'benchpw', messages);
    }
    const best = { yubin: 0, dovecot: 0 };
    const all: { yubin: number[]; dovecot: number[] } = { yubin: [], dovecot: [] };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so neither always runs on a warmer machine.
      const order = round % 2 === 0 ? (['yubin', 'dovecot'] as const) : (['dovecot', 'yubin'] as const);
      for (const who of order) {
        if (who === 'yubin') {
          const r = await downloadAll(yubin.port, 'bench@example.test', 'benchpw', messages);
          best.yubin = Math.max(best.yubin, r.mbps);
          all.yubin.push(r.mbps);
        } else if (dove) {
          const r = await downloadAll(dove.port, 'bench', 'benchpw', messages);
          best.dovecot = Math.max(best.dovecot, r.mbps);
          all.dovecot.push(r.mbps);
        }
      }
    }
    const median = (xs: number[]): number => {
      const v = [...xs].sort((a, b) => a - b);
      return v.length ? (v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2) : 0;
    };
    console.log(`  every round (MB/s): yubin ${all.yubin.map((x) => x.toFixed(0)).join(', ')}; dovecot ${all.dovecot.map((x) => x.toFixed(0)).join(', ') || '-'}`);
    if (dove) console.log(`  medians: yubin ${median(all.yubin).toFixed(1)} MB/s, dovecot ${median(all.dovecot).toFixed(1)} MB/s, ratio ${(median(all.yubin) / median(all.dovecot)).toFixed(2)} (the figure below is the best round of each)`);
    console.log(`  yubin    ${best.yubin.toFixed(1).padStart(7)} MB/s`);
    if (dove) {
      const ratio = best.yubin / best.dovecot;
      console.log(`  dovecot  ${best.dovecot.toFixed(1).padStart(7)} MB/s   (Debian dovecot-pop3d ${dovecotVersion()})`);
      console.log(`  ratio    ${ratio.toFixed(2)} (yubin / dovecot)`);
      return { yubinMBps: best.yubin, dovecotMBps: best.dovecot, ratio };
    }
    console.log(`  dovecot  not measured: ${dovecotError}`);
    return { yubinMBps: best.yubin, dovecotMBps: null, ratio: null };
  } finally {
    await dove?.stop();
    await yubin?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

function dovecotVersion(): string {
  try {
    return execFileSync('dovecot', ['--version'], { encoding: 'utf8' }).trim().split(' ')[0]!;
  } catch {
    return '?';
  }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  benchPop3().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
