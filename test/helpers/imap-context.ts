// Transcript-test context for the IMAP server: a real store in a temporary directory, a
// password checker, and clients over PipeTransport that read like a conversation:
//   const c = await t.connect(); await c.login(); const r = await c.cmd('SELECT INBOX'); r.ok();
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import type { ServerContext } from '../../src/context.js';
import type { AuthAttempt, AuthResult, Authenticator } from '../../src/auth/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { createImapSession } from '../../src/imap/server/session.js';
import { createChecksStorage, observeJunkVerdicts } from '../../src/checks/index.js';
import { PipeTransport } from './pipe.js';

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
