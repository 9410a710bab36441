// A message this process has just enqueued starts from the copy of what its enqueue wrote
// (Scheduler.offer with `carried`, docs/queue.md "Scheduling"): that copy must be exactly what
// the database holds, and it is used only while nothing but enqueues and deliveries changed the
// queue (QueueStore.copyMark), so a change made meanwhile by `yubin queue` in another process or
// by this process's admin API (a hold) is seen as it would be without it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackResolver, startDnsServer, type TestDnsServer } from '../../test/helpers/dns-server.js';
import { ScriptedRemote, until } from '../../test/integration/outbound-helpers.js';
import { validateConfig } from '../config/load.js';
import { openStore } from '../store/index.js';
import { silentLogger } from '../log/logger.js';
import { schedulerRig } from '../../test/helpers/scheduler-rig.js';
import { QueueStore, freshMessage, type EnqueueRecord } from './queue.js';
import { bounceMessage, openQueue } from './index.js';

let dns: TestDnsServer;
before(async () => {
  dns = await startDnsServer();
  dns.setRecords('remote.test', 'A', ['127.0.0.1']);
});
after(() => dns.close());

const BODY = 'From: Alice <alice@a.test>\r\nTo: x@remote.test\r\nSubject: carried\r\n\r\nhello\r\n';

test('freshMessage is the message as getForDelivery reads it back after the enqueue', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-carried-'));
  const q = new QueueStore(dir);
  try {
    const records: EnqueueRecord[] = [
      {
        from: 'alice@a.test',
        recipients: [
          { address: 'x@remote.test', notify: ['SUCCESS', 'FAILURE'], orcpt: { type: 'rfc822', address: 'x@old.test' } },
          { address: 'Y@Other.test', notify: ['NEVER'] },
          { address: 'z@remote.test', notify: [] },
        ],
        ret: 'HDRS',
        envid: 'env-1',
        smtputf8: true,
        body: '8BITMIME',
        requireTls: true,
        size: BODY.length,
        needsUtf8: true,
        headerFromDomain: 'a.test',
        submittedBy: 'alice@a.test',
        clientIp: '127.0.0.1',
      },
      { from: '', recipients: [{ address: 'x@remote.test' }], size: BODY.length, needsUtf8: false, headerFromDomain: null },
    ];
    for (const rec of records) {
      const now = Date.now();
      const id = await q.enqueueBytes(Buffer.from(BODY), rec, now);
      const read = await q.getForDelivery(id, 1 << 20);
      assert.deepEqual(freshMessage(id, rec, now), read!.message);
    }
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A scheduler on its own QueueStore with one delivery slot and polls far apart (only the test's
 * clock ages carried copies); the first message's delivery waits for `open()`, holding the slot.
 * `reads` lists the messages whose rows an attempt read back (getForDelivery).
 */
async function gatedScheduler() {
  const pollMs = 60_000;
  const clock = { now: Date.now() };
  const rig = await schedulerRig({ dnsAddress: dns.address, queue: { concurrency: 1, per_domain_concurrency: 1 }, pollMs, now: () => new Date(clock.now) });
  const { queue, remoteDelivery } = rig;
  const reads: string[] = [];
  const getForDelivery = queue.getForDelivery.bind(queue);
  queue.getForDelivery = (id, max) => {
    reads.push(id);
    return getForDelivery(id, max);
  };
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const started: string[] = [];
  const deliver = remoteDelivery.deliver.bind(remoteDelivery);
  remoteDelivery.deliver = async (msg, rcpts, domain, bytes) => {
    started.push(msg.id);
    if (started.length === 1) await gate;
    return deliver(msg, rcpts, domain, bytes);
  };
  const scheduler = rig.start();
  return {
    dir: rig.dir,
    pollMs,
    remote: rig.remote,
    queue,
    scheduler,
    reads,
    started,
    clock,
    open: () => open(),
    /** Enqueues one message and offers it with its carried copy, as the queue's enqueue does. */
    async offer(): Promise<string> {
      const rec: EnqueueRecord = { from: 'alice@a.test', recipients: [{ address: 'x@remote.test' }], size: BODY.length, needsUtf8: false, headerFromDomain: 'a.test' };
      const bytes = Buffer.from(BODY);
      const id = await queue.enqueueBytes(bytes, rec, clock.now);
      await scheduler.offer(id, [{ idx: 0, domain: 'remote.test' }], { message: freshMessage(id, rec, clock.now), content: bytes });
      return id;
    },
    async close() {
      open();
      await rig.close();
    },
  };
}

test('a new message is attempted from its carried copy, however old, while only enqueues and deliveries changed the queue', async () => {
  const g = await gatedScheduler();
  try {
    const a = await g.offer();
    await until('the first message delivering', () => g.started.length === 1);
    const b = await g.offer();
    g.clock.now += 2 * g.pollMs; // the second message's copy is two poll intervals old
    g.open();
    await until('both delivered', () => g.remote.messages.length === 2 && g.scheduler.busy === 0);
    assert.deepEqual(g.reads, [], 'both started from their carried copies: not read again');
    assert.equal(await g.queue.get(a), null);
    assert.equal(await g.queue.get(b), null);
  } finally {
    await g.close();
  }
});

type Gated = Awaited<ReturnType<typeof gatedScheduler>>;

/** Changes to a message made after its copy was taken, and what its rows say after them. */
const changes: Array<{ what: string; change: (g: Gated, id: string) => Promise<unknown>; after?: (g: Gated, id: string) => Promise<void> }> = [
  {
    what: 'a hold by another process (another connection: `yubin queue hold`)',
    change: async (g, id) => {
      const other = new QueueStore(g.dir);
      try {
        await other.setHeld(id, true);
      } finally {
        await other.close();
      }
    },
    after: async (g, id) => assert.ok((await g.queue.get(id))?.held),
  },
  {
    what: 'a hold by this process (the admin API)',
    change: (g, id) => g.queue.setHeld(id, true),
    after: async (g, id) => assert.ok((await g.queue.get(id))?.held),
  },
  {
    // bounceMessage's first step (its DSN and report come after, and move the mark themselves)
    what: "results recorded by anything but this process's attempt (an administrator's bounce)",
    change: (g, id) => g.queue.record(id, [{ idx: 0, state: 'bounced', status: '5.0.0', reply: '554 5.0.0 delivery cancelled by the administrator', countAttempt: false }], g.clock.now),
    after: async (g, id) => assert.equal((await g.queue.get(id))?.recipients[0]?.state, 'bounced'),
  },
  { what: 'bounceMessage (`yubin queue bounce`)', change: (g, id) => bounceMessage(g.queue, id, 'mail.a.test', new Date(g.clock.now)) },
];

for (const { what, change, after } of changes) {
  test(`${what} after the copy was taken is seen at once: the rows are read and the message is not sent`, async () => {
    const g = await gatedScheduler();
    try {
      const a = await g.offer();
      await until('the first message delivering', () => g.started.length === 1);
      const b = await g.offer();
      await change(g, b);
      // within the poll interval: the clock does not move
      g.open();
      await until('the first delivered and the second looked at', () => g.remote.messages.length >= 1 && g.reads.includes(b) && g.scheduler.busy === 0);
      assert.deepEqual(g.reads, [b], 'the copy is not used: the rows are read');
      assert.equal(g.remote.messages.length, 1, 'the changed message is not sent');
      assert.equal(g.started.length, 1);
      assert.equal(await g.queue.get(a), null);
      await after?.(g, b);
    } finally {
      await g.close();
    }
  });
}

test("a hold committed by another process while the enqueue's own commit is being synced is seen: the copy handed over by the enqueue is not used", async () => {
  const remote = await new ScriptedRemote().listen();
  const dir = mkdtempSync(join(tmpdir(), 'yubin-carried-'));
  const config = validateConfig({ hostname: 'mail.a.test', data_dir: dir, queue: { remote_port: remote.port } });
  const store = await openStore(dir);
  const other = new QueueStore(dir); // `yubin queue hold` in another process
  const reads: string[] = [];
  const { enqueueStaged, getForDelivery } = QueueStore.prototype;
  // the hold commits after the enqueue's commit, before the enqueue hands its copy over
  QueueStore.prototype.enqueueStaged = async function (this: QueueStore, ...args: Parameters<QueueStore['enqueueStaged']>) {
    const id = await enqueueStaged.apply(this, args);
    if (this !== other) await other.setHeld(id, true);
    return id;
  };
  QueueStore.prototype.getForDelivery = function (this: QueueStore, ...args: Parameters<QueueStore['getForDelivery']>) {
    reads.push(args[0]);
    return getForDelivery.apply(this, args);
  };
  const queue = await openQueue({ config, store, resolver: loopbackResolver(dns.address), logger: silentLogger(), now: () => new Date() }, { startScheduler: true, pollMs: 60_000 });
  try {
    const blob = await store.blobs.stage(Buffer.from(BODY));
    const id = await queue.enqueue({ from: 'alice@a.test', recipients: [{ address: 'x@remote.test' }], blob });
    await store.blobs.discard(blob);
    await until('the message looked at', () => reads.includes(id) || remote.messages.length > 0);
    assert.equal(remote.messages.length, 0, 'the held message is not sent');
    assert.ok((await other.get(id))?.held);
  } finally {
    QueueStore.prototype.enqueueStaged = enqueueStaged;
    QueueStore.prototype.getForDelivery = getForDelivery;
    await queue.stop(500);
    await other.close();
    await store.close();
    await remote.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
