// Transcript-test context for the IMAP server: a real store in a temporary directory, a
// password checker, and clients over PipeTransport that read like a conversation:
//   const c = await t.connect(); await c.login(); const r = await c.cmd('SELECT INBOX'); r.ok();
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import type { ServerContext } from '../../src/context.js';
import type { AuthAttempt, AuthResult, Authenticator } from '../../src/auth/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { createImapSession } from '../../src/imap/server/session.js';
import { createChecksStorage, observeJunkVerdicts } from '../../src/checks/index.js';
import { PipeTransport } from './pipe.js';
import { Transcript } from './transcript.js';
import { ArgReader, ImapParseError, tokenizeArgs } from '../../src/imap/wire/tokenizer.js';
import { ImapError } from '../../src/imap/server/errors.js';
import type { ParseContext } from '../../src/imap/server/conn.js';

export const USER = 'alice@a.test';
export const PASSWORD = 'secret pw';

/**
 * Checks passwords stored as "plain:<password>" and refuses an IP after `maxFailures`
 * failures (throttled), so the IMAP side of both answers can be tested without argon2.
 */
export class TestAuthenticator implements Authenticator {
  failures = new Map<string, number>();
  constructor(
    private readonly store: Store,
    private readonly maxFailures = 5,
  ) {}
  async authenticate(a: AuthAttempt): Promise<AuthResult> {
    const n = this.failures.get(a.ip) ?? 0;
    if (n >= this.maxFailures) return { ok: false, reason: 'throttled', retryAfterMs: 60_000 };
    const acct = await this.store.getAccount(a.username);
    if (acct && acct.passwordHash === 'plain:' + a.password) return { ok: true, account: acct };
    this.failures.set(a.ip, n + 1);
    return { ok: false, reason: 'invalid' };
  }
}

export interface ImapTestContext {
  ctx: ServerContext;
  store: Store;
  accountId: number;
  connect(opts?: { tls?: boolean; remoteAddress?: string }): Promise<ImapTestClient>;
  close(): Promise<void>;
}

export async function createImapTestContext(opts: { config?: Record<string, unknown>; quota?: number } = {}): Promise<ImapTestContext> {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-imap-'));
  const store = await openStore(dir);
  await store.addDomain('a.test');
  const acct = await store.addAccount(USER, 'plain:' + PASSWORD, opts.quota ?? 0);
  await store.addAccount('bob@a.test', 'plain:bobpw');
  const config: Config = configSchema.parse({ data_dir: dir, auth: { allow_plaintext: true }, ...opts.config });
  const ctx: ServerContext = {
    config,
    store,
    auth: new TestAuthenticator(store),
    outbound: {} as ServerContext['outbound'],
    resolver: {} as ServerContext['resolver'],
    checks: {} as ServerContext['checks'],
    logger: silentLogger(),
    now: () => new Date(),
  };
  // As src/server.ts wires it: COPY/MOVE into or out of Junk records the user's verdict.
  const stopVerdicts = observeJunkVerdicts(store, createChecksStorage(dir, ctx.logger), ctx.logger);
  const clients: ImapTestClient[] = [];
  return {
    ctx,
    store,
    accountId: acct.id,
    async connect(o = {}) {
      const pipe = new PipeTransport('imap', o);
      pipe.attach((t) => createImapSession(ctx, t));
      const c = new ImapTestClient(pipe);
      clients.push(c);
      await c.pipe.waitFor(/^\* OK .*\r\n/);
      return c;
    },
    async close() {
      for (const c of clients) c.pipe.close();
      stopVerdicts();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One context for the tests of a file: created before the first test, closed after the last.
 * The object is filled in by the before hook, so tests use it as they would the context itself.
 */
export function useImapContext(opts: Parameters<typeof createImapTestContext>[0] = {}): ImapTestContext {
  const holder = {} as ImapTestContext;
  before(async () => {
    Object.assign(holder, await createImapTestContext(opts));
  });
  after(async () => {
    await holder.close();
  });
  return holder;
}

export class Reply {
  constructor(
    readonly text: string,
    readonly tag: string,
  ) {}
  /** The tagged line. */
  get tagged(): string {
    const m = new RegExp(`^${this.tag} (OK|NO|BAD)[^\r\n]*`, 'm').exec(this.text);
    return m ? m[0] : '';
  }
  /** Untagged lines (without literal payloads joined). */
  get untagged(): string[] {
    return this.text.split('\r\n').filter((l) => l.startsWith('* '));
  }
  ok(): this {
    assert.match(this.tagged, new RegExp(`^${this.tag} OK`), this.text);
    return this;
  }
  no(code?: string): this {
    assert.match(this.tagged, new RegExp(`^${this.tag} NO${code ? ` \\[${code.replace(/[[\]]/g, '\\$&')}` : ''}`), this.text);
    return this;
  }
  bad(): this {
    assert.match(this.tagged, new RegExp(`^${this.tag} BAD`), this.text);
    return this;
  }
  has(s: string | RegExp): this {
    if (typeof s === 'string') assert.ok(this.text.includes(s), `expected ${JSON.stringify(s)} in ${JSON.stringify(this.text)}`);
    else assert.match(this.text, s);
    return this;
  }
  lacks(s: string | RegExp): this {
    if (typeof s === 'string') assert.ok(!this.text.includes(s), `did not expect ${JSON.stringify(s)} in ${JSON.stringify(this.text)}`);
    else assert.doesNotMatch(this.text, s);
    return this;
  }
}

export class ImapTestClient {
  private n = 0;
  constructor(readonly pipe: PipeTransport) {}

  /** An exact-matching reader of this client's output (test/helpers/transcript.ts). */
  transcript(): Transcript {
    return new Transcript(this.pipe, { literals: true });
  }
  /** Sends raw bytes. */
  send(data: string | Buffer): void {
    this.pipe.send(data);
  }
  /** Sends a tagged command (CRLF added) and waits for the tagged reply. */
  async cmd(line: string, tag = `t${++this.n}`): Promise<Reply> {
    this.pipe.send(Buffer.from(`${tag} ${line}\r\n`, 'utf8'));
    return this.reply(tag);
  }
  /** Waits for the tagged reply of `tag`. */
  async reply(tag: string): Promise<Reply> {
    const text = await this.pipe.waitFor(new RegExp(`(^|\r\n)${tag} (OK|NO|BAD)[^\r\n]*\r\n`));
    return new Reply(text, tag);
  }
  async login(user = USER, password = PASSWORD): Promise<void> {
    (await this.cmd(`LOGIN ${JSON.stringify(user)} ${JSON.stringify(password)}`)).ok();
  }
  /** APPENDs a message with a synchronising literal; returns the UID. */
  async append(mailbox: string, message: string, flags = ''): Promise<number> {
    const tag = `a${++this.n}`;
    this.pipe.send(`${tag} APPEND ${mailbox} ${flags ? `(${flags}) ` : ''}{${Buffer.byteLength(message)}}\r\n`);
    await this.pipe.waitFor('+ ');
    this.pipe.send(message + '\r\n');
    const r = (await this.reply(tag)).ok();
    const m = /APPENDUID \d+ (\d+)/.exec(r.tagged);
    return Number(m![1]);
  }
}

export function message(subject: string, body = 'Hello world', extra = ''): string {
  return `From: Bob <bob@b.test>\r\nTo: alice@a.test\r\nSubject: ${subject}\r\nDate: Mon, 2 Feb 2026 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@b.test>\r\n${extra}\r\n${body}\r\n`;
}

// ---- grammar tables: a command's parse step from argument text, without a session ----

export type ParseFn<P> = (args: ArgReader, ctx: ParseContext) => P;

/** Runs a parse step on the arguments as they follow the command name on the wire (no literals). */
export function parseArgs<P>(fn: ParseFn<P>, text: string, ctx: Partial<ParseContext> = {}): P {
  const tokens = tokenizeArgs([{ kind: 'text', bytes: Buffer.from(text, 'utf8') }], 'T');
  return fn(new ArgReader(tokens, 'T'), { utf8: false, uid: false, ...ctx });
}

/** What a parse step answers: its value, or the status (BAD for a syntax error, NO for a refused value) and text. */
export function parseOutcome<P>(fn: ParseFn<P>, text: string, ctx: Partial<ParseContext> = {}): { ok: P } | { status: 'BAD' | 'NO'; text: string } {
  try {
    return { ok: parseArgs(fn, text, ctx) };
  } catch (e) {
    if (e instanceof ImapParseError) return { status: 'BAD', text: e.message };
    if (e instanceof ImapError) return { status: e.status, text: e.message };
    throw e;
  }
}

/**
 * Checks a table: each row is [argument text, expected value] or [argument text, 'BAD' | 'NO'];
 * `map` picks what to compare of a parsed value.
 */
export function checkGrammar<P>(fn: ParseFn<P>, rows: ReadonlyArray<readonly [string, unknown]>, opts: { ctx?: Partial<ParseContext>; map?: (p: P) => unknown } = {}): void {
  for (const [input, want] of rows) {
    const got = parseOutcome(fn, input, opts.ctx);
    if (want === 'BAD' || want === 'NO') {
      assert.ok('status' in got && got.status === want, `${JSON.stringify(input)}: expected ${want}, got ${JSON.stringify('ok' in got ? got.ok : got)}`);
      continue;
    }
    assert.ok('ok' in got, `${JSON.stringify(input)}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    assert.deepEqual(opts.map ? opts.map(got.ok) : got.ok, want, JSON.stringify(input));
  }
}
