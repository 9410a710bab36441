// Where a submitted message's time goes: the submission row of bench/relay.ts (nodemailer pooled,
// STARTTLS + AUTH, CONNECTIONS connections, to the compiled `yubin serve`, through the durable
// queue to smtp-sink), with what that row does not show: the server's CPU per message split by
// thread (main thread, the checks worker pool, libuv's thread pool, V8's helpers), the main
// thread's share of the wall clock, and the client's latency per message (the time from
// sendMail to the 250). A main thread busy near 100 % of the wall clock means each connection's
// message waits behind the others' work on the one event loop (docs/submission-perf.md).
//
//   node --import tsx bench/submission.ts
//   SUBMISSION_MESSAGES=N   messages (default 2000)
//   BENCH_CPU_PROF=DIR      the server's CPU profiles (every thread), as in bench/relay.ts
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { startDnsServer } from '../test/helpers/dns-server.js';
import { freePort, haveSmtpSink, until, waitForGreeting } from '../test/integration/outbound-helpers.js';
import { startYubin } from '../test/helpers/server.js';
import { cpuProfileArgs, ensureBuilt } from './common.js';

const N = Number(process.env.SUBMISSION_MESSAGES ?? 2000);
const CONNECTIONS = 8;

/** CPU ms (user + system) of each thread of a process, by thread id, with the thread's name (Linux /proc). */
function threadCpu(pid: number): Map<number, { name: string; ms: number }> {
  const out = new Map<number, { name: string; ms: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { name, ms: ((Number(f[11]) + Number(f[12])) * 1000) / 100 });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** A thread's scheduler figures (Linux /proc): ms waiting on a run queue (runnable, not running), and involuntary context switches. */
function schedOf(pid: number, tid: number): { waitMs: number; preempted: number } {
  try {
    const ss = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
    const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    return { waitMs: Number(ss[1]) / 1e6, preempted: Number(/nonvoluntary_ctxt_switches:\s*(\d+)/.exec(st)?.[1] ?? 0) };
  } catch {
    return { waitMs: 0, preempted: 0 };
  }
}

/** Groups threads: the process's first thread is "main"; the rest by name (libuv-worker, V8 workers, node worker threads). */
function byGroup(pid: number, before: Map<number, { name: string; ms: number }>, after: Map<number, { name: string; ms: number }>): Map<string, number> {
  const g = new Map<string, number>();
  for (const [tid, a] of after) {
    const name = tid === pid ? 'main' : a.name;
    g.set(name, (g.get(name) ?? 0) + a.ms - (before.get(tid)?.ms ?? 0));
  }
  return g;
}

function body(i: number): string {
  return `relay ${i}\r\n` + 'The quick brown fox jumps over the lazy dog. '.repeat(40).replace(/(.{70})/g, '$1\r\n');
}

async function main(): Promise<void> {
  if (!haveSmtpSink()) {
    console.log('submission: smtp-sink not installed (apt-get install postfix); skipped');
    return;
  }
  const sink = await startCountingSink();
  const dns = await startDnsServer();
  dns.setRecords('sink.test', 'MX', ['10 mx.sink.test']);
  dns.setRecords('mx.sink.test', 'A', ['127.0.0.1']);
  ensureBuilt();
  const y = await startYubin({
    compiled: { nodeArgs: cpuProfileArgs() },
    hostname: 'mail.a.test',
    config: { dns: { servers: [dns.address] }, checks: { enabled: false, ratelimit_user_messages: 0, ratelimit_user_recipients: 0 }, queue: { remote_port: sink.port, concurrency: CONNECTIONS, per_domain_concurrency: CONNECTIONS } },
    domains: ['a.test'],
    users: [{ address: 'alice@a.test', password: 'bench-password-1' }],
  });
  const atSink = sink.count;
  try {
    const t = nodemailer.createTransport({
      pool: true,
      maxConnections: CONNECTIONS,
      maxMessages: Infinity,
      host: '127.0.0.1',
      port: y.port('submission'),
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'alice@a.test', pass: 'bench-password-1' },
    } as never);
    // warm-up: the connections, logins and the code paths
    await Promise.all(Array.from({ length: CONNECTIONS * 4 }, (_, i) => t.sendMail({ from: 'alice@a.test', to: 'bob@sink.test', subject: 'warm-up', text: body(i) })));
    await until('warm-up at the sink', () => atSink() >= CONNECTIONS * 4, 60_000);
    const base = atSink();
    const pid = y.process.pid!;
    const cpu0 = threadCpu(pid);
    const sched0 = schedOf(pid, pid);
    const client0 = process.cpuUsage();
    const latencies: number[] = [];
    const t0 = performance.now();
    // CONNECTIONS senders, each sending its next message when the last one is accepted: the
    // latency is the server's (nodemailer's pool would queue the rest of N in the client).
    let next = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        for (let i = next++; i < N; i = next++) {
          const s = performance.now();
          await t.sendMail({ from: 'alice@a.test', to: 'bob@sink.test', subject: `relay ${i}`, text: body(i) });
          latencies.push(performance.now() - s);
        }
      }),
    );
    const accepted = (performance.now() - t0) / 1000;
    const cpuAccepted = threadCpu(pid);
    const sched1 = schedOf(pid, pid);
    await until('all at the sink', () => atSink() >= base + N, 300_000);
    const total = (performance.now() - t0) / 1000;
    const cpu1 = threadCpu(pid);
    const client = process.cpuUsage(client0);
    t.close();
    latencies.sort((a, b) => a - b);
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1);
    console.log(`submission: ${N} messages, ${CONNECTIONS} nodemailer connections (pooled, STARTTLS + AUTH) -> yubin serve -> durable queue -> smtp-sink`);
    console.log(`  accepted in ${accepted.toFixed(2)} s (${(N / accepted).toFixed(0)} msg/s), all at the sink after ${total.toFixed(2)} s: ${(N / total).toFixed(0)} msg/s`);
    console.log(`  client latency per message (sendMail to 250; ms): p50 ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)}`);
    console.log(`  nodemailer: ${((client.user + client.system) / 1000 / N).toFixed(2)} ms CPU/msg`);
    const groups = byGroup(pid, cpu0, cpu1);
    const all = [...groups.values()].reduce((a, b) => a + b, 0);
    console.log(`  yubin serve: ${(all / N).toFixed(2)} ms CPU/msg, all threads; by thread group (ms CPU/msg):`);
    for (const [name, ms] of [...groups].sort((a, b) => b[1] - a[1])) if (ms > 0) console.log(`    ${name.padEnd(18)} ${(ms / N).toFixed(2)}`);
    if (process.env.SUBMISSION_THREADS) {
      for (const [tid, a] of cpu1) {
        const ms = a.ms - (cpu0.get(tid)?.ms ?? 0);
        if (ms > 0) console.log(`    tid ${tid}${tid === pid ? ' (main)' : ''} ${a.name}: ${(ms / N).toFixed(3)}`);
      }
    }
    const mainAccepting = (cpuAccepted.get(pid)!.ms - cpu0.get(pid)!.ms) / 1000;
    console.log(
      `  main thread while accepting: on a CPU ${((100 * mainAccepting) / accepted).toFixed(0)} % of the wall clock, runnable but waiting for a CPU ${((100 * (sched1.waitMs - sched0.waitMs)) / 1000 / accepted).toFixed(0)} % (${((sched1.waitMs - sched0.waitMs) / N).toFixed(2)} ms/msg; preempted ${((sched1.preempted - sched0.preempted) / N).toFixed(2)} times/msg)`,
    );
  } finally {
    await y.destroy();
    await sink.stop();
    await dns.close();
  }
}

/** Postfix's smtp-sink dumping each message into a file of its own: counted, never read (reading thousands costs this process CPU). */
async function startCountingSink(): Promise<{ port: number; count(): number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-bench-sub-sink-'));
  chmodSync(dir, 0o777); // smtp-sink writes its dumps as the postfix user
  const port = await freePort();
  const child = spawn('smtp-sink', ['-u', 'postfix', '-d', join(dir, 'm.'), `127.0.0.1:${port}`, '100'], { stdio: 'ignore' });
  await waitForGreeting(port, 'smtp-sink');
  return {
    port,
    count: () => readdirSync(dir).length,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

await main();
