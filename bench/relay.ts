// Relay throughput, two ways, each beside the same load sent straight to Postfix's smtp-sink:
// 1. submission: nodemailer (pooled, STARTTLS + AUTH) to `yubin serve`'s submission listener, through
//    the durable queue to smtp-sink as the remote MX; versus nodemailer straight to smtp-sink.
// 2. the queue alone: enqueue (fsync, group commit), MX lookup, SMTP delivery with kept
//    connections; versus our SMTP client straight to smtp-sink over the same number of connections.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startDnsServer } from '../test/helpers/dns-server.js';
import { createResolver } from '../src/dns/resolver.js';
import { validateConfig } from '../src/config/load.js';
import { openStore } from '../src/store/index.js';
import { silentLogger } from '../src/log/logger.js';
import { openQueue } from '../src/queue/index.js';
import { SmtpClient } from '../src/smtp/client/connection.js';
import { haveSmtpSink, startSink, until, type Sink } from '../test/integration/outbound-helpers.js';
import { startYubin } from '../test/helpers/server.js';
import nodemailer from 'nodemailer';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpuProfileArgs, ensureBuilt, freePort } from './common.js';
import { havePostfix, startPostfix } from './postfix.js';
import { source } from './smtp.js';

// 3,000: at 500 the direct row took about 0.1 s, too short to be a stable figure
const N = Number(process.env.RELAY_MESSAGES ?? 3000);
// The queue-alone row: untimed messages before each of its two figures, as the SMTP rows have
// (SMTP_WARMUP). Without them a figure of 3,000 messages (0.3-0.5 s) was largely V8 compiling the
// code it ran: its helper threads used 110-120 µs of CPU per message, against 30-40 after 10,000.
const WARMUP = Number(process.env.RELAY_WARMUP ?? 2000);
const CONNECTIONS = 8;

function message(i: number): Buffer {
  const body = 'The quick brown fox jumps over the lazy dog. '.repeat(40).replace(/(.{70})/g, '$1\r\n');
  return Buffer.from(`From: alice@a.test\r\nTo: bob@sink.test\r\nSubject: relay ${i}\r\nMessage-ID: <${i}@a.test>\r\n\r\n${body}\r\n`);
}

/** CPU time (user + system, all threads) of another process so far, in ms (Linux /proc). */
function processCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/**
 * Sends N messages over a pooled nodemailer transport; resolves with the seconds it took and the
 * CPU per message of this process (nodemailer) and of the server process, if given.
 */
async function blast(opts: Record<string, unknown>, n: number, until_: () => Promise<unknown>, serverPid?: number): Promise<{ secs: number; clientCpu: number; serverCpu: number | null }> {
  const t = nodemailer.createTransport({ pool: true, maxConnections: CONNECTIONS, maxMessages: Infinity, ...opts } as never);
  const cpu0 = process.cpuUsage();
  const server0 = serverPid ? processCpuMs(serverPid) : 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: n }, (_, i) => t.sendMail({ from: 'alice@a.test', to: 'bob@sink.test', subject: `relay ${i}`, text: message(i).toString() })));
  t.close();
  const accepted = Number(process.hrtime.bigint() - t0) / 1e9;
  await until_();
  const total = Number(process.hrtime.bigint() - t0) / 1e9;
  const clientCpu = cpuMs(process.cpuUsage(cpu0)) / n;
  const serverCpu = serverPid ? (processCpuMs(serverPid) - server0) / n : null;
  console.log(`  (${n} accepted in ${accepted.toFixed(2)} s, all at the sink after ${total.toFixed(2)} s)`);
  return { secs: total, clientCpu, serverCpu };
}

async function benchSubmission(sink: Sink, dnsAddress: string): Promise<void> {
  const n = N;
  const before = () => sink.count();
  const straight = { host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true };
  // Each figure after WARMUP untimed messages the same way (as the other rows: steady state, not
  // V8 compiling nodemailer's or the server's code)
  const warm = before();
  await blast(straight, WARMUP, () => until('sink', () => before() >= warm + WARMUP, 120_000));
  const base = before();
  const d = await blast(straight, n, () => until('sink', () => before() >= base + n, 120_000));
  const direct = n / d.secs;
  // The compiled server, as `npm start` runs it.
  ensureBuilt();
  const y = await startYubin({
    compiled: { nodeArgs: cpuProfileArgs() },
    hostname: 'mail.a.test',
    // the per-user hourly limits (500 messages by default) are policy, not throughput: off
    config: { dns: { servers: [dnsAddress] }, checks: { enabled: false, ratelimit_user_messages: 0, ratelimit_user_recipients: 0 }, queue: { remote_port: sink.port, concurrency: CONNECTIONS, per_domain_concurrency: CONNECTIONS } },
    domains: ['a.test'],
    users: [{ address: 'alice@a.test', password: 'bench-password-1' }],
  });
  try {
    const submission = { host: '127.0.0.1', port: y.port('submission'), secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'alice@a.test', pass: 'bench-password-1' } };
    const warm2 = before();
    await blast(submission, WARMUP, () => until('relayed to the sink', () => before() >= warm2 + WARMUP, 300_000));
    const base2 = before();
    const r = await blast(
      submission,
      n,
      () => until('relayed to the sink', () => before() >= base2 + n, 300_000),
      y.process.pid,
    );
    const relayed = n / r.secs;
    console.log(`relay (submission): ${n} messages, ${CONNECTIONS} client connections, nodemailer, each figure after ${WARMUP} untimed`);
    console.log(`  nodemailer straight to smtp-sink:              ${direct.toFixed(0)} msg/s (nodemailer ${d.clientCpu.toFixed(2)} ms CPU/msg)`);
    console.log(
      `  submission -> durable queue -> smtp-sink:      ${relayed.toFixed(0)} msg/s (nodemailer ${r.clientCpu.toFixed(2)} ms CPU/msg, yubin serve ${r.serverCpu!.toFixed(2)} ms CPU/msg, all threads)`,
    );
    console.log(`  ratio:                                         ${(relayed / direct).toFixed(2)}`);
  } finally {
    await y.destroy();
  }
}

/**
 * Postfix's relay row: smtp-source (CONNECTIONS sessions, one message per connection, 4 KB) to a
 * private Postfix instance relaying to smtp-sink (bench/postfix.ts), until every message is at
 * the sink; beside the same smtp-source load straight to smtp-sink. Postfix takes the messages
 * from its mynetworks (no TLS, no AUTH: smtp-source has neither).
 */
async function benchPostfixRelay(): Promise<{ relayed: number; direct: number } | null> {
  if (!havePostfix()) {
    console.log('relay (postfix): Debian postfix not installed; skipped');
    return null;
  }
  const sink = await startSink([], { counter: true });
  const root = mkdtempSync(join(tmpdir(), 'yubin-bench-relay-pf-'));
  chmodSync(root, 0o755);
  const pf = await startPostfix({ dir: join(root, 'postfix'), port: await freePort(), domain: 'bench.test', user: 'bench', relayDomain: 'sink.test', relayPort: sink.port });
  const atSink = () => sink.count();
  const wait = (n: number) => until(`relay (postfix): ${n} messages at the sink`, () => atSink() >= n, 300_000);
  try {
    await source(sink.port, CONNECTIONS, CONNECTIONS, 'bob@sink.test');
    await wait(CONNECTIONS);
    let base = atSink();
    let t0 = process.hrtime.bigint();
    await source(sink.port, CONNECTIONS, N, 'bob@sink.test');
    await wait(base + N);
    const direct = N / (Number(process.hrtime.bigint() - t0) / 1e9);
    base = atSink();
    await source(pf.port, CONNECTIONS, CONNECTIONS, 'bob@sink.test'); // warm-up
    await wait(base + CONNECTIONS);
    base = atSink();
    t0 = process.hrtime.bigint();
    const acceptedSecs = await source(pf.port, CONNECTIONS, N, 'bob@sink.test');
    await wait(base + N);
    const relayed = N / (Number(process.hrtime.bigint() - t0) / 1e9);
    console.log(`relay (postfix): ${N} messages, ${CONNECTIONS} smtp-source sessions, one message per connection`);
    console.log(`  smtp-source straight to smtp-sink:             ${direct.toFixed(0)} msg/s`);
    console.log(`  smtp-source -> Postfix -> smtp-sink:           ${relayed.toFixed(0)} msg/s (accepted at ${(N / acceptedSecs).toFixed(0)} msg/s)`);
    console.log(`  ratio:                                         ${(relayed / direct).toFixed(2)}`);
    return { relayed, direct };
  } finally {
    await pf.stop();
    await sink.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

/** With BENCH_CPU_PROF set: profiles this process until stop(), which writes <dir>/<name>-<time>.cpuprofile. */
async function startPhaseProfile(): Promise<{ stop(name: string): Promise<void> } | null> {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return null;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return {
    async stop(name) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${name}-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      console.log(`  (CPU profile of the phase: ${file})`);
    },
  };
}

/**
 * CPU time of this process's threads so far, in ms, from /proc (Linux; nanosecond schedstat):
 * the main thread (its tid is the pid) and all threads together. Null where /proc has no schedstat.
 */
function threadCpuMs(): { main: number; mainWait: number; all: number; byThread: Map<string, number> } | null {
  try {
    let all = 0;
    let main = 0;
    let mainWait = 0;
    const byThread = new Map<string, number>();
    for (const tid of readdirSync('/proc/self/task')) {
      let ns: number;
      let waitNs: number;
      let name: string;
      try {
        // schedstat: time on a CPU, time runnable but waiting for one (ns), timeslices
        [ns, waitNs] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number) as [number, number];
        name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      } catch {
        continue; // the thread ended meanwhile
      }
      all += ns / 1e6;
      byThread.set(`${tid} ${name}`, ns / 1e6);
      if (Number(tid) === process.pid) {
        main = ns / 1e6;
        mainWait = waitNs / 1e6;
      }
    }
    return { main, mainWait, all, byThread };
  } catch {
    return null;
  }
}

/** ", main thread N + W waiting for a CPU" (µs per message) for two threadCpuMs() readings over n messages, or "". */
function mainThreadNote(a: ReturnType<typeof threadCpuMs>, b: ReturnType<typeof threadCpuMs>, n: number): string {
  // RELAY_THREADS=1: every thread's share too
  if (a && b && process.env.RELAY_THREADS === '1') {
    for (const [t, ms] of b.byThread) {
      const d = ms - (a.byThread.get(t) ?? 0);
      if (d > 0.5) console.log(`    thread ${t}: ${((d * 1000) / n).toFixed(1)} µs/msg`);
    }
  }
  // the main thread's wait for a CPU says whether the machine (both cores) was the limit
  return a && b ? `, main thread ${(((b.main - a.main) * 1000) / n).toFixed(0)} + ${(((b.mainWait - a.mainWait) * 1000) / n).toFixed(0)} waiting for a CPU` : '';
}

/** The pid of the smtp-sink listening on `port` (its command line names the address), or null. */
function sinkPid(port: number): number | null {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('smtp-sink') && cmd.includes(`127.0.0.1:${port}`)) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/** CPU time (user + system) of a process.cpuUsage() difference, in ms. */
function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}

export async function benchRelay(): Promise<{ queued: number; direct: number; ratio: number }> {
  if (!haveSmtpSink()) {
    console.log('relay: smtp-sink not installed (apt-get install postfix); skipped');
    return { queued: 0, direct: 0, ratio: 0 };
  }
  if (process.env.RELAY_POSTFIX !== '0') await benchPostfixRelay();
  if (process.env.RELAY_SUBMISSION !== '0') {
    const sink = await startSink([], { counter: true });
    const dns = await startDnsServer();
    dns.setRecords('sink.test', 'MX', ['10 mx.sink.test']);
    dns.setRecords('mx.sink.test', 'A', ['127.0.0.1']);
    try {
      await benchSubmission(sink, dns.address);
    } finally {
      await sink.stop();
      await dns.close();
    }
  }
  const sink = await startSink([], { dump: false });
  const port = sink.port;
  const sinkProc = sinkPid(port);
  const sinkCpu = () => (sinkProc ? processCpuMs(sinkProc) : 0);
  const sinkNote = (ms: number) => (sinkProc ? `; smtp-sink ${((ms * 1000) / N).toFixed(0)} µs CPU/msg` : '');
  const dns = await startDnsServer();
  dns.setRecords('sink.test', 'MX', ['10 mx.sink.test']);
  dns.setRecords('mx.sink.test', 'A', ['127.0.0.1']);
  const dir = mkdtempSync(join(tmpdir(), 'yubin-bench-relay-'));
  try {
    // Straight to smtp-sink: CONNECTIONS connections, each sending its share in turn. The messages
    // are made before the clock starts, as the queue row's are staged before its clock starts.
    const messages = Array.from({ length: N }, (_, i) => message(i));
    const sendStraight = (list: Buffer[]) =>
      Promise.all(
        Array.from({ length: CONNECTIONS }, async (_, c) => {
          const client = await SmtpClient.connect({ host: '127.0.0.1', port, heloName: 'mail.a.test', tls: 'none' });
          for (let i = c; i < list.length; i += CONNECTIONS) {
            const m = list[i]!;
            const r = await client.send({ from: 'alice@a.test', mailParams: [], recipients: [{ address: 'bob@sink.test', params: [] }], message: () => Readable.from([m]) });
            if (!r.data || r.data.code !== 250) throw new Error('direct send failed');
          }
          await client.quit();
        }),
      );
    await sendStraight(Array.from({ length: WARMUP }, (_, i) => message(N + i)));
    const directProf = await startPhaseProfile();
    const cpu0 = process.cpuUsage();
    const threads0 = threadCpuMs();
    const sink0 = sinkCpu();
    const t0 = process.hrtime.bigint();
    await sendStraight(messages);
    const directSec = Number(process.hrtime.bigint() - t0) / 1e9;
    const directCpu = cpuMs(process.cpuUsage(cpu0));
    const directThreads = mainThreadNote(threads0, threadCpuMs(), N) + sinkNote(sinkCpu() - sink0);
    await directProf?.stop('relay-direct');

    // Through the queue: durable enqueue (all at once: group commit), then delivery.
    const config = validateConfig({
      hostname: 'mail.a.test',
      data_dir: dir,
      dns: { servers: [dns.address] },
      queue: { remote_port: port, concurrency: CONNECTIONS, per_domain_concurrency: CONNECTIONS },
    });
    const store = await openStore(dir);
    // Each recipient's final result, as the queue records it (the message's row goes in the same
    // transaction): the figure ends at the last one, not at the next poll of the queue's size.
    let finals = 0;
    let onFinal: ((state: string) => void) | null = null;
    const queue = await openQueue(
      { config, store, resolver: createResolver({ servers: [dns.address] }), logger: silentLogger(), now: () => new Date() },
      {
        startScheduler: true,
        pollMs: 1000,
        onRecipientResult: (state) => {
          if (state === 'delivered') finals++;
          onFinal?.(state);
        },
      },
    );
    const throughQueue = async (list: Awaited<ReturnType<typeof store.blobs.stage>>[]) => {
      const target = finals + list.length;
      const allFinal = new Promise<void>((resolve, reject) => {
        onFinal = (state) => (state !== 'delivered' ? reject(new Error(`relay (queue alone): a delivery to smtp-sink ended ${state}`)) : finals >= target && resolve());
      });
      // a failure while the enqueues still run is reported by the await below, not as unhandled
      allFinal.catch(() => undefined);
      await Promise.all(list.map((blob) => queue.enqueue({ from: 'alice@a.test', recipients: [{ address: 'bob@sink.test' }], blob })));
      const enqueued = process.hrtime.bigint();
      await allFinal;
      if ((await queue.count()) !== 0) throw new Error(`relay (queue alone): ${await queue.count()} messages left in the queue after every delivery`);
      return enqueued;
    };
    const warm = await Promise.all(Array.from({ length: WARMUP }, (_, i) => store.blobs.stage(message(2 * N + i))));
    await throughQueue(warm);
    await Promise.all(warm.map((b) => store.blobs.discard(b)));
    const blobs = await Promise.all(messages.map((m) => store.blobs.stage(m)));
    // BENCH_CPU_PROF=dir: a CPU profile of each phase alone (straight; enqueue to empty queue), in dir
    const prof = await startPhaseProfile();
    const cpu1 = process.cpuUsage();
    const threads1 = threadCpuMs();
    const sink1 = sinkCpu();
    const t1 = process.hrtime.bigint();
    const enqueuedSec = Number((await throughQueue(blobs)) - t1) / 1e9;
    const queuedSec = Number(process.hrtime.bigint() - t1) / 1e9;
    const queuedCpu = cpuMs(process.cpuUsage(cpu1));
    const queuedThreads = mainThreadNote(threads1, threadCpuMs(), N) + sinkNote(sinkCpu() - sink1);
    await prof?.stop('relay-queue');
    await queue.stop(1000);
    await Promise.all(blobs.map((b) => store.blobs.discard(b)));
    await store.close();

    const direct = N / directSec;
    const queued = N / queuedSec;
    console.log(`relay (queue alone): ${N} messages of ${message(0).length} bytes, ${CONNECTIONS} connections, each figure after ${WARMUP} untimed`);
    // CPU of this process per message (user + system; smtp-sink is another process): steadier than
    // msg/s on a shared machine
    console.log(`  our SMTP client straight to smtp-sink:         ${direct.toFixed(0)} msg/s (${((directCpu * 1000) / N).toFixed(0)} µs CPU/msg${directThreads})`);
    console.log(
      `  enqueue (durable) -> queue -> smtp-sink:       ${queued.toFixed(0)} msg/s (${((queuedCpu * 1000) / N).toFixed(0)} µs CPU/msg${queuedThreads}; enqueue alone ${(N / enqueuedSec).toFixed(0)} msg/s, fsynced)`,
    );
    console.log(`  ratio:                                         ${(queued / direct).toFixed(2)}`);
    return { queued, direct, ratio: queued / direct };
  } finally {
    await sink.stop();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRelay();
