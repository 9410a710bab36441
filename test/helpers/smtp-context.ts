// Test helpers for SMTP transcript tests: a ServerContext over a real store in a temporary
// directory, and an Outbound that really persists what it is given (to a directory, fsynced)
// until the queue is wired in by the lead.
import { mkdtemp, rm, copyFile, open, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { validateConfig } from '../../src/config/load.js';
import type { ServerContext } from '../../src/context.js';
import { openStore } from '../../src/store/index.js';
import { stagedFile } from '../../src/store/blobs.js';
import type { Store } from '../../src/store/types.js';
import type { Authenticator } from '../../src/auth/types.js';
import { createAuthenticator } from '../../src/auth/index.js';
import { createPipeline, type Check } from '../../src/pipeline/types.js';
import type { Outbound, OutboundMessage } from '../../src/queue/types.js';
import { createResolver, type Resolver } from '../../src/dns/resolver.js';
import { silentLogger } from '../../src/log/logger.js';
import type { Session, Transport } from '../../src/net/transport.js';
import { createSmtpSession } from '../../src/smtp/server/session.js';

export type StoredOutbound = Omit<OutboundMessage, 'blob'> & { id: string; blobId: string; size: number };

/** An Outbound that writes each message (JSON envelope + the blob bytes) to a directory, fsynced. */
export class DirOutbound implements Outbound {
  private seq = 0;

  constructor(private readonly dir: string) {}

  async enqueue(message: OutboundMessage): Promise<string> {
    // Ids sort in enqueue order, so list() returns the messages in the order they came.
    const id = 'Q' + String(++this.seq).padStart(6, '0') + randomBytes(4).toString('hex').toUpperCase();
    const { blob, ...rest } = message;
    if (blob.bytes) await writeFile(join(this.dir, `${id}.eml`), blob.bytes);
    else await copyFile(stagedFile(blob), join(this.dir, `${id}.eml`));
    const record: StoredOutbound = { ...rest, id, blobId: blob.id, size: blob.size };
    const fh = await open(join(this.dir, `${id}.json`), 'w');
    await fh.writeFile(JSON.stringify(record));
    await fh.sync();
    await fh.close();
    const eml = await open(join(this.dir, `${id}.eml`), 'r+');
    await eml.sync();
    await eml.close();
    return id;
  }

  async list(): Promise<Array<StoredOutbound & { bytes: Buffer }>> {
    const out: Array<StoredOutbound & { bytes: Buffer }> = [];
    for (const f of (await readdir(this.dir)).filter((n) => n.endsWith('.json')).sort()) {
      const rec = JSON.parse(await readFile(join(this.dir, f), 'utf8')) as StoredOutbound;
      out.push({ ...rec, bytes: await readFile(join(this.dir, `${rec.id}.eml`)) });
    }
    return out;
  }
}

export interface TestEnv {
  dir: string;
  ctx: ServerContext;
  store: Store;
  outbound: DirOutbound;
  /** The session factory (tests attach it to a PipeTransport from test/helpers/pipe.ts). */
  factory(transport: Transport): Session;
  /** The raw bytes of every message in a mailbox, in UID order. */
  mailbox(address: string, name?: string): Promise<Buffer[]>;
  close(): Promise<void>;
}

export interface TestEnvOptions {
  smtp?: Record<string, unknown>;
  /** The [auth] config section (throttling limits). */
  authConfig?: Record<string, unknown>;
  checks?: Check[];
  /** The [checks] config section (rate limits, SRS, ARC sealing). */
  checksConfig?: Record<string, unknown>;
  /** Builds the checks from the finished context (e.g. buildInboundChecks); wins over `checks`. */
  buildChecks?: (ctx: ServerContext) => Check[];
  auth?: Authenticator;
  /** Default: a resolver that is never asked (loopback clients have no reverse DNS lookup). */
  resolver?: Resolver;
  hostname?: string;
}

export async function createTestEnv(opts: TestEnvOptions = {}): Promise<TestEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-smtp-'));
  const config = validateConfig({ hostname: opts.hostname ?? 'mx.a.test', data_dir: join(dir, 'data'), smtp: opts.smtp ?? {}, auth: opts.authConfig ?? {}, checks: opts.checksConfig ?? {} });
  const store = await openStore(config.data_dir);
  const qdir = join(dir, 'outbound');
  await (await import('node:fs/promises')).mkdir(qdir, { recursive: true });
  const outbound = new DirOutbound(qdir);
  const ctx: ServerContext = {
    config,
    store,
    // The real authentication core; throttling delays are not waited out in tests (refusals still happen).
    auth: opts.auth ?? createAuthenticator(store, config, silentLogger(), { sleep: async () => undefined }),
    outbound,
    // Never asked in transcript tests: the clients are on loopback (no reverse DNS).
    resolver: opts.resolver ?? createResolver({ servers: ['127.0.0.1:9'], timeoutMs: 100, tries: 1 }),
    checks: createPipeline(opts.checks ?? []),
    logger: silentLogger(),
    now: () => new Date(),
  };
  if (opts.buildChecks) ctx.checks = createPipeline(opts.buildChecks(ctx));
  const transports: Transport[] = [];
  return {
    dir,
    ctx,
    store,
    outbound,
    factory(transport) {
      transports.push(transport);
      return createSmtpSession(ctx, transport);
    },
    async mailbox(address, name = 'INBOX') {
      const account = await store.getAccount(address);
      if (!account) throw new Error(`no account ${address}`);
      const box = await store.getMailbox(account.id, name);
      if (!box) throw new Error(`no mailbox ${name}`);
      const msgs = await store.listMessages(box.id);
      return Promise.all(msgs.map((m) => store.blobs.read(m.blobId)));
    },
    async close() {
      for (const t of transports) t.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
