// SMTP fuzz target: random sessions (grammar-aware, every state, every listener) and byte-level
// mutations of them, through the socket-free session (src/smtp/server/session.ts).
//
// Properties, checked for every session:
//   - no unhandled rejection or uncaught exception, no error-level log line, no "Internal error" reply;
//   - every reply is well-formed (RFC 5321 §4.2: "ddd-" lines then one "ddd " line, one code);
//   - every complete command line gets exactly one reply, in order (RFC 2920 §3.1), where
//     "command line" follows the session's own framing: a line ends at LF; one longer than 12288
//     octets is one bad line (500), a run of more than 1 MB without LF closes with 421; after
//     DATA's 354 the body runs to CRLF "." CRLF and gets one reply; a well-formed BDAT line is
//     followed by its chunk and answered after it; after AUTH's 334 the next line is a SASL
//     response, answered by 334 again or a final reply; after STARTTLS's 220 what the client had
//     pipelined is dropped (RFC 3207 §4.2);
//   - the session closes only after a reason (421, 221 to QUIT, 554 5.5.0 for a protocol
//     violation), or after the client's FIN once everything is answered; a reason is always
//     followed by the close;
//   - after a FIN the session closes; after a probe (the partial input completed, then NOOP) an
//     open session still answers 250;
//   - once closed: nothing left in data/tmp or the SMTP spool, and the store's own check passes;
//   - the live heap does not grow with sessions.
import { join } from 'node:path';
import { hashPassword } from '../../src/auth/index.js';
import { createTestEnv, type TestEnv } from '../helpers/smtp-context.js';
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
  expectEmptyDir,
  mutate,
  resegment,
  runTarget,
  type FuzzOptions,
  type Plan,
  type Segment,
  type Target,
  showPlan,
} from './common.js';

const PASSWORD = 'alice-pw';
/** The session's framing limits (src/smtp/server/session.ts, src/smtp/wire/framer.ts). */
const MAX_FRAMED_LINE = 12288;
const FLOOD = 1024 * 1024;
const REPLY_TIMEOUT = 15_000;

// ---- the generator ----

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const u = (s: string): Buffer => Buffer.from(s, 'utf8');

class SmtpGen {
  readonly segs: Segment[] = [];
  constructor(
    private readonly r: Rng,
    private readonly submission: boolean,
    private readonly tls: boolean,
  ) {}

  private push(bytes: Buffer, barrier: boolean): void {
    this.segs.push({ bytes, barrier });
  }
  /** A command line; the client waits for its reply with probability `wait`. */
  private cmd(line: string | Buffer, wait = 0.3): void {
    const body = typeof line === 'string' ? u(line) : line;
    const end = this.r.chance(0.97) ? '\r\n' : this.r.pick(['\n', '\r', '\r\r\n']);
    this.push(Buffer.concat([body, b(end)]), this.r.chance(wait));
  }

  private domain(): string {
    return this.r.pick(['c.test', 'mail.example.org', '[127.0.0.1]', '[IPv6:::1]', 'localhost', 'x', '-bad-.test', 'a..b', '', 'ü.test', 'c.test extra words', '[300.1.1.1]', 'a'.repeat(300)]);
  }
  private address(): string {
    return this.r.pick([
      'alice@a.test',
      'ALICE@A.TEST',
      'sales@a.test',
      'fwd@a.test',
      'nobody@a.test',
      'postmaster',
      'Postmaster',
      'postmaster@a.test',
      'abuse@a.test',
      'x@remote.test',
      'x@b.test',
      '"quoted local"@a.test',
      '"a@b"@a.test',
      'x%remote.test@a.test',
      'remote.test!x@a.test',
      'ü@a.test',
      'alice@[127.0.0.1]',
      '@route.test:alice@a.test',
      '',
      'a'.repeat(70) + '@a.test',
      'no-at-sign',
    ]);
  }
  private xtext(): string {
    return this.r.pick(['a+2Bb@c.test', 'x@y', '+', '+zz', '+41', 'plain', '\\x{110000}', '\\x{41}', '\\x{D800}', '\\x{}', 'é', '+2B'.repeat(200)]);
  }

  private ehlo(): void {
    const verb = this.r.pick(['EHLO', 'EHLO', 'EHLO', 'HELO', 'ehlo', 'Helo']);
    this.cmd(`${verb} ${this.domain()}`, 0.9);
  }

  private auth(): void {
    const user = this.r.pick(['alice@a.test', 'alice@a.test', 'bob@a.test', '', 'ü', 'a'.repeat(300)]);
    const pass = this.r.pick([PASSWORD, PASSWORD, 'wrong', '']);
    const plain = Buffer.from(`${this.r.pick(['', 'alice@a.test', 'other'])}\0${user}\0${pass}`).toString('base64');
    switch (this.r.int(6)) {
      case 0:
        this.cmd(`AUTH PLAIN ${plain}`, 0.8);
        break;
      case 1:
        this.cmd('AUTH PLAIN', 0.8);
        this.cmd(this.r.pick([plain, plain, '*', '=', '!!notbase64', 'A'.repeat(13000), 'AAA=']), 0.8);
        break;
      case 2:
        this.cmd('AUTH LOGIN', 0.8);
        this.cmd(this.r.chance(0.9) ? Buffer.from(user).toString('base64') : '*', 0.8);
        this.cmd(this.r.chance(0.9) ? Buffer.from(pass).toString('base64') : '=', 0.8);
        break;
      case 3:
        this.cmd(`AUTH LOGIN ${Buffer.from(user).toString('base64')}`, 0.8);
        this.cmd(Buffer.from(pass).toString('base64'), 0.8);
        break;
      case 4:
        this.cmd(this.r.pick(['AUTH', 'AUTH CRAM-MD5', 'AUTH PLAIN =', 'AUTH PLAIN *', 'AUTH X'.repeat(30), 'AUTH PLAIN AGEAYg== extra']), 0.5);
        break;
      default:
        // Pipelined SASL (a client that does not wait for 334).
        this.cmd('AUTH LOGIN', 0);
        this.cmd(Buffer.from(user).toString('base64'), 0);
        this.cmd(Buffer.from(pass).toString('base64'), 0.9);
    }
  }

  private mailParams(): string {
    const ps: string[] = [];
    const n = this.r.int(4);
    for (let i = 0; i < n; i++) {
      ps.push(
        this.r.pick([
          `SIZE=${this.r.pick(['1000', '0', '99999999999999999999', '400000', 'x', ''])}`,
          `BODY=${this.r.pick(['7BIT', '8BITMIME', 'BINARYMIME', 'binarymime', 'X'])}`,
          'SMTPUTF8',
          'SMTPUTF8=1',
          `RET=${this.r.pick(['FULL', 'HDRS', 'NONE'])}`,
          `ENVID=${this.xtext()}`,
          `AUTH=${this.r.pick(['<>', 'alice+40a.test', '+zz'])}`,
          'REQUIRETLS',
          'XUNKNOWN=1',
          '=',
        ]),
      );
    }
    return ps.length ? ' ' + ps.join(' ') : '';
  }
  private rcptParams(): string {
    const ps: string[] = [];
    if (this.r.chance(0.3)) ps.push(`NOTIFY=${this.r.pick(['SUCCESS', 'FAILURE,DELAY', 'NEVER', 'NEVER,SUCCESS', 'x'])}`);
    if (this.r.chance(0.3)) ps.push(`ORCPT=${this.r.pick(['rfc822', 'utf-8', 'x-unknown', ''])};${this.xtext()}`);
    if (this.r.chance(0.05)) ps.push('FOO=bar');
    return ps.length ? ' ' + ps.join(' ') : '';
  }

  private bodyLine(): Buffer {
    switch (this.r.int(16)) {
      case 0:
        return b('.');
      case 1:
        return b('..');
      case 2:
        return b('.leading dot');
      case 3:
        return b('bare\nLF');
      case 4:
        return b('bare\rCR');
      case 5:
        return b('NUL\0byte');
      case 6:
        return b('x'.repeat(this.r.pick([998, 999, 1001, 5000, 70_000])));
      case 7:
        return b('\n.\n');
      case 8:
        return b('\r.\r');
      case 9:
        return this.r.bytes(this.r.int(40));
      case 10:
        return u('ünïcödé ✓');
      case 11:
        return b(' folded continuation');
      default:
        return b(`line ${this.r.int(1000)} of text`);
    }
  }
  /** A message in DATA form: dot-stuffed (mostly), terminated (mostly). */
  private dataBody(): Buffer {
    const lines: Buffer[] = [];
    if (this.r.chance(0.9)) {
      lines.push(b(`From: ${this.r.pick(['alice@a.test', 'Alice <alice@a.test>', 'ceo@bank.example', 'x@remote.test', '', 'a@b, c@d'])}`));
      lines.push(b(`To: alice@a.test`), b(`Subject: fuzz ${this.r.int(1e6)}`), b('Date: Mon, 1 Jan 2024 00:00:00 +0000'), b(`Message-ID: <${this.r.int(1e9)}@c.test>`));
      if (this.r.chance(0.05)) for (let i = 0; i < 1200; i++) lines.push(b(' x'));
      if (this.r.chance(0.1)) lines.push(this.bodyLine());
      lines.push(b(''));
    }
    const n = this.r.int(12);
    for (let i = 0; i < n; i++) lines.push(this.bodyLine());
    if (this.r.chance(0.05)) lines.push(b('y'.repeat(400_000)));
    // RFC 5321 §4.5.2: the client doubles a leading dot; sometimes it forgets (the data ends early).
    const stuffed = lines.map((l) => (l[0] === 0x2e && this.r.chance(0.9) ? Buffer.concat([b('.'), l]) : l));
    const body = Buffer.concat(stuffed.flatMap((l) => [l, b('\r\n')]));
    const end = this.r.chance(0.93) ? b('.\r\n') : this.r.pick([b(''), b('.\n'), b('\n.\n'), b('.')]);
    return Buffer.concat([this.r.chance(0.05) ? b('') : body, end]);
  }

  private transaction(): void {
    const from = this.r.chance(0.1) ? '<>' : `<${this.address()}>`;
    const burst = this.r.chance(0.4);
    const w = burst ? 0 : 0.3;
    this.cmd(`${this.r.pick(['MAIL FROM:', 'MAIL FROM:', 'mail from:', 'MAIL FROM: ', 'MAIL TO:'])}${from}${this.mailParams()}`, w);
    const n = this.r.int(4);
    for (let i = 0; i < n; i++) this.cmd(`${this.r.pick(['RCPT TO:', 'RCPT TO:', 'rcpt to:', 'RCPT FROM:'])}<${this.address()}>${this.rcptParams()}`, w);
    if (this.r.chance(0.6)) {
      this.cmd(this.r.pick(['DATA', 'DATA', 'DATA', 'data', 'DATA x']), 0.9);
      this.push(this.dataBody(), this.r.chance(0.9));
    } else {
      const chunks = 1 + this.r.int(3);
      for (let i = 0; i < chunks; i++) {
        const last = i === chunks - 1 && this.r.chance(0.85);
        const content = this.r.chance(0.7) ? Buffer.concat([this.dataBody()]) : this.r.bytes(this.r.int(3000));
        // Sometimes the declared size does not match what follows.
        const size = this.r.chance(0.9) ? content.length : Math.max(0, content.length + this.r.range(-20, 20));
        this.cmd(this.r.chance(0.95) ? `BDAT ${size}${last ? ' LAST' : ''}` : this.r.pick(['BDAT', 'BDAT -1', 'BDAT 1 2', 'BDAT 99999999999999999', 'BDAT 0 LAST']), 0);
        this.push(content, this.r.chance(0.6));
      }
    }
  }

  private junk(): void {
    switch (this.r.int(10)) {
      case 0:
        this.push(this.r.bytes(this.r.int(200)), this.r.chance(0.3));
        break;
      case 1:
        this.cmd('', 0.3);
        break;
      case 2:
        this.cmd(b('NOOP\0x'), 0.3);
        break;
      case 3:
        this.cmd('X'.repeat(this.r.pick([510, 511, 600, 12_287, 12_288, 13_000, 70_000])), 0.3);
        break;
      case 4:
        // More than a megabyte without a line end: the session closes (421).
        if (this.r.chance(0.1)) this.push(Buffer.alloc(FLOOD + 10, 0x61), true);
        break;
      case 5:
        this.cmd(b('\xff\xfe\xc3('), 0.3);
        break;
      case 6:
        this.cmd(`MAIL FROM:<${'a'.repeat(1100)}@a.test>`, 0.3);
        break;
      default:
        this.cmd(this.r.pick(['FOO', 'EHLO', 'HELO', 'MAIL', 'RCPT', 'MAIL FROM:<alice@a.test> SIZE=1 SIZE=2', '\t', ' NOOP', 'NOOP\t']), 0.3);
    }
  }

  /** The way a real client starts: EHLO, STARTTLS where needed, AUTH PLAIN on submission. */
  private goodStart(): void {
    this.cmd('EHLO c.test', 1);
    if (!this.tls) {
      this.cmd('STARTTLS', 1);
      this.cmd('EHLO c.test', 1);
    }
    if (this.submission) this.cmd(`AUTH PLAIN ${Buffer.from(`\0alice@a.test\0${PASSWORD}`).toString('base64')}`, 1);
  }

  session(): Segment[] {
    if (this.r.chance(0.5)) this.goodStart();
    else if (this.r.chance(0.9)) this.ehlo();
    const moves = 1 + this.r.int(12);
    for (let i = 0; i < moves; i++) {
      const k = this.r.int(20);
      if (k < 2) this.ehlo();
      else if (k < 3) {
        this.cmd(this.r.pick(['STARTTLS', 'STARTTLS', 'STARTTLS x', 'starttls']), 0.8);
        if (this.r.chance(0.7)) this.ehlo();
      } else if (k < 6 && this.submission) this.auth();
      else if (k < 11) this.transaction();
      else if (k < 14) this.cmd(this.r.pick(['RSET', 'NOOP', 'NOOP hello', 'VRFY alice', 'EXPN list', 'HELP', 'HELP MAIL', 'RSET x', 'QUIT x']), 0.3);
      else if (k < 15) this.cmd(this.r.pick(['QUIT', 'quit']), 0.5);
      else if (this.r.chance(0.5)) this.junk();
    }
    return this.segs;
  }
}

export function smtpPlan(r: Rng): Plan {
  const listener = r.pick(['smtp', 'submission', 'submissions'] as const);
  let segments = new SmtpGen(r, listener !== 'smtp', listener === 'submissions').session();
  if (r.chance(0.3)) segments = resegment(mutate(Buffer.concat(segments.map((s) => s.bytes)), r), r, 0.5);
  return {
    listener,
    tls: listener === 'submissions',
    early: r.chance(0.03) ? b('EHLO early.test\r\n') : null,
    segments,
    end: r.chance(0.5) ? 'fin' : 'close',
    knobs: { maxErrors: r.pick([3, 20, 1000]), probe: r.chance(0.7) ? 1 : 0 },
    chunkSeed: r.seed(),
    backpressure: r.chance(0.3) ? 0.2 : 0,
  };
}

// ---- the oracle: what the session must answer, from what the client sent ----

interface Reply {
  code: number;
  text: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The chunk size when `line` is a BDAT command the session will take its chunk for; else null. */
function bdatSize(line: Buffer, crlf: boolean): number | null {
  if (!crlf) return null;
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    return null;
  }
  const sp = text.indexOf(' ');
  if ((sp < 0 ? text : text.slice(0, sp)).toUpperCase() !== 'BDAT') return null;
  // RFC 5321 §4.5.3.1.4 (line length), control characters, then RFC 3030 §2's syntax.
  // eslint-disable-next-line no-control-regex
  if (line.length + 2 > 512 || /[\x00-\x1f\x7f]/.test(text)) return null;
  const m = /^(\d{1,15})(?: (LAST))?$/i.exec((sp < 0 ? '' : text.slice(sp + 1)).trim());
  return m ? Number(m[1]) : null;
}

type LineEv = { kind: 'line'; line: Buffer; crlf: boolean } | { kind: 'too-long' } | { kind: 'flood' };

class SmtpOracle {
  private pos = 0;
  mode: 'greeting' | 'command' | 'body' | 'chunk' | 'sasl' | 'closed' = 'greeting';
  private discarding = false;
  private discarded = 0;
  private chunkLeft = 0;
  private tlsSeen = 0;
  last: Reply | null = null;

  constructor(
    private readonly t: FuzzTransport,
    private readonly out: OutputReader,
    private readonly early: boolean,
  ) {}

  /** Input sent and not yet accounted for. */
  /** Through a method: the mode changes across awaits, which narrowing does not see. */
  isClosed(): boolean {
    return this.mode === 'closed';
  }

  get pending(): number {
    return this.t.input().length - this.pos;
  }
  /** In command mode with no partial line: a NOOP now is a command of its own. */
  get atCommand(): boolean {
    return this.mode === 'command' && this.pending === 0 && !this.discarding;
  }

  /** The framer's takeLine (src/smtp/wire/framer.ts), over everything the client sent. */
  private takeLine(): LineEv | null {
    const input = this.t.input();
    const lf = input.indexOf(0x0a, this.pos);
    if (this.discarding) {
      if (lf < 0) {
        this.discarded += input.length - this.pos;
        this.pos = input.length;
        return this.discarded > FLOOD ? { kind: 'flood' } : null;
      }
      this.discarded += lf + 1 - this.pos;
      this.pos = lf + 1;
      this.discarding = false;
      const flood = this.discarded > FLOOD;
      this.discarded = 0;
      return flood ? { kind: 'flood' } : { kind: 'too-long' };
    }
    if (lf < 0) {
      if (input.length - this.pos >= MAX_FRAMED_LINE) {
        this.discarding = true;
        this.discarded = input.length - this.pos;
        this.pos = input.length;
        return this.discarded > FLOOD ? { kind: 'flood' } : null;
      }
      return null;
    }
    if (lf + 1 - this.pos > MAX_FRAMED_LINE) {
      this.pos = lf + 1;
      return { kind: 'too-long' };
    }
    const crlf = lf > this.pos && input[lf - 1] === 0x0d;
    const line = input.subarray(this.pos, crlf ? lf - 1 : lf);
    this.pos = lf + 1;
    return { kind: 'line', line, crlf };
  }

  private async reply(what: string): Promise<Reply | null> {
    const first = await this.out.line(what);
    if (first === null) {
      if (this.t.byClient) return null;
      throw new PropertyError('closed-without-reason', `the connection closed without answering ${what} (last reply ${JSON.stringify(this.last)})`);
    }
    let line: string | null = first;
    let code = 0;
    const texts: string[] = [];
    for (;;) {
      const m = /^([2-5]\d\d)([ -])(.*)$/s.exec(line);
      if (!m) throw new PropertyError('malformed-reply', `reply line ${JSON.stringify(line)} to ${what}`);
      if (code && Number(m[1]) !== code) throw new PropertyError('malformed-reply', `multiline reply changes its code: ${JSON.stringify(line)}`);
      code = Number(m[1]);
      texts.push(m[3]!);
      if (m[2] === ' ') break;
      line = await this.out.line(`the rest of the multiline reply to ${what}`);
      if (line === null) throw new PropertyError('malformed-reply', `multiline reply to ${what} cut off by the close`);
    }
    const r = { code, text: texts.join('\n') };
    if (/internal error/i.test(r.text)) throw new PropertyError('internal-error', `${code} ${r.text} in answer to ${what}`);
    this.last = r;
    if (closing(r)) {
      await awaitClose(this.t, 5000, `${code} ${r.text}`);
      const rest = this.out.rest();
      if (rest.length) throw new PropertyError('output-after-close', `${JSON.stringify(rest.toString('latin1').slice(0, 200))} after ${code}`);
      this.mode = 'closed';
    }
    return r;
  }

  /** Accounts for every complete command sent so far, awaiting each reply. */
  async advance(): Promise<void> {
    for (;;) {
      if (this.isClosed() || this.t.byClient) return;
      if (this.mode === 'greeting') {
        const r = await this.reply('the connection (greeting)');
        if (!r) return;
        if (this.early ? r.code !== 554 : r.code !== 220) throw new PropertyError('greeting', `greeting ${r.code} ${r.text}${this.early ? ' to an early talker' : ''}`);
        if (!this.isClosed()) this.mode = 'command';
        continue;
      }
      if (this.mode === 'body') {
        // RFC 5321 §4.1.1.4: the data ends at CRLF "." CRLF, the first CRLF ending the last line
        // (so a body that is just "." CRLF is empty).
        const input = this.t.input();
        const hay = Buffer.concat([b('\r\n'), input.subarray(this.pos)]);
        const i = hay.indexOf('\r\n.\r\n', 0, 'latin1');
        if (i < 0) break;
        this.pos += i + 3;
        const r = await this.reply('the end of DATA');
        if (!r) return;
        if (!this.isClosed()) this.mode = 'command';
        continue;
      }
      if (this.mode === 'chunk') {
        if (this.pending < this.chunkLeft) break;
        this.pos += this.chunkLeft;
        const r = await this.reply('a BDAT chunk');
        if (!r) return;
        if (!this.isClosed()) this.mode = 'command';
        continue;
      }
      const sasl = this.mode === 'sasl';
      const ev = this.takeLine();
      if (!ev) break;
      const what = ev.kind === 'line' ? `${sasl ? 'SASL response ' : ''}${JSON.stringify(ev.line.subarray(0, 80).toString('latin1'))}` : `a ${ev.kind} line`;
      if (!sasl && ev.kind === 'line') {
        const size = bdatSize(ev.line, ev.crlf);
        if (size !== null) {
          this.mode = 'chunk';
          this.chunkLeft = size;
          continue;
        }
      }
      const r = await this.reply(what);
      if (!r) return;
      if (this.isClosed()) return;
      if (ev.kind === 'flood') throw new PropertyError('flood', `a flood was answered ${r.code} without closing`);
      this.mode = 'command';
      if (sasl) {
        if (r.code === 334) this.mode = 'sasl';
        continue;
      }
      if (ev.kind !== 'line') continue;
      const verb = ev.line.toString('latin1').split(' ')[0]!.toUpperCase();
      if (verb === 'DATA' && r.code === 354) this.mode = 'body';
      else if (verb === 'AUTH' && r.code === 334) this.mode = 'sasl';
      else if (verb === 'STARTTLS' && r.code === 220) {
        // RFC 3207 §4.2: what the client had sent when the handshake started is dropped.
        const mark = await this.t.handshake(++this.tlsSeen);
        if (mark === null) {
          if (!this.t.byClient) throw new PropertyError('closed-without-reason', 'the connection closed after the go-ahead for TLS');
          return;
        }
        this.pos = Math.max(this.pos, mark);
        this.discarding = false;
        this.discarded = 0;
      }
    }
    // Nothing complete is left unanswered; anything more the server wrote must be a reason to close.
    if (!this.isClosed() && this.out.hasLine()) {
      const r = await this.reply('nothing (an unsolicited reply)');
      if (r && !this.isClosed()) throw new PropertyError('unsolicited', `unsolicited reply ${r.code} ${r.text}`);
    }
  }

  /** Bytes that bring the session back to the command state (ending a line, a body, a chunk, a SASL exchange). */
  completion(): Buffer | null {
    if (this.mode === 'body') return b('\r\n.\r\n');
    if (this.mode === 'chunk') return Buffer.alloc(this.chunkLeft - this.pending, 0x78);
    if (this.pending > 0 || this.discarding) return b('\r\n');
    if (this.mode === 'sasl') return b('*\r\n');
    return null;
  }
}

/** RFC 5321 §3.8, §4.1.1.10, RFC 2920 §3.1: the replies after which the server closes. */
function closing(r: Reply): boolean {
  return r.code === 421 || r.code === 221 || (r.code === 554 && r.text.startsWith('5.5.0'));
}

// ---- the target ----

interface SmtpEnv {
  env: TestEnv;
  errors: () => string[];
}

let lastOut = '';

async function runSession(e: SmtpEnv, plan: Plan): Promise<void> {
  const { env } = e;
  const cfg = env.ctx.config.smtp as { max_errors: number };
  cfg.max_errors = plan.knobs.maxErrors ?? 20;
  const rng = new Rng(plan.chunkSeed);
  const t = new FuzzTransport(plan.listener, { tls: plan.tls, port: plan.listener === 'smtp' ? 25 : plan.listener === 'submission' ? 587 : 465, id: `fz${plan.chunkSeed}` }, rng, plan.backpressure);
  const out = new OutputReader(t, REPLY_TIMEOUT);
  const oracle = new SmtpOracle(t, out, plan.early !== null);
  try {
    t.attach(env.factory);
    if (plan.early) t.send(plan.early);
    await drive(t, out, oracle, plan, rng, { line: 'NOOP', answered: () => oracle.last?.code === 250, what: () => JSON.stringify(oracle.last) });
    // Once closed: what the session opened is gone (data/tmp, the SMTP spool), the store adds up.
    await expectEmptyDir(join(env.ctx.config.data_dir, 'smtp-spool'), 'the SMTP spool');
    await checkAfterClose(env.ctx.config.data_dir, env.store, e.errors());
  } finally {
    lastOut = t.output().toString('latin1');
    if (process.env.FUZZ_DEBUG) console.log(showPlan(plan).slice(0, 1500) + '\n=> ' + lastOut.slice(0, 1500));
    t.clientClose();
  }
}

const target: Target<SmtpEnv> = {
  protocol: 'smtp',
  async setup() {
    const env = await createTestEnv({ smtp: { max_message_size: 300_000 }, authConfig: { throttle_free_failures: 1_000_000, throttle_max_failures: 1_000_000 } });
    await env.store.addDomain('a.test');
    await env.store.addAccount('alice@a.test', await hashPassword(PASSWORD));
    await env.store.addAlias('sales@a.test', ['alice@a.test']);
    await env.store.addAlias('fwd@a.test', ['x@remote.test']);
    const cap = errorCapturingLogger();
    env.ctx.logger = cap.logger;
    return { env, errors: cap.take };
  },
  async teardown(e) {
    await e.env.close();
  },
  plan: (_e, r) => smtpPlan(r),
  run: runSession,
  lastOutput: () => lastOut,
};

/** Runs SMTP sessions from `seed`; throws FuzzFailure (seed, minimal transcript, output) on a violated property. */
export async function fuzzSmtp(opts: FuzzOptions): Promise<void> {
  await runTarget(target, opts, new HeapBound(64 * 1024 * 1024));
}
