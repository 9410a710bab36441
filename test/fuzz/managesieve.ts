// ManageSieve fuzz target: random sessions (grammar-aware: before authentication, STARTTLS,
// inside AUTHENTICATE, mid-literal, after login) and byte-level mutations of them, through the
// socket-free session (src/managesieve/session.ts).
//
// Properties, checked for every session:
//   - no unhandled rejection or uncaught exception, no error-level log line, no "Internal error";
//   - every complete command (RFC 5804 §4: a line, continued after each literal {n+}/{n}; the
//     oracle frames the client's input with the same limits as the session) gets exactly one
//     response, in order: data lines (capabilities, script lists, GETSCRIPT's literal) and then
//     one status line OK/NO/BYE (RFC 5804 §1.2); inside AUTHENTICATE a challenge (a string on its
//     own line, RFC 5804 §2.1) makes the next command the client's SASL response; after STARTTLS's
//     OK what the client had pipelined is dropped (RFC 5804 §2.2), then the capabilities and OK;
//   - the session closes only after a reason (BYE, or OK to LOGOUT) or after the client's FIN; an
//     open session still answers NOOP once its input is completed (a literal finished, a SASL
//     exchange cancelled with "*");
//   - once closed: nothing is left in data/tmp, the store's own check passes;
//   - the live heap does not grow with sessions.
import { createManageSieveSession } from '../../src/managesieve/session.js';
import { ManageSieveFramer } from '../../src/managesieve/wire.js';
import { createMsTestContext, plain, type MsTestContext } from '../integration/managesieve-context.js';
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

const REPLY_TIMEOUT = 15_000;
const MAX_SCRIPT = 2048;
const MAX_LINE = 4096;
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const u = (s: string): Buffer => Buffer.from(s, 'utf8');

const SCRIPTS = [
  'keep;\r\n',
  'require "fileinto";\r\nif header :contains "subject" "x" { fileinto "X"; }\r\n',
  'require ["vacation"];\r\nvacation :days 1 "away";\r\n',
  'if true {',
  'require "nope";\r\n',
  '',
  'x'.repeat(MAX_SCRIPT + 1),
  'discard;\r\n\u00e9\r\n',
];

// ---- the generator ----

class MsGen {
  readonly segs: Segment[] = [];
  constructor(private readonly r: Rng) {}

  private raw(bytes: Buffer, wait = 0.3): void {
    this.segs.push({ bytes, barrier: this.r.chance(wait) });
  }
  private cmd(line: string | Buffer, wait = 0.3): void {
    const body = typeof line === 'string' ? u(line) : line;
    const end = this.r.chance(0.95) ? '\r\n' : this.r.pick(['\n', '\r', '\r\r\n']);
    this.raw(Buffer.concat([body, b(end)]), wait);
  }
  private name(): string {
    return this.r.pick(['a', 'b', 'work', 'vacation', '', 'a b', 'x'.repeat(300), '\u00e9t\u00e9', 'a\\"b']);
  }
  private quoted(s: string): string {
    return `"${s.replace(/[\\"]/g, (c) => '\\' + c)}"`;
  }
  /** A string argument: quoted, or a literal {n+}/{n} (sometimes with the wrong count, or cut short mid-literal). */
  private str(s: string): Buffer[] {
    const v = u(s);
    const k = this.r.int(10);
    if (k < 4 && v.length < 1000 && !/[\r\n\0]/.test(s)) return [u(this.quoted(s))];
    const n = this.r.chance(0.9) ? v.length : Math.max(0, v.length + this.r.range(-3, 3));
    return [b(`{${n}${this.r.chance(0.7) ? '+' : ''}}\r\n`), v];
  }

  private login(): void {
    const pw = this.r.pick(['secret pw', 'secret pw', 'wrong', '']);
    const user = this.r.pick(['alice@example.test', 'alice@example.test', 'bob@example.test', 'nobody@example.test']);
    const pass = user.startsWith('bob') ? 'bobpw' : pw;
    switch (this.r.int(5)) {
      case 0:
      case 1:
        this.cmd(`AUTHENTICATE "PLAIN" "${plain(user, pass)}"`, 0.8);
        break;
      case 2:
        // inside AUTHENTICATE: the challenge, then the response (or "*", or garbage)
        this.cmd('AUTHENTICATE "PLAIN"', 0.8);
        this.cmd(this.r.pick([`"${plain(user, pass)}"`, '"*"', '"!!"', 'NOOP', `{${plain(user, pass).length}+}\r\n${plain(user, pass)}`, '']), 0.8);
        break;
      case 3:
        this.cmd('AUTHENTICATE "LOGIN"', 0.8);
        this.cmd(`"${Buffer.from(user).toString('base64')}"`, 0.8);
        this.cmd(this.r.chance(0.9) ? `"${Buffer.from(pass).toString('base64')}"` : '"*"', 0.8);
        break;
      default:
        this.cmd(this.r.pick(['AUTHENTICATE', 'AUTHENTICATE "CRAM-MD5"', 'AUTHENTICATE "PLAIN" "="', 'AUTHENTICATE PLAIN', 'AUTHENTICATE "PLAIN" "a" "b"']), 0.5);
    }
  }

  private scripts(): void {
    const script = this.r.pick(SCRIPTS);
    switch (this.r.int(12)) {
      case 0:
      case 1:
        this.raw(Buffer.concat([b('PUTSCRIPT '), ...this.str(this.name()), b(' '), ...this.str(script), b('\r\n')]), 0.5);
        break;
      case 2:
        this.raw(Buffer.concat([b('CHECKSCRIPT '), ...this.str(script), b('\r\n')]), 0.5);
        break;
      case 3:
        this.cmd('LISTSCRIPTS');
        break;
      case 4:
        this.cmd(`SETACTIVE ${this.quoted(this.r.chance(0.2) ? '' : this.name())}`);
        break;
      case 5:
        this.cmd(`GETSCRIPT ${this.quoted(this.name())}`);
        break;
      case 6:
        this.cmd(`DELETESCRIPT ${this.quoted(this.name())}`);
        break;
      case 7:
        this.cmd(`RENAMESCRIPT ${this.quoted(this.name())} ${this.quoted(this.name())}`);
        break;
      case 8:
        this.cmd(`HAVESPACE ${this.quoted(this.name())} ${this.r.pick(['10', '0', '99999999', '4294967295', '4294967296', 'x', '-1'])}`);
        break;
      case 9:
        this.cmd(this.r.pick(['UNAUTHENTICATE', 'CAPABILITY', 'NOOP', 'NOOP "tag"']));
        break;
      case 10:
        // a literal cut short: the session waits for its octets (the probe finishes it)
        this.raw(b(`PUTSCRIPT "cut" {${this.r.range(10, 1500)}+}\r\nrequire`), 0);
        break;
      default:
        if (this.r.chance(0.2)) this.cmd('LOGOUT', 0.5);
    }
  }

  private misc(): void {
    switch (this.r.int(9)) {
      case 0:
        this.cmd(this.r.pick(['CAPABILITY', 'capability', 'CAPABILITY x']));
        break;
      case 1:
        this.cmd(this.r.pick(['STARTTLS', 'STARTTLS', 'STARTTLS x']), 0.8);
        break;
      case 2:
        this.cmd('X'.repeat(this.r.pick([MAX_LINE - 2, MAX_LINE, MAX_LINE + 1, 70_000])));
        break;
      case 3:
        this.raw(this.r.bytes(this.r.int(100)));
        break;
      case 4:
        this.cmd(this.r.pick(['NOOP "unterminated', 'NOOP "a\\x"', 'NOOP {5}', 'NOOP {4294967296+}', '"quoted"', '123', 'NOOP\0']));
        break;
      case 5:
        // a literal larger than the limit: skipped, refused with QUOTA/MAXSIZE
        this.raw(Buffer.concat([b(`PUTSCRIPT "big" {${MAX_SCRIPT + 2000}+}\r\n`), b('y'.repeat(MAX_SCRIPT + 2000)), b('\r\n')]), 0.5);
        break;
      case 6:
        this.cmd('');
        break;
      default:
        this.cmd(this.r.pick(['NOOP', 'LISTSCRIPTS', 'GETSCRIPT "a"', 'HELO', 'LOGOUT x']));
    }
  }

  session(): Segment[] {
    if (this.r.chance(0.7)) {
      this.cmd('STARTTLS', 1);
      if (this.r.chance(0.85)) this.cmd(`AUTHENTICATE "PLAIN" "${plain('alice@example.test', 'secret pw')}"`, 1);
    }
    const moves = 1 + this.r.int(15);
    for (let i = 0; i < moves; i++) {
      const k = this.r.int(10);
      if (k < 2) this.login();
      else if (k < 8) this.scripts();
      else this.misc();
    }
    return this.segs;
  }
}

export function manageSievePlan(r: Rng): Plan {
  let segments = new MsGen(r).session();
  if (r.chance(0.3)) segments = resegment(mutate(Buffer.concat(segments.map((s) => s.bytes)), r), r, 0.5);
  return {
    listener: 'managesieve',
    tls: false,
    early: null,
    segments,
    end: r.chance(0.5) ? 'fin' : 'close',
    knobs: { maxBad: r.pick([3, 10, 1000]), probe: r.chance(0.7) ? 1 : 0 },
    chunkSeed: r.seed(),
    backpressure: r.chance(0.3) ? 0.2 : 0,
  };
}

// ---- the oracle ----

/** The framer's private state, read to know whether the client is mid-command (for the probe). */
interface FramerState {
  literalLeft: number;
  tokens: unknown[];
  skipping: unknown;
}

class MsOracle {
  mode: 'greeting' | 'command' | 'sasl' | 'closed' = 'greeting';
  last = '';
  private framer: ManageSieveFramer;
  /** Client octets given to the oracle's framer so far. */
  private fed = 0;
  private tlsSeen = 0;

  constructor(
    private readonly t: FuzzTransport,
    private readonly out: OutputReader,
  ) {
    this.framer = this.newFramer();
  }

  private newFramer(): ManageSieveFramer {
    // The session's own limits (src/managesieve/session.ts): the same commands, the same refusals.
    return new ManageSieveFramer({ maxLine: MAX_LINE, maxLiteral: MAX_SCRIPT + 1024 });
  }

  isClosed(): boolean {
    return this.mode === 'closed';
  }

  private get partial(): boolean {
    const f = this.framer as unknown as FramerState;
    return this.framer.buffered > 0 || f.literalLeft > 0 || f.tokens.length > 0 || f.skipping !== null;
  }

  get atCommand(): boolean {
    return this.mode === 'command' && this.fed === this.t.input().length && !this.partial;
  }

  private async line(what: string): Promise<string | null> {
    const l = await this.out.line(what);
    if (l === null && !this.t.byClient) throw new PropertyError('closed-without-reason', `the connection closed without answering ${what} (last response ${JSON.stringify(this.last)})`);
    return l;
  }

  /** Skips a server literal {n} (its octets follow the line). */
  private async literal(n: number, what: string): Promise<boolean> {
    const deadline = Date.now() + REPLY_TIMEOUT;
    while (this.t.output().length < this.out.pos + n) {
      if (this.t.closed) return false;
      if (Date.now() > deadline) throw new PropertyError('no-answer', `a literal of ${n} octets never arrived in answer to ${what}`);
      await this.t.changed(deadline - Date.now());
    }
    this.out.pos += n;
    return true;
  }

  /**
   * One response: data lines, then a status line; or, inside AUTHENTICATE, a challenge. Returns
   * 'status', 'challenge', or null when the connection is gone.
   */
  private async response(what: string, auth: boolean): Promise<'status' | 'challenge' | null> {
    for (let data = 0; ; data++) {
      const l = await this.logicalLine(what);
      if (l === null) return null;
      if (/^(OK|NO|BYE)( |$)/.test(l)) {
        this.last = l;
        if (/internal error/i.test(l)) throw new PropertyError('internal-error', `${l} in answer to ${what}`);
        if (!/^(OK|NO|BYE)( \([A-Z/-]+( "([^"\\]|\\.)*")?\))?( "([^"\\]|\\.)*")?$/.test(l)) throw new PropertyError('malformed-response', `${JSON.stringify(l)} in answer to ${what}`);
        return 'status';
      }
      // RFC 5804 §2.1: a challenge is one string on its own line
      if (auth && data === 0 && /^"[A-Za-z0-9+/=<>a-z]*"$/.test(l)) return 'challenge';
      if (!/^"/.test(l)) throw new PropertyError('malformed-response', `${JSON.stringify(l)} in answer to ${what}`);
    }
  }

  /** One response line with its literals {n} (RFC 5804 §4 literal-s2c, anywhere a string may be) read and shown as "<literal>". */
  private async logicalLine(what: string): Promise<string | null> {
    let text = '';
    for (;;) {
      const l = await this.line(what);
      if (l === null) return null;
      const lit = /\{(\d+)\}$/.exec(l);
      if (!lit) return text + l;
      if (!(await this.literal(Number(lit[1]), what))) return null;
      text += l.slice(0, l.length - lit[0].length) + '"<literal>"';
    }
  }

  private async closing(what: string): Promise<void> {
    await awaitClose(this.t, 5000, what);
    const rest = this.out.rest();
    if (rest.length) throw new PropertyError('output-after-close', `${JSON.stringify(rest.toString('latin1').slice(0, 200))} after ${what}`);
    this.mode = 'closed';
  }

  async advance(): Promise<void> {
    for (;;) {
      if (this.isClosed() || this.t.byClient) return;
      if (this.mode === 'greeting') {
        const r = await this.response('the connection (greeting)', false);
        if (r === null) return;
        if (!this.last.startsWith('OK')) throw new PropertyError('greeting', this.last);
        this.mode = 'command';
        continue;
      }
      const input = this.t.input();
      if (this.fed < input.length) {
        this.framer.push(input.subarray(this.fed));
        this.fed = input.length;
      }
      const item = this.framer.next();
      if (!item) break;
      const sasl = this.mode === 'sasl';
      const verb = item.kind === 'command' && item.tokens[0]?.kind === 'atom' ? item.tokens[0].value.toUpperCase() : null;
      const what = sasl ? 'a SASL response' : item.kind === 'error' ? `a refused command (${item.message})` : `${verb ?? 'a command'}`;
      const r = await this.response(what, sasl || verb === 'AUTHENTICATE');
      if (r === null) return;
      if (r === 'challenge') {
        this.mode = 'sasl';
        continue;
      }
      this.mode = 'command';
      if (this.last.startsWith('BYE')) {
        await this.closing(this.last);
        return;
      }
      if (!sasl && verb === 'LOGOUT' && this.last.startsWith('OK')) {
        await this.closing('OK to LOGOUT');
        return;
      }
      if (!sasl && verb === 'STARTTLS' && this.last.startsWith('OK')) {
        // RFC 5804 §2.2: what the client had sent when the handshake started is dropped.
        const mark = await this.t.handshake(++this.tlsSeen);
        if (mark === null) {
          if (!this.t.byClient) throw new PropertyError('closed-without-reason', 'the connection closed after the go-ahead for TLS');
          return;
        }
        this.framer = this.newFramer();
        this.fed = mark;
        // then the capabilities again, and OK
        const again = await this.response('the capabilities after TLS', false);
        if (again === null) return;
        if (!this.last.startsWith('OK')) throw new PropertyError('starttls', `after TLS: ${this.last}`);
      }
    }
    // A NO that spent the error budget is followed by BYE and the close: wait until the session
    // waits for its client again (or closed) before looking for output nobody asked for.
    if (!this.isClosed() && this.last.startsWith('NO')) await this.settle();
    if (!this.isClosed() && this.out.hasLine()) {
      const r = await this.response('nothing (an unsolicited response)', false);
      if (r !== null && !this.isClosed() && !this.last.startsWith('BYE')) throw new PropertyError('unsolicited', `unsolicited response ${this.last}`);
      if (this.last.startsWith('BYE')) await this.closing(this.last);
    }
  }

  /** Until the session waits for input (src/net/line-session.ts waitingForClient) or the connection closed; bounded. */
  private async settle(): Promise<void> {
    const session = this.t.session as unknown as { waitingForClient: boolean };
    const deadline = Date.now() + REPLY_TIMEOUT;
    while (!this.t.closed && !session.waitingForClient) {
      if (Date.now() > deadline) throw new PropertyError('no-answer', 'the session neither waited for input nor closed');
      await new Promise((r) => setImmediate(r));
    }
  }

  completion(): Buffer | null {
    const f = this.framer as unknown as FramerState;
    if (f.literalLeft > 0) return Buffer.alloc(f.literalLeft, 0x20);
    if (this.partial || this.fed < this.t.input().length) return b('\r\n');
    if (this.mode === 'sasl') return b('"*"\r\n');
    return null;
  }
}

// ---- the target ----

interface MsEnv {
  c: MsTestContext;
  errors: () => string[];
}

let lastOut = '';

async function runSession(e: MsEnv, plan: Plan): Promise<void> {
  const { c } = e;
  (c.ctx.config.managesieve as { max_bad_commands: number }).max_bad_commands = plan.knobs.maxBad ?? 10;
  const rng = new Rng(plan.chunkSeed);
  const t = new FuzzTransport(plan.listener, { tls: false, port: 4190, id: `fz${plan.chunkSeed}` }, rng, plan.backpressure);
  const out = new OutputReader(t, REPLY_TIMEOUT);
  const oracle = new MsOracle(t, out);
  try {
    t.attach((tr) => createManageSieveSession(c.ctx, tr));
    await drive(t, out, oracle, plan, rng, { line: 'NOOP', answered: () => oracle.last.startsWith('OK'), what: () => oracle.last });
    await checkAfterClose(c.ctx.config.data_dir, c.store, e.errors());
  } finally {
    lastOut = t.output().toString('latin1');
    if (process.env.FUZZ_DEBUG) console.log(showPlan(plan).slice(0, 1500) + '\n=> ' + lastOut.slice(0, 1500));
    t.clientClose();
  }
}

const target: Target<MsEnv> = {
  protocol: 'managesieve',
  async setup() {
    const c = await createMsTestContext({
      auth: { throttle_free_failures: 1_000_000, throttle_max_failures: 1_000_000 },
      sieve: { max_scripts: 5, max_script_size: MAX_SCRIPT },
      managesieve: { max_command_length: MAX_LINE },
    });
    const cap = errorCapturingLogger();
    c.ctx.logger = cap.logger;
    return { c, errors: cap.take };
  },
  async teardown(e) {
    await e.c.close();
  },
  plan(_e, r) {
    return manageSievePlan(r);
  },
  run: runSession,
  lastOutput: () => lastOut,
};

/** Runs ManageSieve sessions from `seed`; throws FuzzFailure (seed, minimal transcript, output) on a violated property. */
export async function fuzzManageSieve(opts: FuzzOptions): Promise<void> {
  await runTarget(target, opts, new HeapBound(64 * 1024 * 1024));
}
