// A message this process has just enqueued starts from the copy of what its enqueue wrote
// (Scheduler.offer with `carried`, docs/queue.md "Scheduling"): that copy must be exactly what
// the database holds, and it is used only within the poll interval, so a change made meanwhile by
// `yubin queue` in another process (a hold) is seen as it would be without it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackResolver, startDnsServer, type TestDnsServer } from '../../test/helpers/dns-server.js';
import { validateConfig } from '../config/load.js';
import { openStore } from '../store/index.js';
import { silentLogger } from '../log/logger.js';
import { ScriptedRemote, until } from '../../test/integration/outbound-helpers.js';
import { QueueStore, freshMessage, type EnqueueRecord } from './queue.js';
import { RemoteDelivery } from './deliver-remote.js';
import { Scheduler } from './scheduler.js';

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

test('a new message is attempted from its carried copy within the poll interval, and read again after it (a hold made meanwhile is kept)', async () => {
  const remote = await new ScriptedRemote().listen();
  const dir = mkdtempSync(join(tmpdir(), 'yubin-carried-'));
  // one delivery at a time; polls far apart, so only the test's clock ages the carried copies
  const pollMs = 60_000;
  const config = validateConfig({ hostname: 'mail.a.test', data_dir: dir, queue: { remote_port: remote.port, concurrency: 1, per_domain_concurrency: 1 } });
  const store = await openStore(dir);
  const queue = new QueueStore(dir);
  const reads: string[] = [];
  const getForDelivery = queue.getForDelivery.bind(queue);
  queue.getForDelivery = (id, max) => {
    reads.push(id);
    return getForDelivery(id, max);
  };
  const clock = { now: Date.now() };
  const deps = { config, logger: silentLogger(), queue, resolver: loopbackResolver(dns.address) };
  const remoteDelivery = new RemoteDelivery(deps);
  // the first message's delivery waits here, holding the one slot
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const started: string[] = [];
  const deliver = remoteDelivery.deliver.bind(remoteDelivery);
  remoteDelivery.deliver = async (msg, rcpts, domain, bytes) => {
    started.push(msg.id);
    if (started.length === 1) await gate;
    return deliver(msg, rcpts, domain, bytes);
  };
  const scheduler = new Scheduler({ ...deps, store, remote: remoteDelivery, now: () => new Date(clock.now), pollMs });
  const offer = async (): Promise<string> => {
    const rec: EnqueueRecord = { from: 'alice@a.test', recipients: [{ address: 'x@remote.test' }], size: BODY.length, needsUtf8: false, headerFromDomain: 'a.test' };
    const bytes = Buffer.from(BODY);
    const id = await queue.enqueueBytes(bytes, rec, clock.now);
    await scheduler.offer(id, [{ idx: 0, domain: 'remote.test' }], { message: freshMessage(id, rec, clock.now), content: bytes });
    return id;
  };
  try {
    scheduler.start();
    const a = await offer();
    await until('the first message delivering', () => started.length === 1);
    assert.deepEqual(reads, [], 'started from the carried copy: not read again');
    const b = await offer();
    await queue.setHeld(b, true); // `yubin queue hold`, as from another process
    clock.now += pollMs; // the second message's copy is now a poll interval old
    open();
    await until('the first delivered and the second attempted', () => remote.messages.length === 1 && reads.length === 1 && scheduler.busy === 0);
    assert.deepEqual(reads, [b], 'a copy older than the poll interval is not used: the rows are read');
    assert.equal(remote.messages.length, 1, 'the held message is not sent');
    assert.ok((await queue.get(b))?.held);
    assert.equal(await queue.get(a), null);
  } finally {
    open();
    await scheduler.stop(500);
    await queue.close();
    await store.close();
    await remote.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
