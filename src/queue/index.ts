// The outbound queue (DESIGN.md "Queue"): durable enqueue, scheduler, local and remote
// delivery agents, DSNs; and the operations `yubin queue ...` needs.
import type { ServerContext } from '../context.js';
import type { Outbound, OutboundMessage, MessageSigner } from './types.js';
import { QueueError, freshMessage, type EnqueueRecord, type QueueBackend, type QueuedMessage, type RecipientState } from './queue.js';
import { openQueueBackend } from './store/open.js';
import { IN_MEMORY_MAX, RemoteDelivery } from './deliver-remote.js';
import { Scheduler } from './scheduler.js';
import { reportFinal } from './report.js';
import { domainOf } from '../store/validate.js';

export { QueueStore, QueueError, type QueueBackend, type QueuedMessage, type QueuedRecipient, type RecipientState } from './queue.js';
export { openQueueBackend } from './store/open.js';

export interface QueueOptions {
  /** Start delivering at once (default false: the server calls start() once its listeners are up). */
  startScheduler?: boolean;
  /** DKIM signer for mail sent to remote servers. */
  signer?: MessageSigner;
  /** Database poll interval in ms (default 1000). */
  pollMs?: number;
  /** Told each recipient outcome the queue records (metrics: delivered, deferred, bounced). */
  onRecipientResult?: (state: RecipientState) => void;
}

export interface Queue extends Outbound {
  start(): void;
  /** Stops delivering: in-flight deliveries may finish within graceMs, then are put back. Closes the database. */
  stop(graceMs: number): Promise<void>;
  /** Messages in id (arrival) order, a page at a time: after `afterId`, at most `limit` (default 1000). */
  list(opts?: { limit?: number; afterId?: string }): Promise<QueuedMessage[]>;
  /** Number of messages in the queue. */
  count(): Promise<number>;
  show(id: string): Promise<QueuedMessage>;
  /** Makes one message (or all, with null) due now; returns how many recipients. */
  retry(id: string | null): Promise<number>;
  hold(id: string): Promise<void>;
  release(id: string): Promise<void>;
  /** Removes a message; with bounce, its pending recipients get a failure DSN first. */
  delete(id: string, opts?: { bounce?: boolean }): Promise<void>;
  /** Gives up on a message now: pending recipients bounce, the sender gets a DSN. */
  bounce(id: string): Promise<void>;
  /** The message as queued (for `queue show --raw` and tests). */
  read(id: string): Promise<Buffer>;
}

/** Pending recipients of a message become bounced ("5.0.0 ... by the administrator"), and the DSN is sent. */
export async function bounceMessage(store: QueueBackend, id: string, hostname: string, now: Date): Promise<void> {
  await withLease(store, id, async () => {
    const msg = await store.mustGet(id);
    const pending = msg.recipients.filter((r) => r.state === 'queued' || r.state === 'deferred');
    await store.record(
      id,
      pending.map((r) => ({
        idx: r.idx,
        state: 'bounced' as const,
        status: r.lastStatus?.startsWith('4') ? r.lastStatus.replace(/^4/, '5') : '5.0.0',
        reply: `554 5.0.0 delivery cancelled by the administrator${r.lastReply ? ` (last reply: ${r.lastReply})` : ''}`,
        remoteMta: r.remoteMta,
        countAttempt: false,
      })),
      now.getTime(),
    );
    await reportFinal(store, id, { hostname, now, giveUpAfter: 0 });
  });
}

/**
 * Runs an admin change under the message's lease: with several nodes, never while another node is
 * attempting the message (that attempt's results would be recorded over the change).
 */
async function withLease<T>(store: QueueBackend, id: string, fn: () => Promise<T>): Promise<T> {
  await store.mustGet(id);
  if (!(await store.lease(id))) throw new QueueError(`message ${id} is being delivered by another node: try again in a moment`);
  try {
    return await fn();
  } finally {
    await store.unlease(id);
  }
}

/** The queue operations that work without a running scheduler (the CLI, in its own process). */
export function queueAdmin(store: QueueBackend, hostname: string, now: () => Date): Omit<Queue, 'enqueue' | 'start' | 'stop'> {
  return {
    list: (opts) => store.list(opts),
    count: () => store.count(),
    show: (id) => store.mustGet(id),
    retry: (id) => store.retry(id, now().getTime()),
    hold: (id) => store.setHeld(id, true),
    release: (id) => store.setHeld(id, false),
    async delete(id, opts) {
      await store.mustGet(id);
      if (opts?.bounce) await bounceMessage(store, id, hostname, now());
      // bouncing may already have finished (and removed) it
      if (await store.get(id)) await withLease(store, id, () => store.remove(id));
    },
    bounce: (id) => bounceMessage(store, id, hostname, now()),
    async read(id) {
      await store.mustGet(id);
      return store.readMessage(id);
    },
  };
}

/** A character outside ASCII. */
const NON_ASCII = /[^\x00-\x7f]/;

/** What the queue uses of the server context (a full Omit<ServerContext, 'outbound'> fits). */
export type QueueContext = Pick<ServerContext, 'config' | 'store' | 'resolver' | 'logger' | 'now'>;

export async function openQueue(ctx: QueueContext, opts: QueueOptions = {}): Promise<Queue> {
  const store = await openQueueBackend(ctx.config, ctx.store, ctx.logger);
  const onResult = opts.onRecipientResult;
  if (onResult) {
    const record = store.record.bind(store);
    store.record = async (id, results, now, by) => {
      const gone = await record(id, results, now, by);
      results.forEach((r) => onResult(r.state));
      return gone;
    };
  }
  const swept = await store.sweepOrphans();
  if (swept) ctx.logger.info({ files: swept }, 'queue: removed message files left by a crash before commit');
  const remote = new RemoteDelivery({ config: ctx.config, resolver: ctx.resolver, logger: ctx.logger, queue: store, signer: opts.signer });
  const scheduler = new Scheduler({ config: ctx.config, store: ctx.store, logger: ctx.logger, queue: store, remote, now: ctx.now, pollMs: opts.pollMs, outbound: { enqueue: (m) => queue.enqueue(m) } });
  let stopped: Promise<void> | null = null;

  const queue: Queue = {
    ...queueAdmin(store, ctx.config.hostname, ctx.now),
    async enqueue(message: OutboundMessage): Promise<string> {
      if (stopped) throw new QueueError('queue is shutting down');
      if (!message.recipients.length) throw new QueueError('no recipients');
      const s = message.blob.structure;
      const nonAscii = (a: string) => NON_ASCII.test(a);
      // RFC 6531 §3.4: SMTPUTF8 is needed for non-ASCII addresses or UTF-8 header fields
      const needsUtf8 = !!message.smtputf8 || nonAscii(message.from) || message.recipients.some((r) => nonAscii(r.address)) || !!s?.hasUtf8Headers;
      const fromHost = s?.envelope?.from?.[0]?.host ?? null;
      const now = ctx.now().getTime();
      const rec: EnqueueRecord = {
        from: message.from,
        recipients: message.recipients.map((r) => ({ address: r.address, notify: r.notify, orcpt: r.orcpt })),
        ret: message.ret,
        envid: message.envid,
        smtputf8: message.smtputf8,
        body: message.body,
        requireTls: message.requireTls,
        size: message.blob.size,
        needsUtf8,
        headerFromDomain: fromHost ? fromHost.toLowerCase() : null,
        submittedBy: message.submittedBy,
        clientIp: message.clientIp,
      };
      // the copy handed to the scheduler is valid only while nothing changed the queue since
      // before this commit (a hold arriving while the commit is synced included)
      const mark = store.leasing ? undefined : store.copyMark?.();
      const id = await store.enqueueStaged(message.blob, rec, now);
      ctx.logger.info({ queueId: id, from: message.from, rcpts: message.recipients.length, size: message.blob.size }, 'queued');
      // One server per database (no leases): the scheduler may start the new message from what was
      // just written (docs/queue.md "Scheduling"); with leases another node may hold it by now.
      const bytes = message.blob.bytes;
      const carried = store.leasing ? undefined : { message: freshMessage(id, rec, now), content: bytes && bytes.length <= IN_MEMORY_MAX ? bytes : null, mark };
      void scheduler.offer(
        id,
        carried ? carried.message.recipients : message.recipients.map((r, idx) => ({ idx, domain: domainOf(r.address) })),
        carried,
      ).catch((err: unknown) => ctx.logger.error({ err, queueId: id }, 'queue: scheduling a new message failed (the next poll finds it)'));
      return id;
    },
    start() {
      scheduler.start();
    },
    async retry(id) {
      const n = await store.retry(id, ctx.now().getTime());
      scheduler.kick();
      return n;
    },
    async release(id) {
      await store.setHeld(id, false);
      scheduler.kick();
    },
    stop(graceMs: number) {
      stopped ??= (async () => {
        await scheduler.stop(graceMs);
        await store.close();
      })();
      return stopped;
    },
  };
  if (opts.startScheduler) queue.start();
  return queue;
}
