// What every protocol fuzz target shares (test/fuzz/smtp.ts, pop3.ts): a seeded PRNG, a socket-free
// Transport that records what the client sent and what the server wrote, a reader of the server's
// output with a timeout, byte-level mutations, chunked feeding, the process-wide guards (unhandled
// rejections and exceptions, error-level log lines), the memory bound, and the failure report.
//
// A target runs "plans": one plan is one session (which listener, the client's input in segments,
// how it ends). A segment with `barrier` makes the client wait until every complete command sent
// so far has been answered, as a real client waits after DATA or EHLO; without barriers the
// input is pipelined. A failing plan is shrunk (segments dropped, bytes cut) before it is reported.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ListenerName } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/log/logger.js';
import type { Session, TlsInfo, Transport } from '../../src/net/transport.js';

export interface FuzzOptions {
  seed: number;
  /** Sessions to run (default 50); the run stops earlier at `deadline`. */
  iterations?: number;
  /** Date.now() after which no new session starts. */
  deadline?: number;
  log?: (s: string) => void;
}

// ---- PRNG ----

/** mulberry32: a tiny seeded PRNG, good enough to pick inputs (not for anything secret). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** 0 <= n < max */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  /** lo <= n <= hi */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** A fresh 32-bit seed for a sub-generator. */
  seed(): number {
    return this.int(0x100000000);
  }
}

// ---- the plan of one session ----

export interface Segment {
  bytes: Buffer;
  /** After sending this segment, wait until everything complete has been answered. */
  barrier: boolean;
}

export interface Plan {
  listener: ListenerName;
  tls: boolean;
  /** Bytes sent before the greeting (an early talker). */
  early: Buffer | null;
  segments: Segment[];
  /** How the client leaves: FIN after its input, or drop the connection. */
  end: 'fin' | 'close';
  /** Protocol settings for this session (error limits, whether to probe at the end...). */
  knobs: Record<string, number>;
  /** Seed of the chunking and of the output backpressure. */
  chunkSeed: number;
  /** Probability that a server write reports a slow reader (exercises output backpressure). */
  backpressure: number;
}

export function showBytes(b: Buffer, max = 400): string {
  const s = JSON.stringify(b.subarray(0, max).toString('latin1'));
  return b.length > max ? `${s}... (${b.length} octets)` : s;
}

/** The plan as a transcript a human (or a regression test) can replay. */
export function showPlan(p: Plan): string {
  const lines = [`listener ${p.listener}${p.tls ? ' (TLS)' : ''}, end: ${p.end}, knobs ${JSON.stringify(p.knobs)}, chunkSeed ${p.chunkSeed}, backpressure ${p.backpressure}`];
  if (p.early) lines.push(`before greeting: ${showBytes(p.early)}`);
  for (const s of p.segments) lines.push(`C${s.barrier ? '|' : ' '} ${showBytes(s.bytes)}`);
  return lines.join('\n');
}

// ---- a violated property ----

export class PropertyError extends Error {
  constructor(
    /** A short stable name of the property, so shrinking keeps the same failure. */
    readonly property: string,
    message: string,
  ) {
    super(`${property}: ${message}`);
    this.name = 'PropertyError';
  }
}

export class FuzzFailure extends Error {
  constructor(
    readonly protocol: string,
    readonly seed: number,
    readonly iteration: number,
    readonly failure: Error,
    readonly transcript: string,
    readonly output: string,
  ) {
    super(`${protocol} fuzz failed (seed ${seed}, session ${iteration}): ${failure.message}\n--- client input (minimal plan found) ---\n${transcript}\n--- server output ---\n${output}`);
    this.name = 'FuzzFailure';
  }
}

// ---- transport ----

const TLS: TlsInfo = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', servername: null };

/** A Transport for fuzzing: raw output bytes, the client's byte count at each TLS handshake, pause state, random backpressure. */
export class FuzzTransport implements Transport {
  readonly id: string;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 40000;
  readonly localAddress = '127.0.0.1';
  readonly localPort: number;
  tls: TlsInfo | null;
  closed = false;
  /** Who closed: the server (the session) or the client (the fuzzer). */
  closedBy: 'server' | 'client' | null = null;
  paused = false;
  /** Octets the client has sent. */
  sent = 0;
  /** `sent` at each STARTTLS/STLS handshake: what was buffered then is dropped by the session. */
  readonly tlsMarks: number[] = [];
  private out: Buffer[] = [];
  private inp: Buffer[] = [];
  outLength = 0;
  private waiters: Array<() => void> = [];
  session: Session | null = null;

  constructor(
    readonly listener: ListenerName,
    opts: { tls: boolean; port: number; id: string },
    private readonly rng: Rng,
    private readonly backpressure: number,
  ) {
    this.id = opts.id;
    this.localPort = opts.port;
    this.tls = opts.tls ? TLS : null;
  }

  attach(factory: (t: Transport) => Session): void {
    this.session = factory(this);
    this.session.start();
  }

  write(data: string | Uint8Array): boolean {
    if (this.closed) return false;
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    this.out.push(b);
    this.outLength += b.length;
    this.notify();
    return !(this.backpressure > 0 && this.rng.chance(this.backpressure));
  }
  drain(): Promise<void> {
    return new Promise((r) => setImmediate(r));
  }
  async startTls(): Promise<TlsInfo> {
    this.tlsMarks.push(this.sent);
    this.tls = TLS;
    this.notify();
    return TLS;
  }

  /**
   * After the go-ahead to STARTTLS/STLS a real client starts the handshake and sends nothing else
   * until it is done: waits for the session to start handshake number `n` (1-based); returns the
   * client's byte count then (everything before it was dropped), or null if the connection closed.
   */
  async handshake(n: number, ms = 5000): Promise<number | null> {
    const deadline = Date.now() + ms;
    while (this.tlsMarks.length < n) {
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new PropertyError('no-handshake', 'the go-ahead for TLS was sent but the handshake never started');
      await this.changed(left);
    }
    return this.tlsMarks[n - 1]!;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.notify();
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closedBy ??= 'server';
    this.notify();
    this.session?.closed();
  }
  /** The client drops the connection. */
  clientClose(): void {
    if (this.closed) return;
    this.closedBy = 'client';
    this.close();
  }

  get byClient(): boolean {
    return this.closedBy === 'client';
  }

  /** Client bytes (only while not closed). */
  send(b: Buffer): void {
    if (this.closed || !b.length) return;
    this.sent += b.length;
    this.inp.push(Buffer.from(b));
    this.session!.ingest(b);
  }

  /** Everything the client has sent. */
  input(): Buffer {
    if (this.inp.length > 1) this.inp = [Buffer.concat(this.inp)];
    return this.inp[0] ?? Buffer.alloc(0);
  }
  /** FIN from the client. */
  fin(): void {
    if (!this.closed) this.session?.peerEnd?.();
  }

  output(): Buffer {
    if (this.out.length > 1) this.out = [Buffer.concat(this.out)];
    return this.out[0] ?? Buffer.alloc(0);
  }

  /** Resolves on the next write, resume or close (or after ms). */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Reads the server's output line by line (CRLF), waiting with a time limit. */
export class OutputReader {
  pos = 0;
  constructor(
    private readonly t: FuzzTransport,
    private readonly timeoutMs: number,
  ) {}

  /** A complete line is already there. */
  hasLine(): boolean {
    return this.t.output().indexOf('\r\n', this.pos, 'latin1') >= 0;
  }

  /** The next line (latin1, without CRLF); null when the connection closed first. Throws after the time limit. */
  async line(what: string): Promise<string | null> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const out = this.t.output();
      const i = out.indexOf('\r\n', this.pos, 'latin1');
      if (i >= 0) {
        const l = out.subarray(this.pos, i).toString('latin1');
        this.pos = i + 2;
        return l;
      }
      if (this.t.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new PropertyError('no-answer', `no answer within ${this.timeoutMs} ms to ${what}`);
      await this.t.changed(left);
    }
  }

  /** Output not read yet. */
  rest(): Buffer {
    return this.t.output().subarray(this.pos);
  }
}

/** Waits (a limited time) until the session closes the connection. */
export async function awaitClose(t: FuzzTransport, ms: number, why: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!t.closed) {
    const left = deadline - Date.now();
    if (left <= 0) throw new PropertyError('no-close', `the connection was not closed after ${why}`);
    await t.changed(left);
  }
}

/** Sends bytes in random chunks; yields to the event loop now and then; respects the session's pause. */
export async function feed(t: FuzzTransport, bytes: Buffer, rng: Rng): Promise<void> {
  for (let pos = 0; pos < bytes.length && !t.closed; ) {
    const deadline = Date.now() + 10_000;
    while (t.paused && !t.closed) {
      if (Date.now() > deadline) throw new PropertyError('stuck-paused', 'the session paused its input and never resumed');
      await t.changed(100);
    }
    const max = rng.pick([1, 7, 64, 512, 4096, 65536]);
    const n = 1 + rng.int(max);
    t.send(bytes.subarray(pos, pos + n));
    pos += n;
    const r = rng.next();
    if (r < 0.15) await new Promise((res) => setImmediate(res));
    else if (r < 0.2) await new Promise((res) => setTimeout(res, 0));
  }
}

/** What drive() needs of a protocol's oracle. */
export interface Oracle {
  /** Accounts for every complete command sent so far, awaiting each answer. */
  advance(): Promise<void>;
  /** Back in the command state with no partial input. */
  readonly atCommand: boolean;
  readonly mode: string;
  /** Bytes that bring the session back to the command state; null when there are none. */
  completion(): Buffer | null;
}

/**
 * Drives one session through a plan: the segments (with barriers), then, when the plan says so,
 * a probe (the partial input completed, then `probe` must be answered as `answered` says), then
 * the client's FIN (the session must answer what it has and close) or the client's close.
 */
export async function drive(t: FuzzTransport, out: OutputReader, oracle: Oracle, plan: Plan, rng: Rng, probe: { line: string; answered: () => boolean; what: () => string }): Promise<void> {
  await oracle.advance();
  for (const seg of plan.segments) {
    if (t.closed) break;
    await feed(t, seg.bytes, rng);
    if (seg.barrier) await oracle.advance();
  }
  await oracle.advance();
  if (plan.knobs.probe && !t.closed) {
    for (let i = 0; i < 6 && !t.closed && !oracle.atCommand; i++) {
      const c = oracle.completion();
      if (!c) break;
      t.send(c);
      await oracle.advance();
    }
    if (!t.closed) {
      if (!oracle.atCommand) throw new PropertyError('probe', `the session did not come back to the command state (${oracle.mode})`);
      t.send(Buffer.from(probe.line + '\r\n', 'latin1'));
      await oracle.advance();
      if (!t.closed && !probe.answered()) throw new PropertyError('probe', `${probe.line} answered ${probe.what()}`);
    }
  }
  if (t.closed) return;
  if (plan.end === 'fin') {
    t.fin();
    // The session answers what it has, then ends at once (src/net/line-session.ts peerEnd).
    await oracle.advance();
    await awaitClose(t, 5000, 'the client sent FIN');
    if (out.rest().length) throw new PropertyError('output-after-close', JSON.stringify(out.rest().toString('latin1').slice(0, 200)));
  } else {
    t.clientClose();
  }
}

/** After the session closed: nothing in data/tmp, the store's own check passes, no error was logged. */
export async function checkAfterClose(dataDir: string, store: { verify?(): Promise<{ problems: string[]; tempFiles: number }> }, errors: string[]): Promise<void> {
  await expectEmptyDir(join(dataDir, 'tmp'), 'data/tmp');
  const v = await store.verify?.();
  if (v && v.problems.length) throw new PropertyError('store', v.problems.join('; '));
  if (v && v.tempFiles) throw new PropertyError('leftover-files', `${v.tempFiles} temporary store files after the session closed`);
  if (errors.length) throw new PropertyError('error-log', errors.join('\n'));
}

// ---- mutations ----

const INTERESTING = ['\r\n', '\n', '\r', '\0', '.', '.\r\n', '\r\n.\r\n', '\r\n\r\n', ' ', '\t', '\xff', '=', '*', '{', '<', '>', '"', '\\', '%'];

/** Byte-level mutations of a valid transcript: flips, inserts, deletions, duplications. */
export function mutate(input: Buffer, rng: Rng): Buffer {
  let b = Buffer.from(input);
  const n = 1 + rng.int(6);
  for (let i = 0; i < n; i++) {
    const at = b.length ? rng.int(b.length) : 0;
    switch (rng.int(7)) {
      case 0:
        if (b.length) b[at] = b[at]! ^ (1 << rng.int(8));
        break;
      case 1:
        if (b.length) b[at] = rng.int(256);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(INTERESTING), 'latin1'), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16)))]);
        break;
      case 4: {
        const len = 1 + rng.int(64);
        const piece = b.subarray(at, at + len);
        b = Buffer.concat([b.subarray(0, at), piece, piece, b.subarray(at)]);
        break;
      }
      case 5:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
        break;
      default: {
        // Swap two lines' worth of bytes.
        const other = rng.int(b.length + 1);
        const [x, y] = at < other ? [at, other] : [other, at];
        b = Buffer.concat([b.subarray(0, x), b.subarray(y, Math.min(b.length, y + (y - x))), b.subarray(x, y), b.subarray(Math.min(b.length, y + (y - x)))]);
      }
    }
  }
  return b;
}

/** Cuts bytes into segments at line ends, a barrier after some of them (so mutated input still reaches deep states). */
export function resegment(bytes: Buffer, rng: Rng, barrierChance: number): Segment[] {
  const out: Segment[] = [];
  let start = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
    if (rng.chance(barrierChance)) {
      out.push({ bytes: bytes.subarray(start, i + 1), barrier: true });
      start = i + 1;
    }
  }
  if (start < bytes.length) out.push({ bytes: bytes.subarray(start), barrier: rng.chance(0.5) });
  return out;
}

// ---- process-wide guards ----

/** Records unhandled rejections and uncaught exceptions while installed. */
export class ProcessGuard {
  readonly errors: string[] = [];
  private readonly onRejection = (reason: unknown): void => {
    this.errors.push(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
  };
  private readonly onException = (err: Error): void => {
    this.errors.push(`uncaught exception: ${err.stack ?? err.message}`);
  };
  constructor() {
    process.on('unhandledRejection', this.onRejection);
    process.on('uncaughtException', this.onException);
  }
  /** Throws if anything was recorded since the last check. */
  check(): void {
    const e = this.errors.splice(0);
    if (e.length) throw new PropertyError('unhandled', e.join('\n'));
  }
  dispose(): void {
    process.off('unhandledRejection', this.onRejection);
    process.off('uncaughtException', this.onException);
  }
}

/** A logger that keeps error-level (and fatal) lines: a session that logs an error met an unexpected exception. */
export function errorCapturingLogger(): { logger: Logger; take(): string[] } {
  let lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(l);
      cb();
    },
  });
  return {
    logger: createLogger('error', sink),
    take() {
      const l = lines;
      lines = [];
      return l;
    },
  };
}

// ---- resources ----

/** Files left in `dir` (none expected once a session has closed); waits a little for async cleanup. */
export async function expectEmptyDir(dir: string, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    if (!names.length) return;
    if (Date.now() > deadline) throw new PropertyError('leftover-files', `${what} still holds ${names.join(', ')} after the session closed`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Live heap after a full collection. */
export function liveHeap(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** The heap after warm-up must not keep growing with sessions (a leak per session). */
export class HeapBound {
  private base = 0;
  private samples = 0;
  constructor(private readonly maxGrowth: number) {}
  sample(iteration: number): void {
    // Skip the first sessions: caches, compiled code and pools settle first.
    if (iteration === 3) this.base = liveHeap();
    if (iteration > 3 && iteration % 10 === 0) {
      this.samples++;
      const now = liveHeap();
      if (now - this.base > this.maxGrowth) {
        throw new PropertyError('memory', `live heap grew by ${Math.round((now - this.base) / 1024)} KB over ${iteration - 3} sessions (limit ${Math.round(this.maxGrowth / 1024)} KB)`);
      }
    }
  }
}

// ---- the loop ----

export interface Target<E> {
  protocol: string;
  setup(): Promise<E>;
  teardown(env: E): Promise<void>;
  /** A random plan for the session number `i`. */
  plan(env: E, rng: Rng, i: number): Plan;
  /** Runs one session; throws PropertyError on a violated property. Returns the server output. */
  run(env: E, plan: Plan): Promise<void>;
  /** The server output of the last run (for the report). */
  lastOutput(): string;
}

/** Drops segments and cuts bytes while the same property still fails; bounded in runs and time. */
async function shrink(runOnce: (p: Plan) => Promise<void>, plan: Plan, property: string, log: (s: string) => void): Promise<{ plan: Plan; error: Error }> {
  let best = plan;
  let bestErr: Error = new PropertyError(property, '(not reproduced while shrinking)');
  let runs = 0;
  const stopAt = Date.now() + 60_000;
  const fails = async (p: Plan): Promise<boolean> => {
    if (runs++ > 300 || Date.now() > stopAt) return false;
    try {
      await runOnce(p);
      return false;
    } catch (err) {
      if (err instanceof PropertyError && err.property === property) {
        bestErr = err;
        return true;
      }
      return false;
    }
  };
  if (!(await fails(best))) {
    log(`  (the failure did not reproduce on a second run: timing-dependent)`);
    return { plan: best, error: bestErr };
  }
  // Remove chunks of segments, halving the chunk size (ddmin-like).
  for (let size = Math.ceil(best.segments.length / 2); size >= 1; size = Math.floor(size / 2)) {
    for (let i = 0; i + size <= best.segments.length; ) {
      const cand = { ...best, segments: [...best.segments.slice(0, i), ...best.segments.slice(i + size)] };
      if (await fails(cand)) best = cand;
      else i += size;
    }
  }
  // Cut the tail of each segment.
  for (let i = 0; i < best.segments.length; i++) {
    for (let keep = best.segments[i]!.bytes.length >> 1; keep > 0; keep >>= 1) {
      const segs = [...best.segments];
      segs[i] = { ...segs[i]!, bytes: segs[i]!.bytes.subarray(0, keep) };
      const cand = { ...best, segments: segs };
      if (await fails(cand)) {
        best = cand;
        keep = cand.segments[i]!.bytes.length;
      }
    }
  }
  for (const simpler of [{ backpressure: 0 }, { early: null }] as const) {
    const cand = { ...best, ...simpler };
    if (JSON.stringify(cand) !== JSON.stringify(best) && (await fails(cand))) best = cand;
  }
  // Run the result once more, so the output reported is its own.
  runs = 0;
  await fails(best);
  return { plan: best, error: bestErr };
}

export async function runTarget<E>(target: Target<E>, opts: FuzzOptions, heap: HeapBound): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const rng = new Rng(opts.seed);
  const iterations = opts.iterations ?? 50;
  const guard = new ProcessGuard();
  const env = await target.setup();
  const runOnce = async (p: Plan): Promise<void> => {
    try {
      await target.run(env, p);
    } finally {
      // A rejection surfaces on a later tick: give it one before checking.
      await new Promise((r) => setImmediate(r));
    }
    guard.check();
  };
  try {
    for (let i = 0; i < iterations; i++) {
      if (opts.deadline !== undefined && Date.now() > opts.deadline) break;
      const plan = target.plan(env, rng, i);
      try {
        await runOnce(plan);
        heap.sample(i);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        log(`${target.protocol} seed ${opts.seed} session ${i}: ${e.message.split('\n')[0]}; shrinking`);
        let report = { plan, error: e, output: target.lastOutput() };
        if (e instanceof PropertyError && e.property !== 'memory') {
          const s = await shrink(runOnce, plan, e.property, log);
          report = { ...s, output: target.lastOutput() };
        }
        throw new FuzzFailure(target.protocol, opts.seed, i, report.error, showPlan(report.plan), report.output);
      }
    }
  } finally {
    guard.dispose();
    await target.teardown(env);
  }
}
