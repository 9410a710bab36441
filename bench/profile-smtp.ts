// CPU profile of SMTP ingest (issue 14): the server from compiled JS (`npm run build` first) under
// `node --cpu-prof`, the bench's default configuration (checks on, the loopback DNS server of
// bench/smtp.ts), a fixed load of smtp-source (one message per connection), then SIGTERM so the
// profile is written; prints the top self-time functions and the time by area.
//
//   npm run build && node --import tsx bench/profile-smtp.ts [sessions] [messages]
//   node --import tsx bench/profile-smtp.ts --rss   (no profile: RSS of the compiled server, idle,
//                                                   after one message, with 1,000 sessions in DATA)
//   PROFILE_KEEP=1   keep the .cpuprofile (its path is printed)
//   PROFILE_OFF=1    no profiler: msg/s and the server's CPU per message (all threads, main thread)
//   PROFILE_ENGINE=1 the checks off ([checks] enabled = false)
//   PROFILE_NODE_ARGS="..." more flags for the server's node (say --heap-prof --heap-prof-dir=DIR)
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startYubin } from '../test/helpers/server.js';
import { rssMiB, senderDns, sessionsInData, source } from './smtp.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function's self time belongs, by its file. */
function area(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(idle)' || fn === '(program)') return fn;
  if (/\/src\/checks\/|\/dist\/checks\/|mailauth|\/dns\//.test(url)) return 'checks + dns';
  if (/\/smtp\/wire\//.test(url)) return 'smtp wire (parse)';
  if (/\/smtp\/server\//.test(url)) return 'smtp session/delivery';
  if (/\/store\/|\/db\/|better-sqlite3/.test(url)) return 'store + sqlite';
  if (/\/message\//.test(url)) return 'message parser';
  if (/\/log\/|pino/.test(url)) return 'logging';
  if (/\/workers\//.test(url)) return 'worker pool';
  if (/node:net|node:internal\/(net|stream|streams)|_tls|tls_wrap/.test(url)) return 'node net/streams';
  if (/node:internal\/fs|node:fs/.test(url)) return 'node fs';
  if (/^node:/.test(url)) return 'node other';
  if (url === '') return fn ? `native (${fn})` : 'native';
  return 'other js';
}

export function summarise(prof: CpuProfile, top = 30): string {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const total = prof.endTime - prof.startTime;
  const fnTime = new Map<string, number>();
  const areaTime = new Map<string, number>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** The nearest frame with a script (a native function's time belongs to its caller's area). */
  const ours = (u: string) => u !== '' && !u.startsWith('node:');
  const owner = (id: number): ProfileNode => {
    const start = byId.get(id)!;
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const n = byId.get(p)!;
      if (ours(n.callFrame.url)) return n;
    }
    return start;
  };
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const o = !ours(f.url) && !f.functionName.startsWith('(') ? owner(id).callFrame : f;
    const file = f.url.replace(/^file:\/\/.*?\/(dist|src|node_modules)\//, '$1/');
    const caller = o === f ? '' : ` <- ${o.functionName || '(anonymous)'} ${o.url.replace(/^file:\/\/.*?\/(dist|src|node_modules)\//, '$1/')}:${o.lineNumber + 1}`;
    const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}${caller}`;
    fnTime.set(key, (fnTime.get(key) ?? 0) + us);
    const a = area(o.url, o.functionName);
    areaTime.set(a, (areaTime.get(a) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms`;
  const lines = [`profile: ${(total / 1e6).toFixed(2)} s wall`, 'by area (self time):'];
  for (const [a, us] of [...areaTime].sort((x, y) => y[1] - x[1])) lines.push(`  ${pct(us)}  ${a}`);
  lines.push(`top ${top} functions (self time; a native function's caller after <-):`);
  for (const [k, us] of [...fnTime].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${k}`);
  // Inclusive time of our own functions (and the SQLite binding): where a message's time goes.
  const incl = new Map<string, number>();
  const walk = (id: number, open: Set<string>): number => {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^file:\/\/.*?\/(dist|src|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    const fresh = !open.has(key);
    if (fresh) open.add(key);
    let us = self.get(id) ?? 0;
    for (const c of n.children ?? []) us += walk(c, open);
    if (fresh) {
      open.delete(key);
      if (/\/(dist|src)\/|better-sqlite3|sonic-boom/.test(f.url)) incl.set(key, (incl.get(key) ?? 0) + us);
    }
    return us;
  };
  walk(prof.nodes[0]!.id, new Set());
  lines.push(`top ${top} of our functions (inclusive time):`);
  for (const [k, us] of [...incl].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${k}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const rss = process.argv[2] === '--rss';
  const sessions = rss ? 1 : Number(process.argv[2] ?? 10);
  const messages = rss ? 1 : Number(process.argv[3] ?? 2000);
  const dns = await senderDns();
  const profDir = mkdtempSync(join(tmpdir(), 'yubin-prof-'));
  // The compiled server, as users run it; with the profiler unless only RSS is asked for.
  const y = await startYubin({
    domains: ['bench.test'],
    users: [{ address: 'bench@bench.test', password: 'bench-password' }],
    // PROFILE_ENGINE=1: [checks] enabled = false (the engine-only row of bench/smtp.ts)
    config: { dns: { servers: [dns.address] }, limits: { max_connections_per_ip: 2000 }, ...(process.env.PROFILE_ENGINE === '1' ? { checks: { enabled: false } } : {}) },
    // PROFILE_OFF=1: no profiler (its sampling costs CPU): only msg/s and CPU per message
    // PROFILE_NODE_ARGS: more flags for the server's node, e.g. "--heap-prof --heap-prof-dir=/tmp/h"
    compiled: { nodeArgs: [...(rss || process.env.PROFILE_OFF === '1' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`]), ...(process.env.PROFILE_NODE_ARGS ?? '').split(' ').filter(Boolean)] },
  });
  const pid = y.process.pid!;
  const port = y.port('smtp');
  if (rss) {
    const idle = rssMiB(pid);
    await source(port, 1, 1, 'bench@bench.test');
    const afterOne = rssMiB(pid);
    const d = await sessionsInData({ pid, port }, 1000);
    console.log(`compiled server RSS: ${idle.toFixed(0)} MiB idle, ${afterOne.toFixed(0)} MiB after one message, ${d.inData.toFixed(0)} MiB with 1,000 sessions in DATA (${d.idle.toFixed(0)} before them); ${d.accepted} of 1000 got their 250`);
    await y.destroy();
    await dns.close();
    rmSync(profDir, { recursive: true, force: true });
    return;
  }
  await source(port, sessions, sessions, 'bench@bench.test'); // warm-up
  // CPU (user + system clock ticks) of the whole process and of its main thread (tid = pid).
  const ticksOf = (path: string) => {
    const f = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  // The kernel's part (system ticks): sockets, fsync, file creation.
  const sysTicksOf = (path: string) => Number(readFileSync(path, 'utf8').split(') ')[1]!.split(' ')[12]);
  // Per thread, grouped by name (node's main thread is named after the process; libuv's pool
  // "libuv-worker", V8's helpers "V8 DefaultWorke", worker threads "node" or their own name).
  const threads = (): Map<string, number> => {
    const out = new Map<string, number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const raw = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = tid === String(pid) ? 'main' : raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'));
        const key = `${name}:${tid}`;
        out.set(key, ticksOf(`/proc/${pid}/task/${tid}/stat`));
      } catch {
        // the thread ended
      }
    }
    return out;
  };
  const threads0 = threads();
  const all0 = ticksOf(`/proc/${pid}/stat`);
  const main0 = ticksOf(`/proc/${pid}/task/${pid}/stat`);
  const sys0 = sysTicksOf(`/proc/${pid}/stat`);
  const mainSys0 = sysTicksOf(`/proc/${pid}/task/${pid}/stat`);
  // Time the main thread was runnable but waiting for a CPU (schedstat, ns): the machine's share of the limit.
  const waitNs = () => Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
  const wait0 = waitNs();
  const secs = await source(port, sessions, messages, 'bench@bench.test');
  const waitMs = (waitNs() - wait0) / 1e6 / messages;
  const sysMs = ((sysTicksOf(`/proc/${pid}/stat`) - sys0) * 10) / messages;
  const mainSysMs = ((sysTicksOf(`/proc/${pid}/task/${pid}/stat`) - mainSys0) * 10) / messages;
  const ticks = ticksOf(`/proc/${pid}/stat`) - all0;
  const mainTicks = ticksOf(`/proc/${pid}/task/${pid}/stat`) - main0;
  console.log(`server CPU per message: ${((ticks * 10) / messages).toFixed(2)} ms all threads, ${((mainTicks * 10) / messages).toFixed(2)} ms main thread (of which in the kernel: ${sysMs.toFixed(2)} ms all threads, ${mainSysMs.toFixed(2)} ms main; the main thread also waited ${waitMs.toFixed(2)} ms for a CPU)`);
  const perThread = [...threads()].map(([key, t]) => [key, t - (threads0.get(key) ?? 0)] as const).filter(([, t]) => t > 0);
  console.log(`  by thread (name:tid, ms per message): ${perThread.sort((a, b) => b[1] - a[1]).map(([n, t]) => `${n} ${((t * 10) / messages).toFixed(2)}`).join(', ')}`);
  // SIGTERM: the profile is written as the process exits.
  await y.destroy();
  await dns.close();
  const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  console.log(`${messages} messages, ${sessions} connections, one message per connection: ${(messages / secs).toFixed(0)} msg/s (${secs.toFixed(2)} s); server CPU (main process, all threads) ${(ticks / 100).toFixed(2)} s`);
  console.log(`profiles: ${files.length} (${files.join(', ')})`);
  // The main thread's profile is the biggest one (workers write their own).
  const sized = files.map((f) => ({ f, size: readFileSync(join(profDir, f)).length })).sort((a, b) => b.size - a.size);
  for (const { f } of sized) {
    console.log(`\n== ${f}`);
    console.log(summarise(JSON.parse(readFileSync(join(profDir, f), 'utf8')) as CpuProfile));
  }
  if (process.env.PROFILE_KEEP === '1') console.log(`kept ${profDir}`);
  else rmSync(profDir, { recursive: true, force: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
