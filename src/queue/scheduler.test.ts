// The queue end to end in one process, with a scripted remote SMTP server and a clock the test
// moves: per-recipient outcomes in one transaction, give-up, delay warnings, hold/release,
// NOTIFY=SUCCESS and NEVER, alias forwarding, DKIM prefix, shutdown with deliveries in flight.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackResolver, startDnsServer, type TestDnsServer } from '../../test/helpers/dns-server.js';
import { validateConfig } from '../config/load.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { silentLogger } from '../log/logger.js';
import { openQueue, type Queue } from './index.js';
import type { MessageSigner } from './types.js';
import { ScriptedRemote, until, untilDeferred } from '../../test/integration/outbound-helpers.js';
import { QueueStore } from './queue.js';
import { RemoteDelivery } from './deliver-remote.js';
import { Scheduler } from './scheduler.js';
import { schedulerRig } from '../../test/helpers/scheduler-rig.js';

let dns: TestDnsServer;
before(async () => {
  dns = await startDnsServer();
  dns.setRecords('remote.test', 'A', ['127.0.0.1']);
  // first MX: nothing listens there; second MX: the scripted remote
  dns.setRecords('fallback.test', 'MX', ['10 dead.fallback.test', '20 live.fallback.test']);
  dns.setRecords('dead.fallback.test', 'A', ['127.0.0.9']);
  dns.setRecords('live.fallback.test', 'A', ['127.0.0.1']);
});
after(() => dns.close());

interface Env {
  queue: Queue;
  store: Store;
  remote: ScriptedRemote;
  clock: { now: number };
  /** A new queue on the same data directory (after queue.stop), not started. */
  reopen(): Promise<Queue>;
  close(): Promise<void>;
}

async function env(opts: { queue?: (remotePort: number) => Record<string, unknown>; signer?: MessageSigner; pollMs?: number } = {}): Promise<Env> {
  const remote = await new ScriptedRemote().listen();
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qs-'));
  const config = validateConfig({
    hostname: 'mail.a.test',
    data_dir: dir,
    queue: { remote_port: remote.port, retry_initial: '5m', retry_max: '4h', give_up_after: '5d', delay_warning: '4h', ...opts.queue?.(remote.port) },
  });
  const store = await openStore(dir);
  await store.addDomain('a.test');
  await store.addAccount('alice@a.test', 'x');
  await store.addAccount('carol@a.test', 'x');
  const clock = { now: Date.now() };
  const ctx = { config, store, resolver: loopbackResolver(dns.address), logger: silentLogger(), now: () => new Date(clock.now) };
  let current = await openQueue(ctx, { startScheduler: true, pollMs: opts.pollMs ?? 30, signer: opts.signer });
  return {
    queue: current,
    store,
    remote,
    clock,
    async reopen() {
      current = await openQueue(ctx, { pollMs: 30, signer: opts.signer });
      return current;
    },
    async close() {
      await current.stop(500);
      await store.close();
      await remote.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const BODY = 'From: Alice <alice@a.test>\r\nTo: x@remote.test\r\nSubject: sched\r\n\r\nhello\r\n';

async function enqueue(e: Env, rcpts: Array<string | { address: string; notify?: Array<'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'> }>, from = 'alice@a.test', body = BODY): Promise<string> {
  const blob = await e.store.blobs.stage(Buffer.from(body));
  try {
    return await e.queue.enqueue({ from, recipients: rcpts.map((r) => (typeof r === 'string' ? { address: r } : r)), blob });
  } finally {
    await e.store.blobs.discard(blob);
  }
}

async function inbox(store: Store, address: string): Promise<string[]> {
  const acct = (await store.getAccount(address))!;
  const mb = (await store.getMailbox(acct.id, 'INBOX'))!;
  return Promise.all((await store.listMessages(mb.id)).map(async (m) => (await store.blobs.read(m.blobId)).toString('utf8')));
}

const stateOf = async (e: Env, id: string) => (await e.queue.show(id)).recipients.map((r) => r.state);

test('one transaction, three outcomes: 250 delivered, 450 deferred, 550 bounced (one DSN for the failure)', async () => {
  const e = await env();
  try {
    e.remote.rcpt.set('temp@remote.test', '450 4.2.1 try later');
    e.remote.rcpt.set('gone@remote.test', '550 5.1.1 no such user');
    const id = await enqueue(e, ['ok@remote.test', 'temp@remote.test', 'gone@remote.test']);
    await until('outcomes', async () => (await stateOf(e, id)).join() === 'delivered,deferred,bounced');
    assert.equal(e.remote.messages.length, 1);
    const dsn = (await until('DSN', async () => (await inbox(e.store, 'alice@a.test'))[0]))!;
    assert.match(dsn, /Final-Recipient: rfc822; gone@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\n/);
    assert.doesNotMatch(dsn, /temp@remote\.test|ok@remote\.test/);
    const t = (await e.queue.show(id)).recipients[1]!;
    assert.equal(t.lastReply, '450 4.2.1 try later');
    // the deferred one is retried alone, after retry_initial
    assert.equal(t.nextAttempt, e.clock.now + 5 * 60_000);
    e.remote.rcpt.delete('temp@remote.test');
    e.clock.now += 5 * 60_000;
    await until('retried', async () => (await e.queue.list()).length === 0);
    assert.equal(e.remote.messages.length, 2);
    assert.equal(e.remote.commands.filter((c) => c.startsWith('RCPT')).slice(3).join(), 'RCPT TO:<temp@remote.test>');
  } finally {
    await e.close();
  }
});

test('back-off doubles; a delay warning after 4 hours; gives up after 5 days with a failure DSN', async () => {
  const e = await env();
  try {
    e.remote.rcpt.set('slow@remote.test', '451 4.3.0 busy');
    const id = await enqueue(e, ['slow@remote.test']);
    const start = e.clock.now;
    const waits: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const r = await until(`attempt ${i}`, async () => {
        const x = (await e.queue.show(id)).recipients[0]!;
        return x.attempts === i ? x : null;
      });
      waits.push((r.nextAttempt - e.clock.now) / 60_000);
      e.clock.now = r.nextAttempt;
    }
    assert.deepEqual(waits, [5, 10, 20, 40]);
    // 4 h 15 min after arrival: a delay warning (default NOTIFY includes DELAY), once
    e.clock.now = start + 4 * 3_600_000 + 15 * 60_000;
    const warn = await until('delay DSN', async () => (await inbox(e.store, 'alice@a.test')).find((m) => m.includes('Action: delayed')));
    assert.match(warn, /Subject: Delayed Mail/);
    assert.match(warn, /Status: 4\.3\.0/);
    assert.match(warn, /Will-Retry-Until: /);
    // 5 days later: given up
    e.clock.now = start + 5 * 86_400_000 + 1;
    await e.queue.retry(id);
    const fail = await until('failure DSN', async () => (await inbox(e.store, 'alice@a.test')).find((m) => m.includes('Action: failed')));
    assert.match(fail, /Diagnostic-Code: smtp; 451 4\.3\.0 busy \(gave up after \d+ attempts\)/);
    await until('queue empty', async () => (await e.queue.list()).length === 0);
    assert.equal((await inbox(e.store, 'alice@a.test')).filter((m) => m.includes('Action: delayed')).length, 1);
  } finally {
    await e.close();
  }
});

test('NOTIFY=NEVER: no DSN; from <>: never a DSN; NOTIFY=SUCCESS to a server without DSN: "relayed"', async () => {
  const e = await env();
  try {
    e.remote.ehlo = ['PIPELINING']; // no DSN at the peer
    await enqueue(e, [{ address: 'ok@remote.test', notify: ['SUCCESS'] }]);
    const dsn = await until('success DSN', async () => (await inbox(e.store, 'alice@a.test'))[0]);
    assert.match(dsn, /Action: relayed\r\nStatus: 2\.0\.0/);
    assert.match(dsn, /Subject: Successful Mail Delivery Report/);
    e.remote.rcpt.set('gone@remote.test', '550 5.1.1 no');
    await enqueue(e, [{ address: 'gone@remote.test', notify: ['NEVER'] }]);
    await enqueue(e, ['gone@remote.test'], '');
    await until('both done', async () => (await e.queue.list()).length === 0);
    assert.equal((await inbox(e.store, 'alice@a.test')).length, 1, 'no DSN for NEVER or for <>');
    // without DSN at the peer, no NOTIFY parameter was sent
    assert.ok(e.remote.commands.includes('RCPT TO:<ok@remote.test>'));
  } finally {
    await e.close();
  }
});

test('local recipients: delivered into the INBOX (with a success DSN when asked), unknown ones bounce 5.1.1', async () => {
  const e = await env();
  try {
    await enqueue(e, [{ address: 'carol@a.test', notify: ['SUCCESS', 'FAILURE'] }, 'nobody@a.test']);
    const got = await until('carol has it', async () => (await inbox(e.store, 'carol@a.test'))[0]);
    assert.match(got, /Subject: sched/);
    const dsn = await until('DSN', async () => (await inbox(e.store, 'alice@a.test'))[0]);
    assert.match(dsn, /Final-Recipient: rfc822; carol@a\.test\r\nAction: delivered\r\n/);
    assert.match(dsn, /Final-Recipient: rfc822; nobody@a\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\n/);
    assert.equal(e.remote.connections, 0, 'local mail never leaves the process');
  } finally {
    await e.close();
  }
});

test('an alias to a remote address: forwarded with ORCPT', async () => {
  const e = await env();
  try {
    await e.store.addAlias('fwd@a.test', ['far@remote.test']);
    await enqueue(e, ['fwd@a.test']);
    await until('forwarded', async () => e.remote.messages.length === 1 && (await e.queue.list()).length === 0);
    assert.ok(e.remote.commands.includes('RCPT TO:<far@remote.test> ORCPT=rfc822;fwd@a.test'), e.remote.commands.join('\n'));
  } finally {
    await e.close();
  }
});

test('hold keeps a message; release delivers it', async () => {
  const e = await env();
  try {
    e.remote.rcpt.set('x@remote.test', '451 4.0.0 later');
    const id = await enqueue(e, ['x@remote.test']);
    await until('first attempt', async () => (await e.queue.show(id)).recipients[0]!.attempts === 1);
    await e.queue.hold(id);
    e.remote.rcpt.clear();
    await e.queue.retry(id);
    await new Promise((r) => setTimeout(r, 200)); // several polls: nothing may happen while held
    assert.equal((await e.queue.show(id)).recipients[0]!.attempts, 1);
    assert.equal((await e.queue.show(id)).held, true);
    await e.queue.release(id);
    await until('delivered', async () => (await e.queue.list()).length === 0);
  } finally {
    await e.close();
  }
});

test('DKIM: the signer\'s header lines go before the message; 8BITMIME passed on', async () => {
  const seen: string[] = [];
  const signer: MessageSigner = {
    async sign(o) {
      const parts: Buffer[] = [];
      for await (const c of o.message()) parts.push(c as Buffer);
      seen.push(`${o.from} ${o.headerFromDomain} ${Buffer.concat(parts).length}`);
      return 'DKIM-Signature: v=1; d=a.test; b=test\r\n';
    },
  };
  const e = await env({ signer });
  try {
    const blob = await e.store.blobs.stage(Buffer.from(BODY.replace('hello', 'grüß')));
    await e.queue.enqueue({ from: 'alice@a.test', recipients: [{ address: 'x@remote.test' }], blob, body: '8BITMIME' });
    await e.store.blobs.discard(blob);
    await until('sent', () => e.remote.messages.length === 1);
    assert.match(e.remote.messages[0]!, /^DKIM-Signature: v=1; d=a\.test; b=test\r\nFrom: Alice/);
    assert.deepEqual(seen, [`alice@a.test a.test ${Buffer.byteLength(BODY.replace('hello', 'grüß'))}`]);
    assert.ok(e.remote.commands.some((c) => /^MAIL FROM:<alice@a\.test> BODY=8BITMIME$/.test(c)), e.remote.commands.join('\n'));
  } finally {
    await e.close();
  }
});

test('stop(grace) with a delivery in flight: cut after the grace, left queued (not counted), delivered after reopening', async () => {
  const e = await env();
  try {
    e.remote.dataReply = null; // never answers the final dot
    const dotSeen = e.remote.nextDot();
    const id = await enqueue(e, ['x@remote.test']);
    await dotSeen;
    const t0 = Date.now();
    await e.queue.stop(100);
    assert.ok(Date.now() - t0 < 3000, 'stop returns soon after the grace time');
    e.remote.dataReply = '250 ok';
    const q2 = await e.reopen();
    const r = (await q2.show(id)).recipients[0]!;
    assert.equal(r.state, 'queued');
    assert.equal(r.attempts, 0);
    q2.start();
    await until('delivered after reopening', async () => (await q2.list()).length === 0);
    assert.equal(e.remote.messages.length, 2, 'sent again: at-least-once');
  } finally {
    await e.close();
  }
});

test('smarthost: everything remote goes to it, with AUTH, whatever the recipient domain\'s DNS says', async () => {
  const e = await env({ queue: (port) => ({ smarthost: { host: '127.0.0.1', port, tls: 'none', username: 'relay-user', password: 'relay-pw' } }) });
  try {
    e.remote.ehlo.push('AUTH PLAIN LOGIN');
    await enqueue(e, ['someone@not-in-dns.test']);
    await until('relayed', async () => (await e.queue.count()) === 0);
    assert.ok(e.remote.commands.includes(`AUTH PLAIN ${Buffer.from('\0relay-user\0relay-pw').toString('base64')}`), e.remote.commands.join('\n'));
    assert.ok(e.remote.commands.includes('RCPT TO:<someone@not-in-dns.test>'));
  } finally {
    await e.close();
  }
});

test('smarthost with tls = "starttls" and a relay without STARTTLS: deferred, never sent in plain text', async () => {
  const e = await env({ queue: (port) => ({ smarthost: { host: '127.0.0.1', port, tls: 'starttls' } }) });
  try {
    const id = await enqueue(e, ['someone@not-in-dns.test']);
    const r = await untilDeferred(e.queue, id);
    assert.match(r.lastReply!, /^4/);
    assert.equal(e.remote.messages.length, 0);
    assert.ok(!e.remote.commands.some((c) => c.startsWith('MAIL')));
  } finally {
    await e.close();
  }
});

test('opportunistic STARTTLS: a refused STARTTLS or a failed handshake falls back to plain text', async () => {
  const e = await env({ queue: () => ({ connect_timeout: '2s' }) });
  try {
    e.remote.ehlo.push('STARTTLS');
    await enqueue(e, ['a@remote.test']);
    await until('sent after 454 to STARTTLS', () => e.remote.accepted === 1);
    await e.queue.stop(100); // drop the kept connection
    e.remote.startTlsReply = '220 2.0.0 go ahead'; // then it cannot do TLS at all
    const q2 = await e.reopen();
    q2.start();
    const blob = await e.store.blobs.stage(Buffer.from(BODY));
    await q2.enqueue({ from: 'alice@a.test', recipients: [{ address: 'b@remote.test' }], blob });
    await e.store.blobs.discard(blob);
    await until('sent after the failed handshake', () => e.remote.accepted === 2, 15_000);
    assert.equal(e.remote.commands.filter((c) => c === 'STARTTLS').length, 2);
  } finally {
    await e.close();
  }
});

test('more than 100 recipients: several transactions on one connection', async () => {
  const e = await env();
  try {
    const rcpts = Array.from({ length: 150 }, (_, i) => `r${i}@remote.test`);
    await enqueue(e, rcpts);
    await until('delivered', async () => (await e.queue.count()) === 0);
    assert.equal(e.remote.accepted, 2);
    assert.equal(e.remote.commands.filter((c) => c.startsWith('RCPT')).length, 150);
    assert.equal(e.remote.connections, 1);
  } finally {
    await e.close();
  }
});

test('MX fallback: the first MX refuses the connection, the second takes the message', async () => {
  const e = await env();
  try {
    const id = await enqueue(e, ['x@fallback.test']);
    await until('delivered', async () => (await e.queue.count()) === 0);
    void id;
    assert.equal(e.remote.accepted, 1);
  } finally {
    await e.close();
  }
});

test('per-destination concurrency: never more deliveries to one domain at once than configured', async () => {
  const e = await env({ queue: () => ({ per_domain_concurrency: 2, concurrency: 10 }) });
  try {
    e.remote.dataReply = null; // hang after the data: deliveries stay in flight
    for (let i = 0; i < 5; i++) await enqueue(e, [`r${i}@remote.test`]);
    await until('two in flight', () => e.remote.messages.length === 2);
    await new Promise((r) => setTimeout(r, 300)); // several polls
    assert.equal(e.remote.messages.length, 2);
    assert.equal(e.remote.connections, 2);
    // local mail is not held up by a slow remote domain
    await enqueue(e, ['carol@a.test']);
    await until('local delivered', async () => (await inbox(e.store, 'carol@a.test')).length === 1);
  } finally {
    await e.queue.stop(50);
    await e.close();
  }
});

test('new mail is seen at once while every due message read before waits for its destination (no poll needed)', async () => {
  // a poll far away: only the enqueue's own wake-up can start the local delivery
  const e = await env({ queue: () => ({ per_domain_concurrency: 1, concurrency: 10 }), pollMs: 60_000 });
  try {
    e.remote.dataReply = null; // hang after the data: the remote domain's one slot stays taken
    for (let i = 0; i < 3; i++) await enqueue(e, [`r${i}@remote.test`]);
    await until('one in flight', () => e.remote.messages.length === 1);
    await enqueue(e, ['carol@a.test']);
    await until('local delivered', async () => (await inbox(e.store, 'carol@a.test')).length === 1, 5_000);
    assert.equal(e.remote.messages.length, 1);
  } finally {
    await e.queue.stop(50);
    await e.close();
  }
});

test('SIZE: a message larger than the server declares bounces 5.3.4 without MAIL; REQUIRETLS without TLS bounces 5.7.30', async () => {
  const e = await env();
  try {
    e.remote.ehlo.push('SIZE 20');
    await enqueue(e, ['big@remote.test']);
    const dsn = await until('size DSN', async () => (await inbox(e.store, 'alice@a.test'))[0]);
    assert.match(dsn, /Status: 5\.3\.4\r\n/);
    assert.match(dsn, /exceeds the fixed limit 20/);
    assert.ok(!e.remote.commands.some((c) => c.startsWith('MAIL')));
    e.remote.ehlo = ['PIPELINING'];
    await e.queue.stop(50);
    const q2 = await e.reopen();
    q2.start();
    const blob = await e.store.blobs.stage(Buffer.from(BODY));
    await q2.enqueue({ from: 'alice@a.test', recipients: [{ address: 'tls@remote.test' }], blob, requireTls: true });
    await e.store.blobs.discard(blob);
    const dsn2 = await until('REQUIRETLS DSN', async () => (await inbox(e.store, 'alice@a.test')).find((m) => m.includes('tls@remote.test')));
    assert.match(dsn2, /Status: 5\.7\.30\r\n/);
    assert.equal(e.remote.messages.length, 0);
  } finally {
    await e.close();
  }
});

test('BINARYMIME: sent unchanged with BDAT LAST to a server with CHUNKING and BINARYMIME; bounced 5.6.3 elsewhere', async () => {
  const e = await env();
  try {
    const raw = Buffer.from('From: alice@a.test\r\nSubject: bin\r\n\r\n.dot\nbare lf\rbare cr\x00nul\r\n', 'latin1');
    e.remote.ehlo.push('CHUNKING', 'BINARYMIME');
    const blob = await e.store.blobs.stage(raw);
    await e.queue.enqueue({ from: 'alice@a.test', recipients: [{ address: 'bin@remote.test' }], blob, body: 'BINARYMIME' });
    await until('sent', () => e.remote.accepted === 1);
    assert.equal(e.remote.messages[0], raw.toString('utf8'));
    assert.ok(e.remote.commands.includes(`BDAT ${raw.length} LAST`), e.remote.commands.join('\n'));
    assert.ok(e.remote.commands.some((c) => c === 'MAIL FROM:<alice@a.test> BODY=BINARYMIME'));
    await e.queue.stop(50);
    e.remote.ehlo = ['PIPELINING', 'CHUNKING'];
    const q2 = await e.reopen();
    q2.start();
    await q2.enqueue({ from: 'alice@a.test', recipients: [{ address: 'bin2@remote.test' }], blob, body: 'BINARYMIME' });
    await e.store.blobs.discard(blob);
    const dsn = await until('DSN', async () => (await inbox(e.store, 'alice@a.test'))[0]);
    assert.match(dsn, /Status: 5\.6\.3\r\n/);
  } finally {
    await e.close();
  }
});

test('a delivery slot is free once the remote replied: the next delivery starts while the results wait to be recorded, and a unit waiting for its record is not sent again', async () => {
  const remote = await new ScriptedRemote().listen();
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qs-'));
  const config = validateConfig({ hostname: 'mail.a.test', data_dir: dir, queue: { remote_port: remote.port, concurrency: 1, per_domain_concurrency: 1 } });
  const store = await openStore(dir);
  const queue = new QueueStore(dir);
  // recording waits until the test opens the gate
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const record = queue.record.bind(queue);
  queue.record = async (...args) => {
    await gate;
    return record(...args);
  };
  const logger = silentLogger();
  const deps = { config, logger, queue, resolver: loopbackResolver(dns.address) };
  const scheduler = new Scheduler({ ...deps, store, remote: new RemoteDelivery(deps), now: () => new Date(), pollMs: 20 });
  try {
    for (const to of ['x@remote.test', 'y@remote.test']) await queue.enqueueBytes(Buffer.from(BODY), { from: 'alice@a.test', recipients: [{ address: to }], size: BODY.length, needsUtf8: false, headerFromDomain: 'a.test' }, Date.now());
    scheduler.start();
    await until('both at the remote with one slot', () => remote.messages.length === 2);
    await new Promise((r) => setTimeout(r, 150)); // several polls: neither is sent again
    assert.equal(remote.messages.length, 2);
    assert.equal(await queue.count(), 2);
    open();
    await until('both recorded (and removed)', async () => (await queue.count()) === 0);
    assert.equal(remote.messages.length, 2);
  } finally {
    open();
    await scheduler.stop(500);
    await queue.close();
    await store.close();
    await remote.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A Scheduler on its own QueueStore, the database reads (`due()`) counted, with a poll far away (60 s): only the scheduler's own wake-ups read. */
async function bareScheduler(queueConfig: Record<string, unknown> = {}) {
  const rig = await schedulerRig({ dnsAddress: dns.address, queue: queueConfig, pollMs: 60_000 });
  const { queue } = rig;
  const counts = { reads: 0 };
  const due = queue.due.bind(queue);
  queue.due = async (...args) => {
    counts.reads++;
    return due(...args);
  };
  let scheduler: Scheduler | null = null;
  return {
    remote: rig.remote,
    queue,
    counts,
    start(): void {
      scheduler = rig.start();
    },
    /** Enqueues a one-recipient message (offered to the scheduler with `offer`). */
    async enqueue(to: string, offer: boolean): Promise<string> {
      const rec = { from: 'alice@a.test', recipients: [{ address: to }], size: BODY.length, needsUtf8: false, headerFromDomain: 'a.test' };
      const id = await queue.enqueueBytes(Buffer.from(BODY), rec, Date.now());
      if (offer) await scheduler!.offer(id, [{ idx: 0, domain: 'remote.test' }]);
      return id;
    },
    close: () => rig.close(),
  };
}

test('a steady flow of new mail reads the database once, not once per message: every due recipient is already known', async () => {
  const b = await bareScheduler();
  try {
    b.start();
    await until('the first read', () => b.counts.reads === 1);
    for (let i = 0; i < 10; i++) {
      await b.enqueue(`r${i}@remote.test`, true);
      await until(`message ${i} delivered and recorded`, async () => (await b.queue.count()) === 0);
    }
    assert.equal(b.remote.messages.length, 10);
    assert.equal(b.counts.reads, 1);
  } finally {
    await b.close();
  }
});

test('a read cut short at its row limit is read on when the backlog runs out, without waiting for the poll', async () => {
  // one slot: each read asks for 16 + 256 = 272 rows
  const b = await bareScheduler({ concurrency: 1, per_domain_concurrency: 1 });
  try {
    for (let i = 0; i < 300; i++) await b.enqueue(`r${i}@remote.test`, false);
    b.start();
    await until('all 300 delivered', async () => (await b.queue.count()) === 0, 20_000);
    assert.equal(b.remote.messages.length, 300);
    assert.equal(b.counts.reads, 2);
  } finally {
    await b.close();
  }
});

test('after a run fails (its results not recorded), the next time the backlog runs out reads the database again: the message is sent again without waiting for the poll', async () => {
  const b = await bareScheduler();
  const record = b.queue.record.bind(b.queue);
  let failures = 0;
  b.queue.record = async (...args) => {
    if (failures++ === 0) throw new Error('disk full');
    return record(...args);
  };
  try {
    b.start();
    await until('the first read', () => b.counts.reads === 1);
    await b.enqueue('first@remote.test', true);
    await until('the first delivery failed to record', () => failures === 1 && b.remote.messages.length === 1);
    // a new message: once it is delivered the backlog is empty and the first is still due
    await b.enqueue('second@remote.test', true);
    await until('both recorded', async () => (await b.queue.count()) === 0, 10_000);
    assert.equal(b.remote.commands.filter((c) => c === 'RCPT TO:<first@remote.test>').length, 2);
    assert.equal(b.remote.messages.length, 3);
    assert.equal(b.counts.reads, 2);
  } finally {
    await b.close();
  }
});

test('a burst of new mail asks the store whether the domain is local once, not once per message', async () => {
  const e = await env();
  try {
    let asked = 0;
    const isLocalDomain = e.store.isLocalDomain.bind(e.store);
    e.store.isLocalDomain = async (d: string) => {
      asked++;
      return isLocalDomain(d);
    };
    const blobs = await Promise.all(Array.from({ length: 20 }, (_, i) => e.store.blobs.stage(Buffer.from(BODY + i))));
    // enqueued together: committed together and offered to the scheduler in the same turn
    await Promise.all(blobs.map((blob, i) => e.queue.enqueue({ from: 'alice@a.test', recipients: [{ address: `r${i}@remote.test` }], blob })));
    await until('all delivered', () => e.remote.messages.length === 20);
    assert.equal(asked, 1);
    await Promise.all(blobs.map((b) => e.store.blobs.discard(b)));
  } finally {
    await e.close();
  }
});

test('a kept connection is reused for the next message and closed (QUIT) once idle for idleMs', async () => {
  const remote = await new ScriptedRemote().listen();
  const dir = mkdtempSync(join(tmpdir(), 'yubin-qs-'));
  const config = validateConfig({ hostname: 'mail.a.test', data_dir: dir, queue: { remote_port: remote.port } });
  const queue = new QueueStore(dir);
  const delivery = new RemoteDelivery({ config, logger: silentLogger(), queue, resolver: loopbackResolver(dns.address), idleMs: 200 });
  try {
    const send = async (to: string) => {
      const id = await queue.enqueueBytes(Buffer.from(BODY), { from: 'alice@a.test', recipients: [{ address: to }], size: BODY.length, needsUtf8: false, headerFromDomain: 'a.test' }, Date.now());
      const msg = (await queue.get(id))!;
      return delivery.deliver(msg, msg.recipients, 'remote.test');
    };
    assert.equal((await send('x@remote.test'))[0]!.state, 'delivered');
    assert.equal((await send('y@remote.test'))[0]!.state, 'delivered');
    assert.equal(remote.connections, 1);
    assert.ok(!remote.commands.includes('QUIT'));
    await until('closed when idle', () => remote.commands.includes('QUIT'), 3_000);
    assert.equal((await send('z@remote.test'))[0]!.state, 'delivered');
    assert.equal(remote.connections, 2);
  } finally {
    await delivery.closeIdle();
    await queue.close();
    await remote.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
