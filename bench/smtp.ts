// SMTP ingest benchmark: 4 KB messages over 10 and 50 concurrent connections to one local
// recipient, in messages per second accepted (250) and durably stored, beside Postfix's
// smtp-sink (the protocol ceiling: it acknowledges without writing anything) driven by the same
// load generator, Postfix's smtp-source, with the same arguments, in the same run.
//
//   npm run bench -- smtp            (with the other benchmarks' runner)
//   node --import tsx bench/smtp.ts  (standalone)
//
// Yubin runs as a user runs it (`yubin serve` in its own process, through the test harness) on
// the inbound `smtp` listener, plain TCP on 127.0.0.1, with the sender checks off ([checks]
// enabled = false: SPF/DKIM/DMARC would measure DNS, not the SMTP engine and the store).
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { openStore } from '../src/store/index.js';
import { startYubin } from '../test/helpers/server.js';
import { freePort } from './common.js';

const MESSAGE_BYTES = 4096;
const PER_CONNECTION = 40;
const CONCURRENCY = [10, 50];

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** smtp-source and smtp-sink come with Debian's postfix package. */
function ensurePostfixTools(): void {
  if (which('smtp-source') && which('smtp-sink')) return;
  console.log('installing postfix (for smtp-source and smtp-sink)...');
  const r = spawnSync('sh', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y postfix'], { stdio: 'inherit' });
  if (r.status !== 0 || !which('smtp-source')) throw new Error('smtp-source/smtp-sink not available (apt-get install postfix failed)');
}

/** Runs smtp-source; resolves with the wall time in seconds. Fails unless every message got a 2xx. */
function source(port: number, sessions: number, messages: number, to: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('smtp-source', ['-s', String(sessions), '-m', String(messages), '-l', String(MESSAGE_BYTES), '-d', '-M', 'client.example.net', '-f', 'sender@example.net', '-t', to, `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      if (code !== 0) reject(new Error(`smtp-source exited ${code}: ${err.trim()}`));
      else resolve(secs);
    });
  });
}

async function startSink(port: number): Promise<() => Promise<void>> {
  const child = spawn('smtp-sink', ['-u', 'nobody', `127.0.0.1:${port}`, '1024'], { stdio: 'ignore' });
  // Ready when it accepts a connection.
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return () =>
    new Promise<void>((resolve) => {
      child.on('close', () => resolve());
      child.kill('SIGTERM');
    });
}

export interface SmtpBenchResult {
  concurrency: number;
  messages: number;
  yubinPerSecond: number;
  sinkPerSecond: number;
  ratio: number;
}

export async function benchSmtp(): Promise<SmtpBenchResult[]> {
  ensurePostfixTools();
  const inst = await startYubin({
    domains: ['bench.test'],
    users: [{ address: 'bench@bench.test', password: 'bench-password' }],
    // 50 concurrent connections come from 127.0.0.1, the default per-IP limit: leave headroom
    // (smtp-source reconnects while a closing session still counts).
    config: { checks: { enabled: false }, limits: { max_connections_per_ip: 200 } },
  });
  const results: SmtpBenchResult[] = [];
  let stored = 0;
  try {
    const sinkPort = await freePort();
    const stopSink = await startSink(sinkPort);
    try {
      for (const c of CONCURRENCY) {
        const n = c * PER_CONNECTION;
        // Warm-up (JIT, first database pages), not counted.
        await source(inst.port('smtp'), c, c, 'bench@bench.test');
        stored += c;
        const ySecs = await source(inst.port('smtp'), c, n, 'bench@bench.test');
        stored += n;
        await source(sinkPort, c, c, 'bench@bench.test');
        const sSecs = await source(sinkPort, c, n, 'bench@bench.test');
        const r = { concurrency: c, messages: n, yubinPerSecond: n / ySecs, sinkPerSecond: n / sSecs, ratio: sSecs / ySecs };
        results.push(r);
        console.log(
          `smtp ingest, ${MESSAGE_BYTES} B messages, ${c} connections, ${n} messages: Yubin ${r.yubinPerSecond.toFixed(0)} msg/s (accepted and stored), smtp-sink ${r.sinkPerSecond.toFixed(0)} msg/s, ratio ${(r.ratio * 100).toFixed(1)}% of smtp-sink`,
        );
      }
    } finally {
      await stopSink();
    }
    // Every 250 means a stored message: count them in the store.
    const store = await openStore(inst.dataDir);
    try {
      const acc = (await store.getAccount('bench@bench.test'))!;
      const box = (await store.getMailbox(acc.id, 'INBOX'))!;
      const status = await store.mailboxStatus(box.id);
      if (status.messages !== stored) throw new Error(`expected ${stored} stored messages, found ${status.messages}`);
      console.log(`smtp ingest: all ${stored} acknowledged messages are in the store`);
    } finally {
      await store.close();
    }
  } finally {
    await inst.destroy();
  }
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchSmtp().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
