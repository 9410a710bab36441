// `yubin queue ...`: look at and act on the outbound queue. Works while the server runs (the
// scheduler polls the queue database, so a retry takes effect within a second or two) and
// while it is stopped (the change waits in data_dir, or in the PostgreSQL database with
// [store] backend = "postgresql", for the next start).
import type { Command } from 'commander';
import { action, configOf, formatBytes, say, UsageError } from './common.js';
import { QueueStore, queueAdmin, openQueueBackend, type QueueBackend, type QueuedMessage } from '../queue/index.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import type { Config } from '../config/schema.js';
import { silentLogger } from '../log/logger.js';
import { bounceQueued, deleteQueued, holdQueued, listQueue, releaseQueued, retryQueued, showQueued, type QueueAdmin } from '../admin/queue.js';

async function withQueue<T>(config: Config, fn: (q: QueueAdmin) => Promise<T> | T): Promise<T> {
  // SQLite: the queue database alone; PostgreSQL: the queue lives in the store's database
  let store: Store | null = null;
  let queue: QueueBackend;
  if (config.store.backend === 'postgresql') {
    store = await openStore(config.data_dir, { config: config.store });
    try {
      queue = await openQueueBackend(config, store, silentLogger());
    } catch (err) {
      await store.close();
      throw err;
    }
  } else queue = new QueueStore(config.data_dir);
  try {
    return await fn(queueAdmin(queue, config.hostname, () => new Date()));
  } finally {
    await queue.close();
    await store?.close();
  }
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function summary(m: QueuedMessage): string {
  const pending = m.recipients.filter((r) => r.state === 'queued' || r.state === 'deferred');
  const next = pending.length ? Math.min(...pending.map((r) => r.nextAttempt)) : null;
  const state = m.held ? 'held' : pending.some((r) => r.state === 'deferred') ? 'deferred' : pending.length ? 'queued' : 'done';
  return [m.id, state, when(m.createdAt), formatBytes(m.size), `<${m.from}>`, `${pending.length}/${m.recipients.length} pending`, next ? `next ${when(next)}` : ''].join('  ').trimEnd();
}

function detail(m: QueuedMessage): string {
  const lines = [
    `id: ${m.id}`,
    `from: <${m.from}>`,
    `arrived: ${when(m.createdAt)}`,
    `size: ${m.size} (${formatBytes(m.size)})`,
    `held: ${m.held ? 'yes' : 'no'}`,
  ];
  if (m.submittedBy) lines.push(`submitted by: ${m.submittedBy}`);
  if (m.clientIp) lines.push(`client: ${m.clientIp}`);
  if (m.envid) lines.push(`envid: ${m.envid}`);
  if (m.ret) lines.push(`ret: ${m.ret}`);
  if (m.needsUtf8) lines.push('smtputf8: needed');
  for (const r of m.recipients) {
    lines.push(`rcpt <${r.address}>: ${r.state}, ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`);
    if (r.state === 'queued' || r.state === 'deferred') lines.push(`  next attempt: ${when(r.nextAttempt)}`);
    if (r.lastReply) lines.push(`  last reply${r.remoteMta ? ` from ${r.remoteMta}` : ''}: ${r.lastReply}`);
    if (r.notify) lines.push(`  notify: ${r.notify.join(',')}`);
    if (r.orcpt) lines.push(`  orcpt: ${r.orcpt.type};${r.orcpt.address}`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  const queue = program.command('queue').description('the outbound queue: list, inspect, retry, hold, release, delete, bounce');

  queue
    .command('list')
    .description('list queued messages (id, state, arrival, size, sender, pending recipients, next attempt)')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const list = await withQueue(configOf(cmd), listQueue);
        if (opts.json) return say(JSON.stringify(list));
        if (!list.length) return say('queue is empty');
        for (const m of list) say(summary(m));
        say(`${list.length} message${list.length === 1 ? '' : 's'}`);
      }),
    );

  queue
    .command('show <id>')
    .description('show one message: envelope, DSN parameters, each recipient with its state and last reply')
    .option('--raw', 'print the message itself')
    .option('--json', 'print JSON')
    .action(
      action(async (id: string, opts: { raw?: boolean; json?: boolean }, cmd: Command) => {
        await withQueue(configOf(cmd), async (q) => {
          const m = await showQueued(q, { id });
          if (opts.raw) process.stdout.write(await q.read(m.id));
          else say(opts.json ? JSON.stringify(m) : detail(m));
        });
      }),
    );

  queue
    .command('retry [id]')
    .description('deliver now: make the pending recipients of one message (or of all, with --all) due')
    .option('--all', 'every message in the queue')
    .action(
      action(async (id: string | undefined, opts: { all?: boolean }, cmd: Command) => {
        if (!id && !opts.all) throw new UsageError('give a queue id or --all');
        if (id && opts.all) throw new UsageError('give either a queue id or --all, not both');
        const { recipients: n } = await withQueue(configOf(cmd), (q) => retryQueued(q, { id: id ?? null }));
        say(`${n} recipient${n === 1 ? '' : 's'} due now`);
      }),
    );

  queue
    .command('hold <id>')
    .description('keep a message in the queue without trying to deliver it')
    .action(
      action(async (id: string, _o: unknown, cmd: Command) => {
        const r = await withQueue(configOf(cmd), (q) => holdQueued(q, { id }));
        say(`held ${r.id}`);
      }),
    );

  queue
    .command('release <id>')
    .description('deliver a held message again')
    .action(
      action(async (id: string, _o: unknown, cmd: Command) => {
        const r = await withQueue(configOf(cmd), (q) => releaseQueued(q, { id }));
        say(`released ${r.id}`);
      }),
    );

  queue
    .command('delete <id>')
    .description('remove a message from the queue (silently, unless --bounce)')
    .option('--bounce', 'send the sender a failure DSN for the recipients still pending')
    .action(
      action(async (id: string, opts: { bounce?: boolean }, cmd: Command) => {
        const r = await withQueue(configOf(cmd), (q) => deleteQueued(q, { id, bounce: !!opts.bounce }));
        say(`deleted ${r.id}${r.bounced ? ' (sender notified)' : ''}`);
      }),
    );

  queue
    .command('bounce <id>')
    .description('give up on a message now: its pending recipients fail and the sender gets a DSN')
    .action(
      action(async (id: string, _o: unknown, cmd: Command) => {
        const r = await withQueue(configOf(cmd), (q) => bounceQueued(q, { id }));
        say(`bounced ${r.id}`);
      }),
    );
}
