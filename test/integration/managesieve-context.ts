// A ServerContext for ManageSieve transcript tests: a real store in a temporary directory, the
// real authenticator, accounts with known passwords, and PipeTransport sessions.
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
import { createManageSieveSession } from '../../src/managesieve/session.js';
import { PipeTransport } from '../helpers/pipe.js';
import { Transcript } from '../helpers/transcript.js';

export interface MsTestContext {
  ctx: ServerContext;
  store: Store;
  /** alice@example.test, password "secret pw". */
  alice: Account;
  bob: Account;
  /** A new session; reads the greeting (capabilities and OK). */
  connect(opts?: { tls?: boolean; remoteAddress?: string }): Promise<{ pipe: PipeTransport; t: Transcript; greeting: string[] }>;
  /** Connects over TLS and logs in with AUTHENTICATE PLAIN (SASL-IR). */
  login(account?: Account, password?: string): Promise<{ pipe: PipeTransport; t: Transcript }>;
  close(): Promise<void>;
}

const unused = (what: string) => () => Promise.reject(new Error(`${what} is not used by ManageSieve`));

export function plain(user: string, password: string): string {
  return Buffer.from(`\0${user}\0${password}`).toString('base64');
}

export async function createMsTestContext(overrides: Record<string, unknown> = {}): Promise<MsTestContext> {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-ms-'));
  const config: Config = configSchema.parse({ hostname: 'mail.example.test', data_dir: join(dir, 'data'), ...overrides });
  const logger = silentLogger();
  const store = await openStore(config.data_dir, { logger });
  const auth = createAuthenticator(store, config, logger);
  await store.addDomain('example.test');
  const alice = await store.addAccount('alice@example.test', await hashPassword('secret pw'));
  const bob = await store.addAccount('bob@example.test', await hashPassword('bobpw'));
  const checks: CheckPipeline = { connect: unused('checks'), helo: unused('checks'), mailFrom: unused('checks'), rcptTo: unused('checks'), data: unused('checks') };
  const outbound: Outbound = { enqueue: unused('outbound') };
  const ctx: ServerContext = { config, store, auth, outbound, resolver: createResolver({ servers: ['127.0.0.1:9'] }), checks, logger, now: () => new Date() };
  const pipes: PipeTransport[] = [];
  const connect = async (opts: { tls?: boolean; remoteAddress?: string } = {}) => {
    const pipe = new PipeTransport('managesieve', { tls: opts.tls, remoteAddress: opts.remoteAddress });
    pipe.localPort = 4190;
    pipes.push(pipe);
    pipe.attach((tr) => createManageSieveSession(ctx, tr));
    const t = new Transcript(pipe, { literals: true });
    const greeting = await t.until(/^OK /);
    return { pipe, t, greeting };
  };
  return {
    ctx,
    store,
    alice,
    bob,
    connect,
    async login(account = alice, password = account === alice ? 'secret pw' : 'bobpw') {
      const { pipe, t } = await connect({ tls: true });
      t.send(`AUTHENTICATE "PLAIN" "${plain(account.address, password)}"`);
      await t.expect(['OK "Logged in"']);
      return { pipe, t };
    },
    async close() {
      for (const p of pipes) p.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
