// IMAP benchmark: in a mailbox of 100,000 messages, `UID FETCH 1:* (UID FLAGS)`, a header SEARCH,
// a BODY SEARCH and `FETCH BODY[]` of 1,000 messages; then the memory of many concurrent
// connections in IDLE. Each beside Debian's Dovecot (dovecot-imapd on a loopback port, a
// temporary configuration, a maildir with the same messages) in the same run, as a ratio.
//
//   npm run bench -- imap
//   BENCH_IMAP_MESSAGES=20000 BENCH_IMAP_IDLE=10000 BENCH_IMAP_REPEAT=3 node --import tsx bench/imap.ts
//
// Plain TCP on 127.0.0.1 for both, so the figures are the IMAP engines and their stores, not TLS.
// Yubin runs as a user runs it (`yubin serve`, through the test harness) on a store filled before
// it starts. 1,000 distinct messages are stored, each 100 times (copies share one blob in Yubin;
// Dovecot gets 100 files each). Idle memory is PSS (proportional set size: shared pages counted
// once) of Yubin's process and of all Dovecot processes, after minus before.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startYubin } from '../test/helpers/server.js';
import { dovecotConfigHead } from '../test/helpers/dovecot.js';
import { fillStore, freePort, cpuProfileArgs, ensureBuilt, launchDovecot } from './common.js';
import { openStore } from '../src/store/index.js';
import { rebuildIndex } from '../src/search/indexer.js';

const TOTAL = Number(process.env.BENCH_IMAP_MESSAGES ?? 100_000);
const DISTINCT = Math.min(1000, TOTAL);
const COPIES = Math.max(1, Math.round(TOTAL / DISTINCT));
const IDLE = Number(process.env.BENCH_IMAP_IDLE ?? 10_000);
/** Seconds of each ten-client load (mixed commands; APPEND only). */
const LOAD_SECONDS = Number(process.env.BENCH_IMAP_LOAD_SECONDS ?? 10);
const LOAD_CLIENTS = 10;
/** Rounds of the warm single-connection rows (each figure is their median). */
const REPEAT = Math.max(1, Number(process.env.BENCH_IMAP_REPEAT ?? 5));
/** Untimed passes of the warm rows' commands before they are timed. */
const WARMUP = Math.max(1, Number(process.env.BENCH_IMAP_WARMUP ?? 10));
const USER = 'bench@example.test';
const PASS = 'benchpw';

function makeMessage(i: number): Buffer {
  let body = '';
  for (let n = 0; n < 12; n++) body += `line ${n} of message ${i}: the quick brown fox jumps over the lazy dog\r\n`;
  body += `unique word zebra${i}x\r\n`;
  return Buffer.from(
    `From: sender${i}@example.net\r\nTo: ${USER}\r\nSubject: benchmark message ${i} of the run\r\nMessage-ID: <bench-${i}@example.net>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n${body}`,
    'latin1',
  );
}

/** A raw IMAP connection: tagged commands, the response read until the tagged line. */
class RawImap {
  private chunks: Buffer[] = [];
  private tail = '';
  private waiter: (() => void) | null = null;
  private closed = false;
  private n = 0;
  bytes = 0;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.bytes += d.length;
      this.tail = (this.tail + d.toString('latin1', Math.max(0, d.length - 2000))).slice(-2000);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
    socket.setTimeout(600_000, () => socket.destroy());
  }
  static connect(port: number): Promise<RawImap> {
    return new Promise((res, rej) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => res(new RawImap(s)));
      s.once('error', rej);
    });
  }
  private async until(done: () => boolean): Promise<string> {
    while (!done()) {
      if (this.closed) throw new Error(`connection closed; got ${Buffer.concat(this.chunks).toString('latin1').slice(-300)}`);
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = null;
    }
    const all = Buffer.concat(this.chunks).toString('latin1');
    this.chunks = [];
    this.tail = '';
    return all;
  }
  greeting(): Promise<string> {
    return this.until(() => this.tail.includes('\r\n'));
  }
  async cmd(line: string): Promise<string> {
    const tag = `b${++this.n}`;
    this.socket.write(`${tag} ${line}\r\n`);
    const re = new RegExp(`(^|\r\n)${tag} (OK|NO|BAD)[^\r\n]*\r\n$`);
    const r = await this.until(() => re.test(this.tail));
    if (!new RegExp(`(^|\r\n)${tag} OK`).test(r)) throw new Error(`${line}: ${r.slice(-300)}`);
    return r;
  }
  async idle(): Promise<void> {
    this.socket.write(`i IDLE\r\n`);
    await this.until(() => this.tail.includes('+ '));
  }
  close(): void {
    this.socket.destroy();
  }
}

function progress(what: string): void {
  if (process.env.BENCH_VERBOSE) console.error(`  [${new Date().toISOString().slice(11, 19)}] ${what}`);
}

/** One figure as soon as it is measured (a long run that is cut short still leaves its numbers). */
function say(s: Server, label: string, value: string): void {
  console.log(`  ${s.name}: ${label}: ${value}`);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, value };
}

/** PSS in KiB of the given processes (shared pages split among the processes that map them). */
function pssKiB(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      sum += Number(m?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return sum;
}

/** A process and all its descendants. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

interface Server {
  name: string;
  port: number;
  user: string;
  pids(): number[];
  stop(): Promise<void>;
}

let indexSeconds = 0;

async function startYubinWith(dir: string, messages: Buffer[]): Promise<Server> {
  await fillStore(join(dir, 'data'), { address: USER, password: PASS, messages, copies: COPIES, batch: 20, mailboxes: ['Idle', 'Mixed'] });
  progress('yubin store filled');
  // The full-text index, as `yubin index rebuild` builds it (the server would build it in the background).
  const store = await openStore(join(dir, 'data'));
  try {
    const t0 = Date.now();
    const r = await rebuildIndex(store, store.textIndex!);
    indexSeconds = (Date.now() - t0) / 1000;
    console.log(`  yubin: full-text index of ${r.messages} messages built in ${indexSeconds.toFixed(1)} s`);
  } finally {
    await store.close();
  }
  // The compiled server, as `npm start` runs it.
  ensureBuilt();
  const inst = await startYubin({ dir, compiled: { nodeArgs: cpuProfileArgs() }, config: { auth: { allow_plaintext: true, throttle_free_failures: 1_000_000, throttle_max_failures: 1_000_000 }, limits: { max_connections: 50_000, max_connections_per_ip: 50_000 } } });
  const stop = async (): Promise<void> => {
    // BENCH_SERVER_OUTPUT=FILE: what the server printed (with BENCH_NODE_ARGS=--trace-gc, its collections)
    if (process.env.BENCH_SERVER_OUTPUT) writeFileSync(process.env.BENCH_SERVER_OUTPUT, inst.output());
    await inst.destroy();
  };
  return { name: 'yubin', port: inst.port('imap'), user: USER, pids: () => [inst.process.pid!], stop };
}

async function startDovecot(dir: string, messages: Buffer[]): Promise<Server> {
  const dovecot = ['/usr/sbin/dovecot', '/usr/bin/dovecot'].find((p) => existsSync(p));
  if (!dovecot || !existsSync('/usr/lib/dovecot/imap')) throw new Error('dovecot-imapd is not installed (apt-get install dovecot-imapd)');
  const home = join(dir, 'home');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(home, 'Maildir', sub), { recursive: true });
  for (const box of ['.Idle', '.Mixed']) for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(home, 'Maildir', box, sub), { recursive: true });
  const t = Math.floor(Date.now() / 1000);
  let n = 0;
  for (const m of messages) for (let c = 0; c < COPIES; c++) writeFileSync(join(home, 'Maildir', 'cur', `${t}.M${n++}P1.bench,S=${m.length}:2,`), m);
  spawnSync('chown', ['-R', 'nobody:nogroup', home]);
  chmodSync(dir, 0o755);
  const port = await freePort();
  const conf = join(dir, 'dovecot.conf');
  writeFileSync(
    conf,
    `${dovecotConfigHead({ dir, protocols: 'imap', home, password: PASS })}default_process_limit = ${IDLE + 100}
default_client_limit = ${IDLE + 100}
default_vsz_limit = 0
# Logins in Dovecot's high-performance mode: a few login processes each serving many clients
# (the default, one process per connection, doubles the processes and the file descriptors the
# master and anvil need for ${IDLE} connections); each logged-in connection is then one imap process.
service imap-login {
  inet_listener imap {
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
  process_limit = 4
  client_limit = ${IDLE + 100}
}
service imap-urlauth-login {
  process_limit = 1
}
protocol imap {
  mail_max_userip_connections = ${IDLE + 100}
}
service imap {
  process_limit = ${IDLE + 100}
}
service auth {
  client_limit = 200
}
service anvil {
  client_limit = ${IDLE + 200}
}
`,
  );
  // Every IDLE connection is a file descriptor in anvil and in the master's bookkeeping: the soft
  // open-file limit is raised to the hard one for Dovecot (a limit above the hard one is not ours
  // to set), and a run that cannot fit says so before it starts.
  const hard = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(hard) && hard < IDLE + 300) throw new Error(`open-file limit ${hard} is below the ${IDLE + 300} Dovecot needs for ${IDLE} IDLE connections (raise ulimit -Hn or lower BENCH_IMAP_IDLE)`);
  const d = await launchDovecot({ argv: ['sh', '-c', 'ulimit -n "$(ulimit -Hn)"; exec "$0" -c "$1"', dovecot, conf], pidFile: join(dir, 'run', 'master.pid'), port });
  return { name: 'dovecot', port, user: 'bench', pids: () => processTree(d.master), stop: d.stop };
}

interface Figures {
  selectCold: number;
  select: number;
  mixedPerSec: number;
  appendPerSec: number;
  fetchFlags: number;
  headerSearch: number;
  bodySearch: number;
  fetchBodies: number;
  idleKiB: number | null;
}

/**
 * Ten clients on the shared mailbox "Mixed" for LOAD_SECONDS, never logging out in between:
 * 'mixed' loops SELECT, APPEND, UID FETCH (FLAGS BODY.PEEK[HEADER]) of the last 20, UID STORE,
 * UID SEARCH BODY, STORE \Deleted + EXPUNGE of its own message; 'append' only APPENDs.
 * Returns commands per second over all clients (APPENDs per second for 'append').
 */
async function load(s: Server, kind: 'mixed' | 'append'): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: LOAD_CLIENTS }, async () => {
      const k = await RawImap.connect(s.port);
      await k.greeting();
      await k.cmd(`LOGIN ${s.user} ${PASS}`);
      return k;
    }),
  );
  let commands = 0;
  const deadline = Date.now() + LOAD_SECONDS * 1000;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    clients.map(async (k, ci) => {
      let i = 0;
      while (Date.now() < deadline) {
        const msg = makeMessage(1_000_000 + ci * 100_000 + i++);
        const append = () => k.cmd(`APPEND Mixed {${msg.length}+}\r\n${msg.toString('latin1')}`);
        if (kind === 'append') {
          await append();
          commands++;
          continue;
        }
        await k.cmd('SELECT Mixed');
        const r = await append();
        const uid = /APPENDUID \d+ (\d+)/.exec(r)?.[1];
        await k.cmd('UID FETCH 1:* (UID FLAGS)');
        await k.cmd(`FETCH ${'*'} (FLAGS BODY.PEEK[HEADER])`);
        await k.cmd('STORE 1 +FLAGS (\\Seen)');
        await k.cmd(`UID SEARCH BODY "zebra${1_000_000 + ci * 100_000}x"`);
        commands += 6;
        if (uid && i % 2 === 0) {
          await k.cmd(`UID STORE ${uid} +FLAGS (\\Deleted)`);
          await k.cmd('EXPUNGE');
          commands += 2;
        }
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const k of clients) k.close();
  return commands / secs;
}

async function measure(s: Server): Promise<Figures> {
  let idleKiB: number | null = null;
  if (IDLE > 0) {
    const openIdle = async (report: ((n: number) => void) | null): Promise<RawImap[]> => {
      const conns: RawImap[] = [];
      for (let i = 0; i < IDLE; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(50, IDLE - i) }, async () => {
            const k = await RawImap.connect(s.port);
            await k.greeting();
            await k.cmd(`LOGIN ${s.user} ${PASS}`);
            await k.cmd('SELECT Idle');
            await k.idle();
            return k;
          }),
        );
        conns.push(...batch);
        if (report && conns.length % 1000 === 0) report(conns.length);
      }
      return conns;
    };
    // Measured first, on a freshly started server: the baseline before any connection, the figure
    // with the second of two rounds of IDLE connections open. Conservative: what the first round
    // made the heap grow by stays resident in a garbage-collected process (and is counted).
    await new Promise((r) => setTimeout(r, 3000));
    const baseProcesses = s.pids().length;
    const before = pssKiB(s.pids());
    progress(`${s.name}: warm-up round of ${IDLE} idle connections`);
    for (const k of await openIdle(null)) k.close();
    await new Promise((r) => setTimeout(r, 3000));
    progress(`${s.name}: opening ${IDLE} idle connections`);
    // Printed as it goes: a run cut short still leaves a figure.
    const conns = await openIdle((n) => console.log(`  ${s.name}: ${n} IDLE connections: ${(((pssKiB(s.pids()) - before) / n) * 1).toFixed(1)} KiB each so far`));
    await new Promise((r) => setTimeout(r, 3000));
    idleKiB = pssKiB(s.pids()) - before;
    say(s, `memory of ${IDLE} IDLE connections`, `${idleKiB} KiB (${(idleKiB / IDLE).toFixed(1)} KiB each)`);
    for (const k of conns) k.close();
    // The timed rows start once the server is back to its processes before the IDLE rounds
    // (Dovecot's thousands of imap processes exiting would otherwise load the machine meanwhile).
    const settleBy = Date.now() + 300_000;
    while (s.pids().length > baseProcesses + 2 && Date.now() < settleBy) await new Promise((r) => setTimeout(r, 500));
    progress(`${s.name}: ${s.pids().length} processes after the IDLE rounds (${baseProcesses} before)`);
    await new Promise((r) => setTimeout(r, 5000));
  }
  const c = await RawImap.connect(s.port);
  await c.greeting();
  await c.cmd(`LOGIN ${s.user} ${PASS}`);
  progress(`${s.name}: logged in`);
  // Cold: the first SELECT of the mailbox since the server started (Dovecot builds its index
  // here; Yubin reads the mailbox from the database). Then one untimed warm-up pass for both.
  const selectCold = await timed(() => c.cmd('SELECT INBOX'));
  say(s, 'SELECT INBOX, cold', `${selectCold.ms.toFixed(0)} ms`);
  // Untimed warm-up passes of every timed command (both servers: caches, Dovecot's index, and
  // Yubin's JIT, which takes a few rounds to compile the FETCH path: a server that has been
  // running is warm, and that is what the warm rows measure).
  for (let i = 0; i < WARMUP; i++) {
    await c.cmd('UID FETCH 1:* (UID FLAGS)');
    await c.cmd('UID SEARCH SUBJECT "message 777 of"');
    await c.cmd('UID SEARCH BODY "zebra555x"');
    await c.cmd('FETCH 1:1000 BODY.PEEK[]');
  }
  await c.cmd('UNSELECT');
  progress(`${s.name}: warm`);
  // The warm rows run REPEAT times each, in turn; each figure is the median (every time printed).
  const runs: Record<'select' | 'fetchFlags' | 'headerSearch' | 'bodySearch' | 'fetchBodies', number[]> = { select: [], fetchFlags: [], headerSearch: [], bodySearch: [], fetchBodies: [] };
  for (let round = 0; round < REPEAT; round++) {
    if (round) await c.cmd('UNSELECT');
    const select = await timed(() => c.cmd('SELECT INBOX'));
    if (!select.value.includes(`* ${DISTINCT * COPIES} EXISTS`)) throw new Error(`${s.name}: SELECT did not report ${DISTINCT * COPIES} messages`);
    runs.select.push(select.ms);
    runs.fetchFlags.push((await timed(() => c.cmd('UID FETCH 1:* (UID FLAGS)'))).ms);
    const headerSearch = await timed(() => c.cmd('UID SEARCH SUBJECT "message 777 of"'));
    if (!headerSearch.value.includes('* SEARCH ')) throw new Error(`${s.name}: header search found nothing`);
    runs.headerSearch.push(headerSearch.ms);
    const bodySearch = await timed(() => c.cmd('UID SEARCH BODY "zebra555x"'));
    if (!bodySearch.value.includes('* SEARCH ')) throw new Error(`${s.name}: body search found nothing`);
    runs.bodySearch.push(bodySearch.ms);
    runs.fetchBodies.push((await timed(() => c.cmd('FETCH 1:1000 BODY.PEEK[]'))).ms);
    progress(`${s.name}: warm round ${round + 1} of ${REPEAT} done`);
  }
  const median = (label: string, xs: number[]): number => {
    const sorted = [...xs].sort((a, b) => a - b);
    const m = sorted.length % 2 ? sorted[sorted.length >> 1]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
    say(s, label, `${m.toFixed(0)} ms (median of ${xs.map((x) => x.toFixed(0)).join(', ')})`);
    return m;
  };
  const select = { ms: median('SELECT INBOX, warm', runs.select) };
  const fetchFlags = { ms: median('UID FETCH 1:* (UID FLAGS)', runs.fetchFlags) };
  const headerSearch = { ms: median('UID SEARCH SUBJECT', runs.headerSearch) };
  const bodySearch = { ms: median('UID SEARCH BODY', runs.bodySearch) };
  const fetchBodies = { ms: median('FETCH 1:1000 BODY.PEEK[]', runs.fetchBodies) };
  await c.cmd('LOGOUT').catch(() => {});
  c.close();
  progress(`${s.name}: mixed load`);
  const mixedPerSec = await load(s, 'mixed');
  say(s, `${LOAD_CLIENTS}-client mixed load`, `${mixedPerSec.toFixed(0)} commands/s`);
  progress(`${s.name}: append load`);
  const appendPerSec = await load(s, 'append');
  say(s, `${LOAD_CLIENTS}-client APPEND`, `${appendPerSec.toFixed(0)} /s`);

  return { selectCold: selectCold.ms, select: select.ms, mixedPerSec, appendPerSec, fetchFlags: fetchFlags.ms, headerSearch: headerSearch.ms, bodySearch: bodySearch.ms, fetchBodies: fetchBodies.ms, idleKiB };
}

export async function benchImap(): Promise<{ yubin: Figures; dovecot: Figures | null }> {
  const messages = Array.from({ length: DISTINCT }, (_, i) => makeMessage(i + 1));
  console.log(`IMAP: ${DISTINCT * COPIES} messages in INBOX (${DISTINCT} distinct, ${COPIES} copies each), one connection; then ${IDLE} connections in IDLE`);
  const root = mkdtempSync(join(tmpdir(), 'yubin-bench-imap-'));
  chmodSync(root, 0o755);
  let yubin: Server | null = null;
  let dove: Server | null = null;
  try {
    yubin = await startYubinWith(join(root, 'yubin'), messages);
    const y = await measure(yubin);
    await yubin.stop();
    yubin = null;
    let d: Figures | null = null;
    let why = '';
    try {
      mkdirSync(join(root, 'dovecot'));
      dove = await startDovecot(join(root, 'dovecot'), messages);
      d = await measure(dove);
    } catch (err) {
      why = (err as Error).message;
      try {
        why += '\n  dovecot.log: ' + readFileSync(join(root, 'dovecot', 'dovecot.log'), 'utf8').trim().split('\n').slice(-5).join('\n  ');
      } catch {
        // no log
      }
    }
    const row = (label: string, a: number | null, b: number | null, unit: string) => {
      const ratio = a !== null && b !== null && b > 0 ? (a / b).toFixed(2) : '-';
      console.log(`  ${label.padEnd(34)} yubin ${a === null ? '-' : a.toFixed(0).padStart(8)} ${unit}   dovecot ${b === null ? '-' : b.toFixed(0).padStart(8)} ${unit}   ratio ${ratio}`);
    };
    row('SELECT INBOX, cold', y.selectCold, d?.selectCold ?? null, 'ms');
    row('SELECT INBOX, warm', y.select, d?.select ?? null, 'ms');
    row('UID FETCH 1:* (UID FLAGS)', y.fetchFlags, d?.fetchFlags ?? null, 'ms');
    row('UID SEARCH SUBJECT', y.headerSearch, d?.headerSearch ?? null, 'ms');
    row('UID SEARCH BODY', y.bodySearch, d?.bodySearch ?? null, 'ms');
    row('FETCH 1:1000 BODY.PEEK[]', y.fetchBodies, d?.fetchBodies ?? null, 'ms');
    const rate = (label: string, a: number, b: number | null) =>
      console.log(`  ${label.padEnd(34)} yubin ${a.toFixed(0).padStart(8)} /s   dovecot ${b === null ? '-' : b.toFixed(0).padStart(8)} /s   ratio ${b ? (a / b).toFixed(2) : '-'} (higher is better)`);
    rate(`${LOAD_CLIENTS}-client mixed load, commands`, y.mixedPerSec, d?.mixedPerSec ?? null);
    rate(`${LOAD_CLIENTS}-client APPEND`, y.appendPerSec, d?.appendPerSec ?? null);
    row(`memory of ${IDLE} IDLE connections`, y.idleKiB, d?.idleKiB ?? null, 'KiB');
    if (y.idleKiB !== null && IDLE) console.log(`  yubin: ${((y.idleKiB * 1024) / IDLE / 1024).toFixed(1)} KiB per idle connection${d?.idleKiB ? `, dovecot: ${((d.idleKiB * 1024) / IDLE / 1024).toFixed(1)} KiB` : ''}`);
    if (!d) console.log(`  dovecot not measured: ${why}`);
    console.log('  (ratio = yubin / dovecot; lower is better for time and memory, higher for rates)');
    return { yubin: y, dovecot: d };
  } finally {
    await dove?.stop();
    await yubin?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  benchImap().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
