// Wires the whole mail system into one process (DESIGN.md): store, auth, DNS, checks, queue,
// TLS and the seven listeners, each protocol session created per connection.
import { mkdirSync } from 'node:fs';
import type { Config, ListenerName } from './config/schema.js';
import type { Logger } from './log/logger.js';
import type { ServerContext } from './context.js';
import type { SessionFactory } from './net/transport.js';
import { openStore } from './store/index.js';
import { createAuthenticator } from './auth/index.js';
import { createResolver } from './dns/resolver.js';
import { createPipeline } from './checks/types.js';
import { buildInboundChecks, createChecksStorage, observeJunkVerdicts } from './checks/index.js';
import { createDkimSigner } from './checks/dkim-sign.js';
import { openQueue } from './queue/index.js';
import { createTlsProvider } from './net/tls.js';
import { startListeners } from './net/listener.js';
import { createWorkerPool, type PoolStats } from './workers/pool.js';
import { registerPool, unregisterPool } from './workers/registry.js';
import { startLoopDelayMonitor, type LoopDelayStats } from './workers/loop-delay.js';
import { createSmtpSession } from './smtp/server/session.js';
import { createImapSession } from './imap/server/session.js';
import { createPop3Session } from './pop3/session.js';

export interface RunningServer {
  /** The addresses each listener is bound to ("ip:port"), after port 0 is resolved. */
  addresses: Record<ListenerName, string[]>;
  /** Re-reads the TLS certificate (SIGHUP). */
  reload(): Promise<void>;
  /** Stops accepting, lets in-flight work finish up to graceMs, closes everything. */
  stop(graceMs?: number): Promise<void>;
  /** Event-loop delay (p99, max) and the worker pool's counters. */
  stats(): { eventLoop: LoopDelayStats; workers: PoolStats };
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  mkdirSync(config.data_dir, { recursive: true });
  const store = await openStore(config.data_dir, { logger });
  const resolver = createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeout });
  const auth = createAuthenticator(store, config, logger);
  // CPU-heavy per-message work (DKIM/ARC/DMARC, signing, sealing) runs in these threads (src/workers).
  const workers = createWorkerPool({ threads: config.workers.threads, jobTimeoutMs: config.workers.job_timeout, maxQueue: config.workers.max_queue, logger });
  registerPool(config, workers);
  const loopDelay = startLoopDelayMonitor({ logger, intervalMs: 60_000, warnMs: config.workers.loop_delay_warn });
  const closeWorkers = async () => {
    loopDelay.stop();
    unregisterPool(config, workers);
    await workers.close();
  };
  // data_dir/checks.sqlite, shared by the checks and the Junk verdict observer (opened on first use).
  const checksStorage = createChecksStorage(config.data_dir, logger);
  const checks = createPipeline(buildInboundChecks({ config, resolver, store, logger, storage: checksStorage }));
  // A copy or move into or out of Junk, by whatever path it reaches the store, is the user's verdict.
  const stopVerdicts = observeJunkVerdicts(store, checksStorage, logger);
  const base: Omit<ServerContext, 'outbound'> = { config, store, auth, resolver, checks, logger, now: () => new Date() };
  const queue = await openQueue(base, { signer: createDkimSigner(config, store, logger, { workers }) });
  const ctx: ServerContext = { ...base, outbound: queue };
  const tls = await createTlsProvider(config, logger);

  const factories: Partial<Record<ListenerName, SessionFactory>> = {
    smtp: (t) => createSmtpSession(ctx, t),
    submission: (t) => createSmtpSession(ctx, t),
    submissions: (t) => createSmtpSession(ctx, t),
    imap: (t) => createImapSession(ctx, t),
    imaps: (t) => createImapSession(ctx, t),
    pop3: (t) => createPop3Session(ctx, t),
    pop3s: (t) => createPop3Session(ctx, t),
  };
  let listeners: Awaited<ReturnType<typeof startListeners>>;
  try {
    listeners = await startListeners({ config, logger, tls, factories });
  } catch (err) {
    await queue.stop(0);
    stopVerdicts();
    await store.close();
    await closeWorkers();
    throw err;
  }
  queue.start();

  let stopping: Promise<void> | null = null;
  return {
    addresses: listeners.addresses,
    reload: () => tls.reload(),
    stats: () => ({ eventLoop: loopDelay.stats(), workers: workers.stats() }),
    stop(graceMs = config.limits.shutdown_grace) {
      stopping ??= (async () => {
        await listeners.close(graceMs);
        await queue.stop(graceMs);
        stopVerdicts();
        await store.close();
        await closeWorkers();
      })();
      return stopping;
    },
  };
}
