// SMTP ingest benchmark: 4 KB messages to one local recipient over 10 and 50 concurrent
// connections, one message per connection (how the internet delivers: smtp-source without -d),
// in messages per second accepted (250) and durably stored. Rows, each in the same run:
//  - Yubin as a new user runs it: the default configuration, checks on (SPF for MAIL FROM and
//    HELO, DKIM, DMARC, the spam score), asking a DNS server on loopback that answers the
//    sender's SPF and DMARC records as the internet would (test/helpers/dns-server.ts);
//  - Yubin engine-only: [checks] enabled = false (the SMTP engine and the store alone);
//  - Debian's Postfix, a private instance on loopback delivering to a maildir (bench/postfix.ts):
//    the peer every Yubin figure is divided by;
//  - Postfix's smtp-sink: the protocol ceiling (acknowledges without writing anything).
// Then 1,000 concurrent SMTP sessions held in DATA, with the server process's RSS (the compiled
// server, dist/, when it is built: what users run).
// The load generator is Postfix's smtp-source with the same arguments for every row.
//
//   npm run bench -- smtp            (with the other benchmarks' runner)
//   node --import tsx bench/smtp.ts  (standalone)
//   SMTP_MESSAGES=N                  messages per row (default 6,000)
//   SMTP_WARMUP=N                    untimed messages before each row, for every server alike
//                                    (default 2,000)
//                                    Both servers are measured as they run for hours: at 300 + 2,000
//                                    Postfix's figure moved between 598 and 1,158 msg/s from run to
//                                    run (10 connections) and Yubin's was still rising (profile-smtp:
//                                    845 msg/s over 2,000 messages, 934 over 6,000, 1,000+ over 8,000);
//                                    at 2,000 + 6,000 a row lasts 5-6 s (docs/smtp.md, sixth pass).
//   SMTP_REUSE=1                     also the old engine figure with connection reuse (-d)
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../src/store/index.js';
import { startYubin, type YubinInstance } from '../test/helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../test/helpers/dns-server.js';
import { ensureBuilt, freePort } from './common.js';
import { havePostfix, startPostfix } from './postfix.js';

const MESSAGE_BYTES = 4096;
const CONCURRENCY = [10, 50];
const MESSAGES = Number(process.env.SMTP_MESSAGES ?? 6000);
const WARMUP = Number(process.env.SMTP_WARMUP ?? 2000);
const DATA_SESSIONS = Number(process.env.SMTP_DATA_SESSIONS ?? 1000);
const SENDER = 'sender@example.net';
const HELO = 'client.example.net';
const RCPT = 'bench@bench.test';

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

/**
 * Runs smtp-source; resolves with the wall time in seconds. Fails unless every message got a
 * 2xx. reuse: several messages per connection (-d); otherwise one message per connection.
 */
export function source(port: number, sessions: number, messages: number, to: string, reuse = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const args = ['-s', String(sessions), '-m', String(messages), '-l', String(MESSAGE_BYTES), ...(reuse ? ['-d'] : []), '-M', HELO, '-f', SENDER, '-t', to, `127.0.0.1:${port}`];
    const child = spawn('smtp-source', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      if (code !== 0 || err.trim()) reject(new Error(`smtp-source exited ${code}: ${err.trim()}`));
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

/**
 * The DNS the checks see, as the internet would answer for the bench's sender: SPF for the MAIL
 * FROM domain and the HELO name (pass for 127.0.0.1), a DMARC record (p=none), no DKIM keys (the
 * messages are unsigned).
 */
export async function senderDns(): Promise<TestDnsServer> {
  const dns = await startDnsServer();
  dns.setRecords('example.net', 'TXT', ['v=spf1 ip4:127.0.0.1 -all']);
  dns.setRecords('example.net', 'MX', ['10 mx.example.net']);
  dns.setRecords('mx.example.net', 'A', ['127.0.0.1']);
  dns.setRecords('client.example.net', 'TXT', ['v=spf1 a -all']);
  dns.setRecords('client.example.net', 'A', ['127.0.0.1']);
  dns.setRecords('_dmarc.example.net', 'TXT', ['v=DMARC1; p=none; rua=mailto:dmarc@example.net']);
  return dns;
}

/** The server process's resident set (VmRSS), in MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Reads one SMTP reply (all its lines); resolves with its code. */
function replyReader(sock: net.Socket): () => Promise<number> {
  let buf = '';
  const waiting: Array<(code: number) => void> = [];
  const codes: number[] = [];
  sock.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (line[3] === '-') continue;
      const code = Number(line.slice(0, 3));
      const w = waiting.shift();
      if (w) w(code);
      else codes.push(code);
    }
  });
  return () => new Promise((resolve) => (codes.length ? resolve(codes.shift()!) : waiting.push(resolve)));
}

/**
 * Opens `n` sessions and takes each into DATA with half of a 4 KB message sent; measures the
 * server's RSS while all are there; then ends every message and checks each got its 250.
 */
export async function sessionsInData(server: { pid: number; port: number }, n: number): Promise<{ idle: number; inData: number; accepted: number; secs: number }> {
  const pid = server.pid;
  const idle = rssMiB(pid);
  const half = Buffer.from(`From: <${SENDER}>\r\nTo: <${RCPT}>\r\nSubject: held in DATA\r\n\r\n` + 'x'.repeat(76).concat('\r\n').repeat(25));
  const sockets: Array<{ sock: net.Socket; next: () => Promise<number> }> = [];
  const t0 = process.hrtime.bigint();
  const open = async (): Promise<void> => {
    const sock = net.connect(server.port, '127.0.0.1');
    const next = replyReader(sock);
    sock.on('error', () => undefined);
    const expect = async (want: number, what: string) => {
      const code = await next();
      if (code !== want) throw new Error(`${what}: ${code}, expected ${want}`);
    };
    await expect(220, 'greeting');
    sock.write(`EHLO ${HELO}\r\n`);
    await expect(250, 'EHLO');
    // RFC 2920: MAIL, RCPT and DATA in one group
    sock.write(`MAIL FROM:<${SENDER}>\r\nRCPT TO:<${RCPT}>\r\nDATA\r\n`);
    await expect(250, 'MAIL');
    await expect(250, 'RCPT');
    await expect(354, 'DATA');
    sock.write(half);
    sockets.push({ sock, next });
  };
  for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, open));
  // let the server read what was sent
  await new Promise((r) => setTimeout(r, 500));
  const inData = rssMiB(pid);
  const results = await Promise.all(
    sockets.map(async ({ sock, next }) => {
      sock.write('\r\n.\r\nQUIT\r\n');
      const code = await next();
      sock.end();
      return code === 250;
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return { idle, inData, accepted: results.filter(Boolean).length, secs };
}

async function storedCount(y: YubinInstance): Promise<number> {
  const store = await openStore(y.dataDir);
  try {
    const acc = (await store.getAccount(RCPT))!;
    const box = (await store.getMailbox(acc.id, 'INBOX'))!;
    const junk = await store.getMailbox(acc.id, 'Junk');
    return (await store.mailboxStatus(box.id)).messages + (junk ? (await store.mailboxStatus(junk.id)).messages : 0);
  } finally {
    await store.close();
  }
}

export interface SmtpBenchRow {
  concurrency: number;
  messages: number;
  yubin: number;
  engine: number;
  postfix: number | null;
  postfixDelivered: number | null;
  sink: number;
}

const rate = (n: number, secs: number) => n / secs;
/** Untimed messages before a row (at least one per connection). */
const warmup = (r: SmtpBenchRow) => Math.max(WARMUP, r.concurrency);
const fmt = (v: number | null) => (v === null ? '     -' : v.toFixed(0).padStart(6));
const ratio = (a: number, b: number | null) => (b ? `${(a / b).toFixed(2)}×` : '-');

export async function benchSmtp(): Promise<SmtpBenchRow[]> {
  ensurePostfixTools();
  // Every row runs the compiled server, as `npm start` does.
  ensureBuilt();
  const dns = await senderDns();
  const root = mkdtempSync(join(tmpdir(), 'yubin-bench-smtp-'));
  chmodSync(root, 0o755); // Postfix's processes (user postfix) reach their queue through it
  const rows: SmtpBenchRow[] = CONCURRENCY.map((c) => ({ concurrency: c, messages: Math.max(MESSAGES, c * 4), yubin: 0, engine: 0, postfix: null, postfixDelivered: null, sink: 0 }));
  const base = { domains: ['bench.test'], users: [{ address: RCPT, password: 'bench-password' }] };
  // Every load comes from 127.0.0.1, and smtp-source opens a new connection while the last one
  // of the same slot may still be closing: the per-IP limit (default 50) gets headroom; the
  // 1,000-session row needs 1,000 from one address.
  const limits = { max_connections_per_ip: DATA_SESSIONS + 100 };
  let dataFigures: Awaited<ReturnType<typeof sessionsInData>> | null = null;
  try {
    // 1. Yubin, default configuration (checks on), DNS answering as the internet would.
    {
      const y = await startYubin({ ...base, config: { dns: { servers: [dns.address] }, limits }, compiled: {} });
      try {
        let sent = 0;
        for (const r of rows) {
          await source(y.port('smtp'), r.concurrency, warmup(r), RCPT);
          r.yubin = rate(r.messages, await source(y.port('smtp'), r.concurrency, r.messages, RCPT));
          sent += warmup(r) + r.messages;
        }
        const stored = await storedCount(y);
        if (stored !== sent) throw new Error(`default config: ${sent} messages acknowledged, ${stored} in the store`);
      } finally {
        await y.destroy();
      }
    }
    // 1b. The sessions in DATA (the compiled server, like every row: what users run; tsx adds a
    // loader thread per worker and the compiler's memory).
    {
      const y = await startYubin({ ...base, config: { dns: { servers: [dns.address] }, limits }, compiled: {} });
      try {
        // One message first, so the checks' worker runs as on a server that has taken mail.
        await source(y.port('smtp'), 1, 1, RCPT);
        dataFigures = await sessionsInData({ pid: y.process.pid!, port: y.port('smtp') }, DATA_SESSIONS);
        const stored = await storedCount(y);
        if (stored !== dataFigures.accepted + 1) throw new Error(`sessions in DATA: ${dataFigures.accepted + 1} acknowledged, ${stored} in the store`);
      } finally {
        await y.destroy();
      }
    }
    // 2. Yubin engine-only ([checks] enabled = false).
    {
      const y = await startYubin({ ...base, config: { checks: { enabled: false }, limits }, compiled: {} });
      try {
        let sent = 0;
        for (const r of rows) {
          await source(y.port('smtp'), r.concurrency, warmup(r), RCPT);
          r.engine = rate(r.messages, await source(y.port('smtp'), r.concurrency, r.messages, RCPT));
          sent += warmup(r) + r.messages;
          if (process.env.SMTP_REUSE === '1') {
            const reuse = rate(r.messages, await source(y.port('smtp'), r.concurrency, r.messages, RCPT, true));
            sent += r.messages;
            console.log(`  (engine-only with connection reuse (-d), ${r.concurrency} connections: ${reuse.toFixed(0)} msg/s)`);
          }
        }
        const stored = await storedCount(y);
        if (stored !== sent) throw new Error(`engine-only: ${sent} messages acknowledged, ${stored} in the store`);
      } finally {
        await y.destroy();
      }
    }
    // 3. Debian's Postfix, private instance, maildir delivery.
    if (havePostfix()) {
      const pf = await startPostfix({ dir: join(root, 'postfix'), port: await freePort(), domain: 'bench.test', user: 'bench' });
      try {
        let sent = 0;
        for (const r of rows) {
          await source(pf.port, r.concurrency, warmup(r), RCPT);
          sent += warmup(r);
          // the warm-up's deliveries are not counted in the timed run
          for (let i = 0; i < 1200 && pf.delivered() < sent; i++) await new Promise((res) => setTimeout(res, 50));
          const t0 = process.hrtime.bigint();
          const secs = await source(pf.port, r.concurrency, r.messages, RCPT);
          sent += r.messages;
          r.postfix = rate(r.messages, secs);
          for (let i = 0; i < 6000 && pf.delivered() < sent; i++) await new Promise((res) => setTimeout(res, 10));
          if (pf.delivered() < sent) throw new Error(`postfix delivered ${pf.delivered()} of ${sent}`);
          r.postfixDelivered = rate(r.messages, Number(process.hrtime.bigint() - t0) / 1e9);
        }
      } finally {
        await pf.stop();
      }
    } else console.log('smtp: Debian postfix not installed: no Postfix row');
    // 4. smtp-sink: the protocol ceiling.
    const sinkPort = await freePort();
    const stopSink = await startSink(sinkPort);
    try {
      for (const r of rows) {
        await source(sinkPort, r.concurrency, warmup(r), RCPT);
        r.sink = rate(r.messages, await source(sinkPort, r.concurrency, r.messages, RCPT));
      }
    } finally {
      await stopSink();
    }
  } finally {
    await dns.close();
    rmSync(root, { recursive: true, force: true });
  }

  console.log(`smtp ingest: ${MESSAGE_BYTES} B messages, one message per connection (smtp-source without -d), msg/s accepted; ratio = ÷ Postfix accepted`);
  console.log('  conns  messages   yubin default  ratio   yubin engine  ratio   postfix (accepted / in maildir)   smtp-sink');
  for (const r of rows) {
    console.log(
      `  ${String(r.concurrency).padStart(5)}  ${String(r.messages).padStart(8)}   ${fmt(r.yubin)} msg/s  ${ratio(r.yubin, r.postfix).padStart(5)}   ${fmt(r.engine)} msg/s ${ratio(r.engine, r.postfix).padStart(5)}   ${fmt(r.postfix)} / ${fmt(r.postfixDelivered)} msg/s          ${fmt(r.sink)} msg/s`,
    );
  }
  console.log('  (yubin default: checks on, SPF/DMARC asked of a loopback DNS server; engine: [checks] enabled = false; every 250 counted in the store)');
  if (dataFigures) {
    const d = dataFigures;
    console.log(
      `smtp sessions in DATA: ${DATA_SESSIONS} concurrent, Yubin default config (compiled, dist/) RSS ${d.inData.toFixed(0)} MiB (${d.idle.toFixed(0)} MiB before; goal < 256 MiB); ${d.accepted} of ${DATA_SESSIONS} then got their 250 (${d.secs.toFixed(1)} s in all)`,
    );
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchSmtp().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
