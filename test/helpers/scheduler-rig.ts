// A queue Scheduler on its own QueueStore (data directory, store and scripted remote server made
// here), for tests that watch what the scheduler reads and sends: the parts are exposed so a test
// can wrap a QueueStore or RemoteDelivery method before the scheduler starts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { RemoteDelivery } from '../../src/queue/deliver-remote.js';
import { QueueStore } from '../../src/queue/queue.js';
import { Scheduler } from '../../src/queue/scheduler.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { ScriptedRemote } from '../integration/outbound-helpers.js';
import { loopbackResolver } from './dns-server.js';

export interface SchedulerRig {
  dir: string;
  remote: ScriptedRemote;
  store: Store;
  queue: QueueStore;
  remoteDelivery: RemoteDelivery;
  /** Makes and starts the scheduler (after any wrapping of queue or remoteDelivery). */
  start(): Scheduler;
  /** Stops the scheduler (if started) and removes everything. */
  close(): Promise<void>;
}

export async function schedulerRig(opts: { dnsAddress: string; queue?: Record<string, unknown>; pollMs: number; now?: () => Date }): Promise<SchedulerRig> {
  const remote = await new ScriptedRemote().listen();
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qs-'));
  const config = validateConfig({ hostname: 'mail.a.test', data_dir: dir, queue: { remote_port: remote.port, ...opts.queue } });
  const store = await openStore(dir);
  const queue = new QueueStore(dir);
  const deps = { config, logger: silentLogger(), queue, resolver: loopbackResolver(opts.dnsAddress) };
  const remoteDelivery = new RemoteDelivery(deps);
  let scheduler: Scheduler | null = null;
  return {
    dir,
    remote,
    store,
    queue,
    remoteDelivery,
    start() {
      scheduler = new Scheduler({ ...deps, store, remote: remoteDelivery, now: opts.now ?? (() => new Date()), pollMs: opts.pollMs });
      scheduler.start();
      return scheduler;
    },
    async close() {
      await scheduler?.stop(500);
      await queue.close();
      await store.close();
      await remote.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
