// IMAP fuzz target: random and mutated command sequences through the socket-free session
// (src/imap/server/session.ts), started in every state: not authenticated, authenticated,
// selected, inside IDLE, inside an AUTHENTICATE exchange, and in the middle of an APPEND literal.
//
// Properties, checked for every session:
//   - no unhandled rejection or uncaught exception, no error-level log line, no NO [SERVERBUG];
//   - every line the server writes is a response (RFC 9051 §2.2.2: "* ...", "+ ..." or a tagged
//     status), literals in FETCH data skipped;
//   - the session closes on its own only after saying why ("* BYE ..."); after the client's FIN
//     it answers what it has and closes;
//   - an open session still answers (a probe: the partial input completed, then NOOP);
//   - once closed: nothing held (the session's held count is 0) and nothing left in data/tmp
//     (issue 10 item 3: APPEND's temporary blob);
//   - the live heap does not grow with sessions.
import { join } from 'node:path';
import { createImapTestContext, message, PASSWORD, USER, type ImapTestContext, type TestAuthenticator } from '../helpers/imap-context.js';
import { createImapSession, type ImapSession } from '../../src/imap/server/session.js';
import type { ServerContext } from '../../src/context.js';
import {
  FuzzTransport,
  HeapBound,
  OutputReader,
  PropertyError,
  Rng,
  awaitClose,
  errorCapturingLogger,
  expectEmptyDir,
  feed,
  mutate,
  resegment,
  runTarget,
  type FuzzOptions,
  type Plan,
  type Segment,
  type Target,
} from './common.js';

const REPLY_TIMEOUT = 15_000;
/** The state a session is brought to before the random input. */
const STATES = ['notauth', 'auth', 'selected', 'idle', 'authenticate', 'literal'] as const;
type StartState = (typeof STATES)[number];

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const u = (s: string): Buffer => Buffer.from(s, 'utf8');
const LOGIN = `LOGIN ${JSON.stringify(USER)} ${JSON.stringify(PASSWORD)}`;

// ---- the generator ----

class ImapGen {
  readonly segs: Segment[] = [];
  private n = 0;
  constructor(private readonly r: Rng) {}

  private tag(): string {
    return this.r.chance(0.95) ? `g${++this.n}` : this.r.pick(['*', '+', '', 'a+b', 'x]', '"q"', 'ü', 'a'.repeat(200)]);
  }
  private push(bytes: Buffer, wait: number): void {
    this.segs.push({ bytes, barrier: this.r.chance(wait) });
  }
  private line(text: string | Buffer, wait = 0.4): void {
    const body = typeof text === 'string' ? u(text) : text;
    const end = this.r.chance(0.96) ? '\r\n' : this.r.pick(['\n', '\r', '']);
    this.push(Buffer.concat([body, b(end)]), wait);
  }
  private cmd(text: string, wait = 0.4): void {
    this.line(`${this.tag()} ${text}`, wait);
  }

  private mailbox(): string {
    return this.r.pick(['INBOX', 'inbox', 'Archive', 'Trash', 'Junk', 'Fz', 'Fz/a', '"Fz b"', '"Entw&APw-rfe"', '&', '"a/../b"', '""', '[x]', 'a[b', '"ü"', 'Nowhere', 'Fz/' + 'd/'.repeat(40) + 'e']);
  }
  private set(): string {
    return this.r.pick(['1', '1:*', '*', '2:3', '1,3', '$', '0', '4294967296', '1:', 'x', '9999', '3:1', '1:2,*']);
  }
  private fetchAtt(): string {
    return this.r.pick([
      'FLAGS', 'UID', '(UID FLAGS RFC822.SIZE)', 'ALL', 'FAST', 'FULL', 'ENVELOPE', 'BODYSTRUCTURE', 'BODY', 'BODY[]', 'BODY.PEEK[]<0.10>',
      'BODY.PEEK[HEADER.FIELDS (Subject From)]', 'BODY[1.MIME]', 'BODY[TEXT]<5.0>', 'BINARY[1]', 'BINARY.SIZE[1]', 'BINARY[HEADER]', 'RFC822', 'RFC822.HEADER',
      '(BODY[HEADER.FIELDS.NOT (X)] INTERNALDATE)', 'BODY[', 'BOGUS', '(MODSEQ)', '(FLAGS) (UID)', 'BODY[99.1]',
    ]);
  }
  private searchKeys(): string {
    const keys = ['ALL', 'SEEN', 'UNSEEN', 'FLAGGED', 'OR SEEN DELETED', 'NOT DRAFT', '(SEEN FLAGGED)', 'SUBJECT "x"', 'FROM bob', 'HEADER X-A y', 'BODY hello', 'TEXT world', 'SINCE 1-Jan-2020', 'BEFORE 32-Jan-2020', 'LARGER 10', 'SMALLER x', 'UID 1:*', '1:*', '$', 'KEYWORD $Work', 'NEW', 'OLD', 'RECENT', 'NOT', 'OR', '()', 'CHARSET KOI8-R ALL', 'CHARSET UTF-8 ALL'];
    const n = 1 + this.r.int(3);
    return Array.from({ length: n }, () => this.r.pick(keys)).join(' ');
  }
  private literal(body: Buffer): void {
    // A literal: synchronising (the client waits for "+" sometimes), LITERAL+ or literal8.
    const form = this.r.int(4);
    const size = this.r.chance(0.9) ? body.length : Math.max(0, body.length + this.r.range(-5, 5));
    const ann = form === 0 ? `{${size}+}` : form === 1 ? `~{${size}}` : `{${size}}`;
    return this.push(b(ann + '\r\n'), form === 0 ? 0 : 0.7), this.push(body, 0);
  }
  private append(): void {
    const flags = this.r.pick(['', '(\\Seen) ', '(\\Recent) ', '(\\Draft $Work) ', '() ']);
    const date = this.r.pick(['', '"05-Mar-2024 14:15:16 +0200" ', '"31-Feb-2024 00:00:00 +0000" ', '"bad" ']);
    const msg = this.r.chance(0.8) ? u(message(`fuzz ${this.r.int(1e6)}`)) : this.r.bytes(this.r.pick([0, 10, 70_000, 200_000]));
    this.segs.push({ bytes: u(`${this.tag()} APPEND ${this.mailbox()} ${flags}${date}`), barrier: false });
    this.literal(msg);
    // Issue 10 item 3 and MULTIAPPEND (RFC 3502): a second literal on the same line is another message.
    if (this.r.chance(0.15)) this.push(b(` {${this.r.int(5)}}\r\n`), 0.5);
    else this.line(this.r.pick(['', '', '', ' extra', ' (\\Seen)']));
  }
  private authenticate(): void {
    const plain = Buffer.from(`\0${this.r.pick([USER, 'bob@a.test', ''])}\0${this.r.pick([PASSWORD, 'wrong'])}`).toString('base64');
    switch (this.r.int(4)) {
      case 0:
        return this.cmd(`AUTHENTICATE PLAIN ${plain}`, 0.9);
      case 1:
        this.cmd('AUTHENTICATE PLAIN', 0.9);
        return this.line(this.r.pick([plain, '*', '=', '!!', '', 'AAAA {3}']), 0.9);
      case 2:
        this.cmd('AUTHENTICATE LOGIN', 0.9);
        this.line(Buffer.from(USER).toString('base64'), 0.9);
        return this.line(this.r.pick([Buffer.from(PASSWORD).toString('base64'), '*']), 0.9);
      default:
        return this.cmd(this.r.pick(['AUTHENTICATE', 'AUTHENTICATE CRAM-MD5', 'AUTHENTICATE PLAIN * x', 'AUTHENTICATE PLAIN =']), 0.5);
    }
  }
  private idle(): void {
    this.cmd('IDLE', 0.9);
    if (this.r.chance(0.2)) this.literal(b('xyz'));
    this.line(this.r.pick(['DONE', 'done', 'DONE', 'NOPE', '']), 0.8);
  }
  private junk(): void {
    switch (this.r.int(6)) {
      case 0:
        return this.push(this.r.bytes(this.r.int(200)), 0.3);
      case 1:
        return this.line('', 0.3);
      case 2:
        return this.cmd('X ' + '('.repeat(this.r.pick([10, 70, 4000])), 0.3);
      case 3:
        // Longer than imap.max_command_length (64K): BAD [TOOBIG], BYE, close.
        if (this.r.chance(0.2)) this.line('a ' + 'x'.repeat(70_000), 0.5);
        return;
      case 4:
        return this.cmd(this.r.pick(['LOGIN {9000}', 'LOGIN {5+}\r\nalice x', 'NOOP {0}', 'ID ("a" "b\0c")', 'UID', 'UID NOOP', 'FOO', 'noop']), 0.4);
      default:
        return this.line(this.r.pick(['DONE', '*', '=', '+ x', ')', '"']), 0.3);
    }
  }

  session(): Segment[] {
    const moves = 1 + this.r.int(14);
    for (let i = 0; i < moves; i++) {
      const k = this.r.int(30);
      if (k < 2) this.cmd(this.r.pick([LOGIN, LOGIN, 'LOGIN alice@a.test wrong', 'LOGIN', 'LOGIN a b c']), 0.8);
      else if (k < 3) this.authenticate();
      else if (k < 4) this.cmd(this.r.pick(['STARTTLS', 'CAPABILITY', 'NOOP', 'ID NIL', 'ID ("name" "fuzz")', 'ENABLE IMAP4rev2', 'ENABLE UTF8=ACCEPT', 'NAMESPACE']));
      else if (k < 6) this.cmd(`${this.r.pick(['SELECT', 'EXAMINE'])} ${this.mailbox()}${this.r.pick(['', '', ' ()', ' (CONDSTORE)'])}`, 0.7);
      else if (k < 8) this.cmd(`${this.r.pick(['CREATE', 'DELETE', 'SUBSCRIBE', 'UNSUBSCRIBE', 'GETQUOTAROOT'])} ${this.mailbox()}${this.r.pick(['', '', ' (USE (\\Junk))'])}`);
      else if (k < 9) this.cmd(`RENAME ${this.mailbox()} ${this.mailbox()}`);
      else if (k < 11) this.cmd(this.r.pick(['LIST "" *', 'LIST "" %', 'LSUB "" *', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" *', 'LIST "" * RETURN (STATUS (MESSAGES SIZE))', `LIST "" "${'%'.repeat(this.r.pick([3, 200, 2000]))}"`, 'LIST (RECURSIVEMATCH) "" *', 'STATUS INBOX (MESSAGES UIDNEXT UNSEEN)', 'STATUS INBOX ()']));
      else if (k < 13) this.append();
      else if (k < 14) this.idle();
      else if (k < 17) this.cmd(`${this.r.pick(['', 'UID '])}FETCH ${this.set()} ${this.fetchAtt()}`);
      else if (k < 19) this.cmd(`${this.r.pick(['', 'UID '])}SEARCH ${this.r.pick(['', 'RETURN (SAVE) ', 'RETURN (MIN MAX COUNT) ', 'RETURN () '])}${this.searchKeys()}`);
      else if (k < 21) this.cmd(`${this.r.pick(['', 'UID '])}STORE ${this.set()} ${this.r.pick(['+FLAGS', '-FLAGS.SILENT', 'FLAGS', 'XFLAGS'])} ${this.r.pick(['(\\Seen)', '(\\Deleted $Work)', '\\Flagged', '()', '(\\Recent)', '(a]b)'])}`);
      else if (k < 23) this.cmd(`${this.r.pick(['', 'UID '])}${this.r.pick(['COPY', 'MOVE'])} ${this.set()} ${this.mailbox()}`);
      else if (k < 25) this.cmd(this.r.pick(['EXPUNGE', 'UID EXPUNGE 1:*', 'CLOSE', 'UNSELECT', 'CHECK', 'GETQUOTA ""', 'SETQUOTA "" (STORAGE 1)']));
      else if (k < 26) this.cmd(this.r.pick(['LOGOUT', 'logout']), 0.5);
      else this.junk();
    }
    return this.segs;
  }
}

export function imapPlan(r: Rng): Plan {
  let segments = new ImapGen(r).session();
  if (r.chance(0.3)) segments = resegment(mutate(Buffer.concat(segments.map((s) => s.bytes)), r), r, 0.4);
  return {
    listener: 'imap',
    tls: r.chance(0.5),
    early: null,
    segments,
    end: r.chance(0.5) ? 'fin' : 'close',
    knobs: { state: r.int(STATES.length), probe: r.chance(0.7) ? 1 : 0 },
    chunkSeed: r.seed(),
    backpressure: r.chance(0.3) ? 0.2 : 0,
  };
}

// ---- checks on the output ----

/** Every line is a response: untagged, a continuation request, or a tagged status (FETCH literals skipped). */
function checkResponses(out: Buffer): void {
  let pos = 0;
  let continued = false;
  while (pos < out.length) {
    const i = out.indexOf('\r\n', pos, 'latin1');
    if (i < 0) throw new PropertyError('partial-line', `output ends inside a line: ${JSON.stringify(out.subarray(pos, pos + 200).toString('latin1'))}`);
    const line = out.subarray(pos, i).toString('latin1');
    if (!continued && !/^(\* [A-Z0-9]|\+( |$)|[^\s*+]+ (OK|NO|BAD)( |$))/.test(line)) throw new PropertyError('malformed', `not a response: ${JSON.stringify(line.slice(0, 200))}`);
    if (/ NO \[SERVERBUG\]/.test(line)) throw new PropertyError('server-bug', line);
    const lit = /~?\{(\d+)\}$/.exec(line);
    pos = i + 2;
    continued = false;
    if (lit) {
      // The literal's octets, then the rest of the same response up to its CRLF.
      pos += Number(lit[1]);
      continued = true;
    }
  }
}

// ---- running one session ----

interface Env {
  t: ImapTestContext;
  ctx: ServerContext;
  logs: ReturnType<typeof errorCapturingLogger>;
  n: number;
  output: string;
}

async function expectLine(out: OutputReader, re: RegExp, what: string): Promise<boolean> {
  for (;;) {
    const l = await out.line(what);
    if (l === null) return false;
    if (re.test(l)) return true;
  }
}

/** Brings the session to its start state; false if it could not (it closed). */
async function prepare(state: StartState, t: FuzzTransport, out: OutputReader): Promise<boolean> {
  const send = (s: string): void => t.send(u(s));
  if (state === 'notauth') return true;
  if (state === 'authenticate') {
    send('au AUTHENTICATE PLAIN\r\n');
    return expectLine(out, /^\+ /, 'AUTHENTICATE');
  }
  send(`p1 ${LOGIN}\r\n`);
  if (!(await expectLine(out, /^p1 OK/, 'LOGIN'))) return false;
  if (state === 'auth') return true;
  if (state === 'literal') {
    send('ap APPEND INBOX {300000}\r\n');
    if (!(await expectLine(out, /^\+ /, 'APPEND'))) return false;
    // Past the blob writer's 64K buffer: the literal is in a temporary file now.
    t.send(Buffer.alloc(100_000, 0x61));
    return true;
  }
  send(`p2 SELECT INBOX\r\n`);
  if (!(await expectLine(out, /^p2 OK/, 'SELECT'))) return false;
  if (state === 'selected') return true;
  send('p3 IDLE\r\n');
  return expectLine(out, /^\+ idling/, 'IDLE');
}

/** Waits a little for the server to answer what it was sent (a barrier); never fails. */
async function settle(t: FuzzTransport): Promise<void> {
  const until = Date.now() + 200;
  let len = -1;
  while (!t.closed && Date.now() < until && len !== t.outLength) {
    len = t.outLength;
    await t.changed(20);
  }
}

async function runSession(env: Env, plan: Plan): Promise<void> {
  const state = STATES[plan.knobs['state'] ?? 0]!;
  const t = new FuzzTransport('imap', { tls: plan.tls, port: 143, id: `fz${++env.n}` }, new Rng(plan.chunkSeed), plan.backpressure);
  const rng = new Rng(plan.chunkSeed ^ 0x5a5a);
  const out = new OutputReader(t, REPLY_TIMEOUT);
  let session: ImapSession | null = null;
  t.attach((tr) => (session = createImapSession(env.ctx, tr) as ImapSession));
  try {
    if (!(await expectLine(out, /^\* OK /, 'the greeting'))) throw new PropertyError('no-greeting', 'closed before the greeting');
    if (!(await prepare(state, t, out))) throw new PropertyError('prepare', `could not reach ${state}`);
    let sentAll = true;
    for (const seg of plan.segments) {
      if (t.closed) {
        sentAll = false;
        break;
      }
      await feed(t, seg.bytes, rng);
      if (seg.barrier) await settle(t);
    }
    const closedEarly = t.closed && t.closedBy === 'server';
    if (!t.closed && plan.knobs['probe'] && state !== 'literal' && !Buffer.concat(plan.segments.map((s) => s.bytes)).includes(0x7b)) {
      // Complete whatever line is open, end an AUTHENTICATE or IDLE, then ask for NOOP.
      t.send(b('\r\n'));
      await settle(t);
      t.send(b('DONE\r\nzprobe NOOP\r\n'));
      const answered = await expectLine(out, /^zprobe (OK|NO|BAD)|^\* BYE /, 'the probe NOOP');
      if (!answered && !t.closed) throw new PropertyError('no-answer', 'the probe got no answer');
    }
    if (!t.closed) {
      if (plan.end === 'fin') {
        t.fin();
        await awaitClose(t, REPLY_TIMEOUT, 'the client\'s FIN');
      } else t.clientClose();
    }
    const text = t.output().toString('latin1');
    if ((closedEarly || (!sentAll && t.closedBy === 'server')) && !/(^|\r\n)\* BYE /.test(text)) {
      throw new PropertyError('silent-close', 'the server closed the connection without a BYE');
    }
    checkResponses(t.output());
    await awaitClose(t, REPLY_TIMEOUT, 'the end');
    const s = session as ImapSession | null;
    if (s && s.heldCount !== 0) throw new PropertyError('held', `${s.heldCount} resources still held after the session closed`);
    await expectEmptyDir(join(env.ctx.config.data_dir, 'tmp'), 'data/tmp');
    const errors = env.logs.take();
    if (errors.length) throw new PropertyError('error-log', errors.join('\n').slice(0, 2000));
  } finally {
    env.output = t.output().toString('latin1').slice(-4000);
    t.clientClose();
    // The authenticator counts failures per address; every session starts afresh.
    (env.ctx.auth as TestAuthenticator).failures.clear();
  }
}

/** Keeps a few messages in INBOX so FETCH, STORE, COPY and MOVE have something to act on. */
async function refill(t: ImapTestContext): Promise<void> {
  const inbox = (await t.store.getMailbox(t.accountId, 'INBOX'))!;
  let have = (await t.store.listMessages(inbox.id, { limit: 3 })).length;
  for (; have < 3; have++) {
    const staged = await t.store.blobs.stage(u(message(`refill ${have}`)));
    try {
      await t.store.deliver(staged, [{ accountId: t.accountId, mailbox: 'INBOX' }]);
    } finally {
      await t.store.blobs.discard(staged);
    }
  }
}

export const imapTarget: Target<Env> = {
  protocol: 'imap',
  async setup() {
    const t = await createImapTestContext({ config: { imap: { max_bad_commands_before_login: 20 } } });
    const logs = errorCapturingLogger();
    return { t, ctx: { ...t.ctx, logger: logs.logger }, logs, n: 0, output: '' };
  },
  async teardown(env) {
    await env.t.close();
  },
  plan: (_env, rng) => imapPlan(rng),
  async run(env, plan) {
    await refill(env.t);
    await runSession(env, plan);
  },
  lastOutput() {
    return current?.output ?? '';
  },
};

let current: Env | null = null;

/** Runs `iterations` random IMAP sessions from `seed`; throws FuzzFailure with a shrunk transcript. */
export async function fuzzImap(opts: FuzzOptions): Promise<void> {
  const target: Target<Env> = {
    ...imapTarget,
    async setup() {
      current = await imapTarget.setup();
      return current;
    },
  };
  await runTarget(target, opts, new HeapBound(32 * 1024 * 1024));
}
