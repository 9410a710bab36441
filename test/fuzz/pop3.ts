// POP3 fuzz target: random sessions (grammar-aware, AUTHORIZATION and TRANSACTION, plain and
// TLS) and byte-level mutations of them, through the socket-free session (src/pop3/session.ts).
//
// Properties, checked for every session:
//   - no unhandled rejection or uncaught exception, no error-level log line, no "Internal error";
//   - every complete line (RFC 1939 §3: up to LF; over 8192 octets one bad line) gets exactly one
//     response, in order (RFC 2449 §6.6 pipelining): "+OK"/"-ERR" status lines; a multi-line
//     response (CAPA, LIST and UIDL without argument, RETR, TOP, bare AUTH) runs to its "." line;
//     after a SASL challenge ("+ ", RFC 5034 §4) the next line is the client's response; after
//     STLS's +OK what the client had pipelined is dropped (RFC 2595 §4);
//   - the login summary counts what is really in the INBOX; RETR returns the stored message
//     byte for byte (unstuffed), TOP a prefix of it (RFC 1939 §7);
//   - the session closes only after a reason (the answer to QUIT, "too many bad commands"), or
//     after the client's FIN; an open session still answers CAPA after its input is completed;
//   - once closed: the maildrop lock is free (RFC 1939 §4), nothing is left in data/tmp, the
//     store's own check passes (counts and quota usage match the messages);
//   - the live heap does not grow with sessions.
import { createPop3Session } from '../../src/pop3/session.js';
import { createPop3TestContext, type Pop3TestContext } from '../helpers/pop3-context.js';
import {
  FuzzTransport,
  HeapBound,
  OutputReader,
  PropertyError,
  Rng,
  awaitClose,
  checkAfterClose,
  drive,
  errorCapturingLogger,
  mutate,
  resegment,
  runTarget,
  showPlan,
  type FuzzOptions,
  type Plan,
  type Segment,
  type Target,
} from './common.js';

/** src/pop3/wire.ts MAX_LINE_OCTETS: longer lines (with their LF) are one bad line. */
const MAX_LINE = 8192;
const REPLY_TIMEOUT = 15_000;
const ALICE_PW = 'secret pw';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const u = (s: string): Buffer => Buffer.from(s, 'utf8');

// ---- the generator ----

class Pop3Gen {
  readonly segs: Segment[] = [];
  constructor(
    private readonly r: Rng,
    private readonly tls: boolean,
    /** Messages in alice's INBOX now (for message numbers worth trying). */
    private readonly count: number,
  ) {}

  private cmd(line: string | Buffer, wait = 0.3): void {
    const body = typeof line === 'string' ? u(line) : line;
    const end = this.r.chance(0.95) ? '\r\n' : this.r.pick(['\n', '\r', '\r\r\n']);
    this.segs.push({ bytes: Buffer.concat([body, b(end)]), barrier: this.r.chance(wait) });
  }
  private num(): string {
    return this.r.chance(0.85) ? String(1 + this.r.int(this.count + 2)) : this.r.pick(['0', '-1', '1.5', 'x', '99999999999', '', '1 2', ' 1', '\t1', '٣']);
  }

  private login(): void {
    const user = this.r.pick(['alice@example.test', 'alice@example.test', 'ALICE@example.test', 'bob@example.test', 'nobody@example.test', '', 'a'.repeat(300)]);
    const pass = user.startsWith('bob') ? this.r.pick(['bobpw', 'wrong']) : this.r.pick([ALICE_PW, ALICE_PW, 'wrong', '', ' secret pw']);
    const plain = Buffer.from(`${this.r.pick(['', '', 'other@example.test'])}\0${user}\0${pass}`).toString('base64');
    switch (this.r.int(6)) {
      case 0:
      case 1:
        this.cmd(`USER ${user}`, 0.5);
        this.cmd(`PASS ${pass}`, 0.8);
        break;
      case 2:
        this.cmd(`AUTH PLAIN ${plain}`, 0.8);
        break;
      case 3:
        this.cmd(this.r.pick(['AUTH PLAIN', 'auth plain']), 0.8);
        this.cmd(this.r.pick([plain, plain, '*', '=', '!!', 'A'.repeat(9000)]), 0.8);
        break;
      case 4:
        this.cmd('AUTH LOGIN', this.r.chance(0.8) ? 1 : 0);
        this.cmd(Buffer.from(user).toString('base64'), this.r.chance(0.8) ? 1 : 0);
        this.cmd(this.r.chance(0.9) ? Buffer.from(pass).toString('base64') : '*', 0.8);
        break;
      default:
        this.cmd(this.r.pick(['AUTH', 'AUTH CRAM-MD5', 'AUTH PLAIN =', 'AUTH PLAIN *', 'AUTH PLAIN a b', 'APOP alice@example.test 0123456789abcdef', 'PASS', 'USER']), 0.5);
    }
  }

  private transaction(): void {
    switch (this.r.int(14)) {
      case 0:
        this.cmd('STAT');
        break;
      case 1:
        this.cmd(this.r.chance(0.5) ? 'LIST' : `LIST ${this.num()}`);
        break;
      case 2:
        this.cmd(this.r.chance(0.5) ? 'UIDL' : `UIDL ${this.num()}`);
        break;
      case 3:
      case 4:
        this.cmd(`RETR ${this.num()}`);
        break;
      case 5:
        this.cmd(`TOP ${this.num()} ${this.r.pick(['0', '1', '3', '100', '-1', 'x', ''])}`);
        break;
      case 6:
      case 7:
        this.cmd(`DELE ${this.num()}`);
        break;
      case 8:
        this.cmd(this.r.pick(['RSET', 'NOOP', 'RSET x', 'NOOP x', 'rset']));
        break;
      case 9:
        if (this.r.chance(0.3)) this.cmd('QUIT', 0.5);
        break;
      default:
        this.misc();
    }
  }

  private misc(): void {
    switch (this.r.int(10)) {
      case 0:
        this.cmd(this.r.pick(['CAPA', 'capa', 'CAPA x']));
        break;
      case 1:
        this.cmd(this.r.pick(['STLS', 'STLS', 'STLS x']), 0.8);
        break;
      case 2:
        this.cmd(this.r.pick(['UTF8', 'UTF8 x', 'XTND', 'LAST', 'TOP']));
        break;
      case 3:
        this.cmd('X'.repeat(this.r.pick([8189, 8190, 8191, 8192, 9000, 70_000])));
        break;
      case 4:
        this.segs.push({ bytes: this.r.bytes(this.r.int(100)), barrier: this.r.chance(0.3) });
        break;
      case 5:
        this.cmd(b('STAT\0'));
        break;
      case 6:
        this.cmd(b('USER \xff\xfe'));
        break;
      case 7:
        this.cmd('');
        break;
      default:
        this.cmd(this.r.pick(['HELO', 'NOOP', 'LIST', 'RETR 1', 'DELE 1', 'QUIT x', ' QUIT']));
    }
  }

  session(): Segment[] {
    if (this.r.chance(0.6)) {
      if (!this.tls) this.cmd('STLS', 1);
      this.cmd('USER alice@example.test', 0.5);
      this.cmd(`PASS ${ALICE_PW}`, 1);
    }
    const moves = 1 + this.r.int(15);
    for (let i = 0; i < moves; i++) {
      const k = this.r.int(10);
      if (k < 2) this.login();
      else if (k < 8) this.transaction();
      else this.misc();
    }
    return this.segs;
  }
}

export function pop3Plan(r: Rng, count: number): Plan {
  const tls = r.chance(0.5);
  let segments = new Pop3Gen(r, tls, count).session();
  if (r.chance(0.3)) segments = resegment(mutate(Buffer.concat(segments.map((s) => s.bytes)), r), r, 0.5);
  return {
    listener: tls ? 'pop3s' : 'pop3',
    tls,
    early: null,
    segments,
    end: r.chance(0.5) ? 'fin' : 'close',
    knobs: { maxBad: r.pick([3, 10, 1000]), probe: r.chance(0.7) ? 1 : 0 },
    chunkSeed: r.seed(),
    backpressure: r.chance(0.3) ? 0.2 : 0,
  };
}

// ---- the oracle ----

interface Snapshot {
  /** Each INBOX message (latin1), by message number - 1. */
  messages: string[];
  octets: number;
}

function args(line: string): { name: string; args: string[] } {
  // As src/pop3/wire.ts parseCommand: the keyword up to the first space, arguments split on SP/HTAB.
  const sp = line.indexOf(' ');
  const name = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
  const rest = sp < 0 ? '' : line.slice(sp + 1);
  return { name, args: rest.split(/[ \t]+/).filter((a) => a.length > 0) };
}

function multiLine(cmd: { name: string; args: string[] }): boolean {
  const n = cmd.name;
  return n === 'CAPA' || n === 'RETR' || n === 'TOP' || ((n === 'LIST' || n === 'UIDL' || n === 'AUTH') && cmd.args.length === 0);
}

class Pop3Oracle {
  private pos = 0;
  mode: 'greeting' | 'command' | 'sasl' | 'closed' = 'greeting';
  private tlsSeen = 0;
  last = '';
  /** Whose maildrop is open (by the login summary). */
  private account: 'alice' | 'bob' | null = null;

  constructor(
    private readonly t: FuzzTransport,
    private readonly out: OutputReader,
    private readonly snaps: { alice: Snapshot; bob: Snapshot },
  ) {}

  /** Through a method: the mode changes across awaits, which narrowing does not see. */
  isClosed(): boolean {
    return this.mode === 'closed';
  }

  get pending(): number {
    return this.t.input().length - this.pos;
  }
  get atCommand(): boolean {
    return this.mode === 'command' && this.pending === 0;
  }

  private async line(what: string): Promise<string | null> {
    const l = await this.out.line(what);
    if (l === null && !this.t.byClient) throw new PropertyError('closed-without-reason', `the connection closed without answering ${what} (last response ${JSON.stringify(this.last)})`);
    return l;
  }

  private async response(what: string, cmd: { name: string; args: string[] } | null): Promise<string | null> {
    const l = await this.line(what);
    if (l === null) return null;
    if (!/^(\+OK|-ERR)( |$)|^\+ [A-Za-z0-9+/=]*$/.test(l)) throw new PropertyError('malformed-response', `${JSON.stringify(l)} in answer to ${what}`);
    if (/internal error/i.test(l)) throw new PropertyError('internal-error', `${l} in answer to ${what}`);
    this.last = l;
    if (l.startsWith('+OK') && cmd && multiLine(cmd)) {
      const body: string[] = [];
      for (;;) {
        const x = await this.line(`the rest of the multi-line answer to ${what}`);
        if (x === null) return null;
        if (x === '.') break;
        // RFC 1939 §3: a line starting with "." is byte-stuffed.
        body.push(x.startsWith('.') ? x.slice(1) : x);
      }
      this.checkContent(cmd, body, what);
    }
    if (l.startsWith('+OK Logged in')) this.checkLogin(l);
    if (this.closing(l, cmd)) {
      await awaitClose(this.t, 5000, `${JSON.stringify(l)}`);
      const rest = this.out.rest();
      if (rest.length) throw new PropertyError('output-after-close', `${JSON.stringify(rest.toString('latin1').slice(0, 200))} after ${l}`);
      this.mode = 'closed';
    }
    return l;
  }

  private closing(l: string, cmd: { name: string } | null): boolean {
    // RFC 1939 §6: QUIT's answer (+OK, or -ERR when the deletions failed) ends the session.
    return /^-ERR Too many bad commands/.test(l) || (cmd?.name === 'QUIT' && (l.startsWith('+OK') || l.startsWith('-ERR [SYS/TEMP]')));
  }

  private checkLogin(l: string): void {
    const m = /maildrop has (\d+) messages? \((\d+) octets\)/.exec(l);
    if (!m) throw new PropertyError('login-summary', l);
    const [n, o] = [Number(m[1]), Number(m[2])];
    for (const who of ['alice', 'bob'] as const) {
      const s = this.snaps[who];
      if (s.messages.length === n && s.octets === o) {
        this.account = who;
        return;
      }
    }
    throw new PropertyError('login-summary', `${l} matches no INBOX (alice ${this.snaps.alice.messages.length}/${this.snaps.alice.octets})`);
  }

  private checkContent(cmd: { name: string; args: string[] }, body: string[], what: string): void {
    if (cmd.name !== 'RETR' && cmd.name !== 'TOP') return;
    const msg = this.account ? this.snaps[this.account].messages[Number(cmd.args[0]) - 1] : undefined;
    if (msg === undefined) throw new PropertyError('content', `+OK to ${what} but no such message in the snapshot`);
    const got = body.map((x) => x + '\r\n').join('');
    const full = msg.endsWith('\r\n') ? msg : msg + '\r\n';
    if (cmd.name === 'RETR' ? got !== full : !full.startsWith(got)) {
      throw new PropertyError('content', `${what}: got ${JSON.stringify(got.slice(0, 200))} (${got.length}), stored ${JSON.stringify(full.slice(0, 200))} (${full.length})`);
    }
  }

  async advance(): Promise<void> {
    for (;;) {
      if (this.isClosed() || this.t.byClient) return;
      if (this.mode === 'greeting') {
        const l = await this.response('the connection (greeting)', null);
        if (l === null) return;
        if (!l.startsWith('+OK')) throw new PropertyError('greeting', l);
        this.mode = 'command';
        continue;
      }
      const input = this.t.input();
      const lf = input.indexOf(0x0a, this.pos);
      if (lf < 0) break;
      const raw = input.subarray(this.pos, lf + 1);
      this.pos = lf + 1;
      const sasl = this.mode === 'sasl';
      let text = raw.toString('latin1').replace(/\r?\n$/, '');
      const tooLong = raw.length > MAX_LINE;
      if (tooLong) text = '';
      const cmd = sasl || tooLong ? null : args(Buffer.from(text, 'latin1').toString('utf8'));
      const what = tooLong ? `a line of ${raw.length} octets` : `${sasl ? 'SASL response ' : ''}${JSON.stringify(text.slice(0, 80))}`;
      const l = await this.response(what, cmd);
      if (l === null || this.isClosed()) return;
      this.mode = l.startsWith('+ ') ? 'sasl' : 'command';
      if (cmd?.name === 'STLS' && l.startsWith('+OK')) {
        // RFC 2595 §4: what the client had sent when the handshake started is dropped.
        const mark = await this.t.handshake(++this.tlsSeen);
        if (mark === null) {
          if (!this.t.byClient) throw new PropertyError('closed-without-reason', 'the connection closed after the go-ahead for TLS');
          return;
        }
        this.pos = Math.max(this.pos, mark);
      }
    }
    if (!this.isClosed() && this.out.hasLine()) {
      const l = await this.response('nothing (an unsolicited response)', null);
      if (l !== null && !this.isClosed()) throw new PropertyError('unsolicited', `unsolicited response ${l}`);
    }
  }

  completion(): Buffer | null {
    if (this.pending > 0) return b('\r\n');
    if (this.mode === 'sasl') return b('*\r\n');
    return null;
  }
}

// ---- the target ----

interface Pop3Env {
  c: Pop3TestContext;
  errors: () => string[];
}

let lastOut = '';

const BIG = 'Subject: big\r\n\r\n' + ('.' + 'z'.repeat(120) + '\r\n').repeat(1500);

async function snapshot(c: Pop3TestContext, accountId: number): Promise<Snapshot> {
  const inbox = (await c.store.getMailbox(accountId, 'INBOX'))!;
  const msgs = await c.store.listMessages(inbox.id);
  const messages = await Promise.all(msgs.map(async (m) => (await c.store.blobs.read(m.blobId)).toString('latin1')));
  return { messages, octets: msgs.reduce((n, m) => n + m.size, 0) };
}

async function runSession(e: Pop3Env, plan: Plan): Promise<void> {
  const { c } = e;
  (c.ctx.config.pop3 as { max_bad_commands: number }).max_bad_commands = plan.knobs.maxBad ?? 10;
  const snaps = { alice: await snapshot(c, c.alice.id), bob: await snapshot(c, c.bob.id) };
  const rng = new Rng(plan.chunkSeed);
  const t = new FuzzTransport(plan.listener, { tls: plan.tls, port: plan.tls ? 995 : 110, id: `fz${plan.chunkSeed}` }, rng, plan.backpressure);
  const out = new OutputReader(t, REPLY_TIMEOUT);
  const oracle = new Pop3Oracle(t, out, snaps);
  try {
    t.attach((tr) => createPop3Session(c.ctx, tr));
    await drive(t, out, oracle, plan, rng, { line: 'CAPA', answered: () => oracle.last.startsWith('+OK'), what: () => oracle.last });
    // RFC 1939 §4: once the session is gone, so is its lock on the maildrop.
    for (const id of [c.alice.id, c.bob.id]) {
      const unlock = await c.store.lockMaildrop(id);
      if (!unlock) throw new PropertyError('lock', `the maildrop of account ${id} is still locked after the session closed`);
      await unlock();
    }
    await checkAfterClose(c.ctx.config.data_dir, c.store, e.errors());
  } finally {
    lastOut = t.output().toString('latin1');
    if (process.env.FUZZ_DEBUG) console.log(showPlan(plan).slice(0, 1500) + '\n=> ' + lastOut.slice(0, 1500));
    t.clientClose();
  }
}

const target: Target<Pop3Env> = {
  protocol: 'pop3',
  async setup() {
    const c = await createPop3TestContext({ auth: { throttle_free_failures: 1_000_000, throttle_max_failures: 1_000_000 } });
    const cap = errorCapturingLogger();
    c.ctx.logger = cap.logger;
    return { c, errors: cap.take };
  },
  async teardown(e) {
    await e.c.close();
  },
  plan(e, r) {
    // Deterministic from the seed: the plan is made before the INBOX is topped up (count unknown here).
    return pop3Plan(r, 5);
  },
  async run(e, plan) {
    // Keep real messages in alice's INBOX: dot-stuffing edge cases, and one over the streaming threshold.
    const { c } = e;
    const inbox = (await c.store.getMailbox(c.alice.id, 'INBOX'))!;
    const have = await c.store.listMessages(inbox.id);
    if (!have.some((m) => m.size > 128 * 1024)) await c.deliver(c.alice, BIG);
    const small = ['Subject: a\r\n\r\n.\r\n..\r\n.x\r\nend\r\n', 'Subject: b\r\n\r\nno final line end', 'Subject: c\r\n\r\n', 'Subject: d\r\nX-Long: ' + 'y'.repeat(2000) + '\r\n\r\nbody\r\n.\r\n'];
    for (let i = have.length; i < 5; i++) await c.deliver(c.alice, small[i % small.length]!);
    await runSession(e, plan);
  },
  lastOutput: () => lastOut,
};

/** Runs POP3 sessions from `seed`; throws FuzzFailure (seed, minimal transcript, output) on a violated property. */
export async function fuzzPop3(opts: FuzzOptions): Promise<void> {
  await runTarget(target, opts, new HeapBound(64 * 1024 * 1024));
}
