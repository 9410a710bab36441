// A ServerContext for POP3 transcript tests: a real store in a temporary directory, the real
// authenticator, one domain and accounts with known passwords, and PipeTransport sessions.
// Outbound delivery and inbound checks are not used by POP3: calling them fails the test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.js';
import type { ServerContext } from '../../src/context.js';
import { createResolver } from '../../src/dns/resolver.js';
import { silentLogger } from '../../src/log/logger.js';
import { openStore } from '../../src/store/index.js';
import { createAuthenticator, hashPassword } from '../../src/auth/index.js';
import type { Account, Store } from '../../src/store/types.js';
import type { CheckPipeline } from '../../src/pipeline/types.js';
import type { Outbound } from '../../src/queue/types.js';
import { createPop3Session } from '../../src/pop3/session.js';
import { PipeTransport } from './pipe.js';

export interface Pop3TestContext {
  ctx: ServerContext;
  store: Store;
  dir: string;
  /** alice@example.test, password "secret pw" (with a space: PASS keeps it). */
  alice: Account;
  /** bob@example.test, password "bobpw". */
  bob: Account;
  /** Delivers a raw message into an account's INBOX; returns its UID. */
  deliver(account: Account, raw: string | Buffer): Promise<number>;
  /** A new POP3 session over a pipe; `tls` starts it as on the pop3s listener. */
  connect(opts?: { tls?: boolean; remoteAddress?: string }): Promise<PipeTransport>;
  /** Connects and logs in with USER/PASS (over TLS). */
  login(account?: Account, password?: string): Promise<PipeTransport>;
  close(): Promise<void>;
}

const unused = (what: string) => () => Promise.reject(new Error(`${what} is not used by POP3`));

export async function createPop3TestContext(overrides: Record<string, unknown> = {}): Promise<Pop3TestContext> {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-pop3-'));
  const config: Config = configSchema.parse({ hostname: 'mail.example.test', data_dir: join(dir, 'data'), ...overrides });
  const logger = silentLogger();
  const store = await openStore(config.data_dir, { logger });
  const auth = createAuthenticator(store, config, logger);
  await store.addDomain('example.test');
  const alice = await store.addAccount('alice@example.test', await hashPassword('secret pw'));
  const bob = await store.addAccount('bob@example.test', await hashPassword('bobpw'));
  const outbound: Outbound = { enqueue: unused('outbound') };
  const checks: CheckPipeline = { connect: unused('checks'), helo: unused('checks'), mailFrom: unused('checks'), rcptTo: unused('checks'), data: unused('checks') };
  const ctx: ServerContext = {
    config,
    store,
    auth,
    outbound,
    resolver: createResolver({ servers: ['127.0.0.1:9'] }),
    checks,
    logger,
    now: () => new Date(),
  };
  const transports: PipeTransport[] = [];

  const connect = async (opts: { tls?: boolean; remoteAddress?: string } = {}): Promise<PipeTransport> => {
    const t = new PipeTransport(opts.tls ? 'pop3s' : 'pop3', { tls: opts.tls, remoteAddress: opts.remoteAddress });
    t.localPort = opts.tls ? 995 : 110;
    transports.push(t);
    t.attach((tr) => createPop3Session(ctx, tr));
    await t.waitFor(/^\+OK .*\r\n$/);
    return t;
  };

  return {
    ctx,
    store,
    dir,
    alice,
    bob,
    async deliver(account, raw) {
      const staged = await store.blobs.stage(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
      const [r] = await store.deliver(staged, [{ accountId: account.id }]);
      await store.blobs.discard(staged);
      if (!r || !r.ok) throw new Error(`delivery failed: ${JSON.stringify(r)}`);
      return r.uid;
    },
    connect,
    async login(account = alice, password = account === alice ? 'secret pw' : 'bobpw') {
      const t = await connect({ tls: true });
      t.send(`USER ${account.address}\r\n`);
      await t.waitFor(/^\+OK.*\r\n$/);
      t.send(`PASS ${password}\r\n`);
      const r = await t.waitFor(/\r\n$/);
      if (!r.startsWith('+OK')) throw new Error(`login failed: ${r}`);
      return t;
    },
    async close() {
      for (const t of transports) t.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// Shared by the POP3 transcripts (src/pop3/*.test.ts): three messages and two readers.
export const MSG1 = 'From: carol@example.net\r\nTo: alice@example.test\r\nSubject: one\r\n\r\nHello Alice.\r\n.leading dot\r\n..two dots\r\nbye\r\n';
export const MSG2 = 'From: dave@example.net\r\nSubject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\nline 4\r\n';
export const MSG3 = 'Subject: three, no final CRLF\r\n\r\nlast line';

/** Reads a multi-line response and returns [status line, unstuffed body]. */
export async function multi(t: PipeTransport): Promise<[string, string]> {
  const raw = await t.waitFor(/^-ERR[^\r\n]*\r\n$|\r\n\.\r\n$/);
  if (raw.startsWith('-ERR')) return [raw.trimEnd(), ''];
  const i = raw.indexOf('\r\n');
  // The CRLF before the final "." ends the last line; it is left off here.
  const body = raw.slice(i + 2, raw.length - 3).replace(/\r\n$/, '');
  return [raw.slice(0, i), body.replace(/(^|\r\n)\./g, '$1')];
}

export async function cmd(t: PipeTransport, line: string): Promise<string> {
  t.send(line + '\r\n');
  return (await t.waitFor(/\r\n$/)).trimEnd();
}
