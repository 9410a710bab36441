// Wires the whole mail system into one process (DESIGN.md): store, auth, DNS, checks, queue,
// TLS and the seven listeners, each protocol session created per connection.
import { mkdirSync } from 'node:fs';
import type { Config, HttpListenerName, ListenerName } from './config/schema.js';
import type { Logger } from './log/logger.js';
import type { ServerContext } from './context.js';
import type { SessionFactory } from './net/transport.js';
import { openStore } from './store/index.js';
import { createAuthenticator } from './auth/index.js';
import { createResolver } from './dns/resolver.js';
import { createPipeline } from './pipeline/types.js';
import { buildInboundChecks, createChecksStorage, observeJunkVerdicts } from './checks/index.js';
import { startDkimKeySync } from './checks/dkim-key-store.js';
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
import { createManageSieveSession } from './managesieve/session.js';
import { createMetrics, type Metrics } from './http/metrics.js';
import { countAuth, countSessions, countVerdicts, timeStore } from './http/instrument.js';
import { startHttp, type HttpListeners, type RouteRegistrar } from './http/server.js';
import { AcmeChallenges } from './http/acme-challenges.js';
import { startSieveMemoryPruning } from './delivery/sieve-memory.js';
import { TextIndexer } from './search/indexer.js';
import { apiRoutes } from './http/api/index.js';
import { AlpnChallenges } from './acme/alpn.js';
import { acmeEnabled } from './acme/names.js';
import { createAcmeManager, type AcmeManager } from './acme/manager.js';

export interface RunningServer {
  /** The addresses each listener is bound to ("ip:port"), after port 0 is resolved. */
  addresses: Record<ListenerName | HttpListenerName, string[]>;
  /** Prometheus metrics (served at /metrics on the admin listener). */
  metrics: Metrics;
  /** ACME http-01 tokens the http listener answers. */
  challenges: AcmeChallenges;
  /** Automatic certificates ([acme], src/acme); null when ACME is off. */
  acme: AcmeManager | null;
  /** Re-reads the TLS certificate (SIGHUP). */
  reload(): Promise<void>;
  /** Stops accepting, lets in-flight work finish up to graceMs, closes everything. */
  stop(graceMs?: number): Promise<void>;
  /** Event-loop delay (p99, max) and the worker pool's counters. */
  stats(): { eventLoop: LoopDelayStats; workers: PoolStats };
}

export interface StartServerOptions {
  /** Admin API routes, mounted under /api/v1 on the admin listener (src/http). */
  adminRoutes?: RouteRegistrar[];
}

export async function startServer(config: Config, logger: Logger, opts: StartServerOptions = {}): Promise<RunningServer> {
  mkdirSync(config.data_dir, { recursive: true });
  const metrics = createMetrics();
  // Every store call is timed into the store latency histogram (/metrics).
  const store = timeStore(await openStore(config.data_dir, { logger, config: config.store }), metrics);
  let storeOpen = true;
  const resolver = createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeout });
  const auth = countAuth(createAuthenticator(store, config, logger), metrics);
  // CPU-heavy per-message work (DKIM/ARC/DMARC, signing, sealing) runs in these threads (src/workers).
  const workers = createWorkerPool({ threads: config.workers.threads, jobTimeoutMs: config.workers.job_timeout, maxQueue: config.workers.max_queue, logger });
  registerPool(config, workers);
  const loopDelay = startLoopDelayMonitor({ logger, intervalMs: 60_000, warnMs: config.workers.loop_delay_warn });
  const closeWorkers = async () => {
    loopDelay.stop();
    unregisterPool(config, workers);
    await workers.close();
  };
  // The checks' state (data_dir/checks.sqlite, or the shared database with PostgreSQL), shared by the checks and the Junk verdict observer.
  const checksStorage = createChecksStorage(config.data_dir, logger, store);
  const checks = countVerdicts(createPipeline(buildInboundChecks({ config, resolver, store, logger, storage: checksStorage })), metrics);
  // A copy or move into or out of Junk, by whatever path it reaches the store, is the user's verdict.
  const stopVerdicts = observeJunkVerdicts(store, checksStorage, logger);
  const base: Omit<ServerContext, 'outbound'> = { config, store, auth, resolver, checks, logger, metrics, now: () => new Date() };
  const queue = await openQueue(base, { signer: createDkimSigner(config, store, logger, { workers }), onRecipientResult: (state) => metrics.queueOutcome(state) });
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
    managesieve: (t) => createManageSieveSession(ctx, t),
  };
  for (const [name, f] of Object.entries(factories) as Array<[ListenerName, SessionFactory]>) factories[name] = countSessions(name, f, metrics);
  metrics.setSources({
    queue: async () => ({ size: await queue.count(), oldestArrival: (await queue.list({ limit: 1 }))[0]?.createdAt ?? null }),
    eventLoop: () => {
      const s = loopDelay.stats();
      return { p99Ms: s.p99Ms ?? s.currentP99Ms, maxMs: s.maxMs ?? s.currentMaxMs };
    },
    // The certificate serving each name: a managed (ACME) one before the [tls]/self-signed one.
    certificates: () => {
      const seen = new Set<string>();
      return tls.certificates().map((c) => ({ ...c, names: c.names.filter((n) => !seen.has(n) && seen.add(n)) }));
    },
    workers: () => workers.stats(),
  });
  const challenges = new AcmeChallenges();
  const alpnChallenges = new AlpnChallenges();
  let bound = false;
  // Made once the listeners are bound (below); the admin API's TLS status reads it late.
  let acme: AcmeManager | null = null;
  let listeners: Awaited<ReturnType<typeof startListeners>>;
  let web: HttpListeners;
  try {
    listeners = await startListeners({ config, logger, tls, factories });
    const mail = listeners.addresses;
    web = await startHttp({
      tls,
      alpnChallenges,
      // The admin API (/api/v1, src/http/api) on the running store, queue and certificates.
      adminRoutes: [apiRoutes({ config, store, queue, tls, logger, resolver, acme: () => acme }), ...(opts.adminRoutes ?? [])],
      deps: {
        config,
        store,
        logger,
        metrics,
        challenges,
        mailAddresses: () => mail,
        // /readyz: 200 only when every listener is bound and the store is open and answers.
        async readiness() {
          const problems: string[] = [];
          if (!bound) problems.push('listeners not bound');
          if (!storeOpen) problems.push('store closed');
          else {
            try {
              await store.isLocalDomain(config.hostname);
            } catch (err) {
              problems.push(`store failed: ${(err as Error).message}`);
            }
          }
          return { ready: problems.length === 0, problems };
        },
      },
    }).catch(async (err: unknown) => {
      await listeners.close(0);
      throw err;
    });
  } catch (err) {
    await queue.stop(0);
    stopVerdicts();
    await store.close();
    await closeWorkers();
    throw err;
  }
  queue.start();
  // Expired Sieve memory (vacation replies, duplicate ids, redirect counters) is pruned hourly.
  const sievePruner = startSieveMemoryPruning({ store, logger, now: ctx.now });
  // With PostgreSQL the DKIM keys live in the database; this node's copy in data_dir/dkim, which the signer reads, follows it.
  const stopDkimSync = startDkimKeySync(config.data_dir, store, (err) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not copy the DKIM keys from the database'));
  // The full-text index is filled in the background, after messages are stored (src/search).
  const indexer = store.textIndex ? new TextIndexer(store, store.textIndex, logger) : null;
  indexer?.start();
  bound = true;
  const addresses = { ...listeners.addresses, ...web.addresses };
  acme = acmeEnabled(config)
    ? createAcmeManager({
        config,
        logger,
        resolver,
        tls,
        challenges,
        alpn: alpnChallenges,
        domains: async () => (await store.listDomains()).map((d) => d.name),
        boundAddresses: () => Object.values(addresses).flat(),
      })
    : null;
  await acme?.start();

  let stopping: Promise<void> | null = null;
  return {
    addresses,
    metrics,
    challenges,
    acme,
    async reload() {
      await tls.reload();
      acme?.recheck();
    },
    stats: () => ({ eventLoop: loopDelay.stats(), workers: workers.stats() }),
    stop(graceMs = config.limits.shutdown_grace) {
      stopping ??= (async () => {
        bound = false;
        await acme?.stop();
        await Promise.all([listeners.close(graceMs), web.close(graceMs)]);
        await queue.stop(graceMs);
        stopVerdicts();
        await sievePruner.stop();
        await stopDkimSync();
        await indexer?.stop();
        storeOpen = false;
        await store.close();
        await closeWorkers();
      })();
      return stopping;
    },
  };
}
