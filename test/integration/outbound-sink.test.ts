// The outbound queue and SMTP client against a peer we did not write: Postfix's smtp-sink.
// 2xx, 4xx and 5xx replies, a disconnect mid-DATA, DSN parameters on the wire, connection reuse.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackResolver, startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { validateConfig } from '../../src/config/load.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { openQueue, type Queue } from '../../src/queue/index.js';
import { parseMessage } from '../../src/message/parser.js';
import { haveSmtpSink, freePort, startSink, until, untilDeferred } from './outbound-helpers.js';

const haveSink = haveSmtpSink();

let dns: TestDnsServer;
before(async () => {
  dns = await startDnsServer();
  dns.setRecords('sink.test', 'MX', ['10 mx.sink.test']);
  dns.setRecords('mx.sink.test', 'A', ['127.0.0.1']);
});
after(() => dns.close());

interface Env {
  queue: Queue;
  store: Store;
  dir: string;
  close(): Promise<void>;
}

async function env(port: number, queueCfg: Record<string, unknown> = {}): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-q-'));
  const config = validateConfig({
    hostname: 'mail.a.test',
    data_dir: dir,
    dns: { servers: [dns.address] },
    queue: { remote_port: port, retry_initial: '1h', ...queueCfg },
  });
  const store = await openStore(dir);
  await store.addDomain('a.test');
  await store.addAccount('alice@a.test', 'x');
  const resolver = loopbackResolver(dns.address);
  const queue = await openQueue({ config, store, resolver, logger: silentLogger(), now: () => new Date() }, { startScheduler: true, pollMs: 50 });
  return {
    queue,
    store,
    dir,
    async close() {
      await queue.stop(1000);
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function enqueue(e: Env, body: string, rcpts: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const blob = await e.store.blobs.stage(Buffer.from(body));
  try {
    return await e.queue.enqueue({ from: 'alice@a.test', recipients: rcpts.map((address) => ({ address })), blob, ...extra });
  } finally {
    await e.store.blobs.discard(blob);
  }
}

async function inbox(store: Store, address: string) {
  const acct = (await store.getAccount(address))!;
  const mb = (await store.getMailbox(acct.id, 'INBOX'))!;
  const list = await store.listMessages(mb.id);
  return Promise.all(list.map(async (m) => (await store.blobs.read(m.blobId)).toString('utf8')));
}

const MSG = 'From: Alice <alice@a.test>\nTo: bob@sink.test\nSubject: test\n\nline one\n.leading dot\n..two dots\r\nbare\rcr\n.\n';

test('delivered to smtp-sink: CRLF and dot-stuffing on the wire, DSN parameters passed on, queue emptied', { skip: !haveSink }, async () => {
  const sink = await startSink();
  const e = await env(sink.port);
  try {
    const id = await enqueue(e, MSG, ['bob@sink.test'], { envid: 'E+1', ret: 'HDRS' });
    assert.equal((await e.queue.show(id)).recipients[0]!.state, 'queued');
    await until('delivery', async () => (await e.queue.list()).length === 0 && sink.messages().length === 1);
    const got = sink.messages()[0]!;
    assert.match(got, /X-Mail-Args: <alice@a\.test>(?: SIZE=\d+)? RET=HDRS ENVID=E\+2B1\n/);
    assert.match(got, /X-Rcpt-Args: <bob@sink\.test>/);
    // smtp-sink shows the data un-stuffed: the lines arrive as they were, bare CR became a line end
    assert.ok(got.includes('\nline one\n.leading dot\n..two dots\nbare\ncr\n.\n'), got);
  } finally {
    await e.close();
    await sink.stop();
  }
});

/** A TCP proxy in front of the sink that counts connections. */
async function countingProxy(target: number): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((c) => {
    n++;
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    const up = connect(target, '127.0.0.1');
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => n,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      for (const s of sockets) s.destroy();
    }),
  };
}

test('NOTIFY and ORCPT per recipient; several messages over one connection', { skip: !haveSink }, async () => {
  const sink = await startSink();
  const proxy = await countingProxy(sink.port);
  const e = await env(proxy.port, { per_domain_concurrency: 1 });
  try {
    const blob = await e.store.blobs.stage(Buffer.from(MSG));
    await e.queue.enqueue({
      from: 'alice@a.test',
      recipients: [{ address: 'bob@sink.test', notify: ['SUCCESS', 'FAILURE'], orcpt: { type: 'rfc822', address: 'Bob+x@sink.test' } }],
      blob,
    });
    for (let i = 0; i < 4; i++) await e.queue.enqueue({ from: 'alice@a.test', recipients: [{ address: `r${i}@sink.test` }], blob });
    await e.store.blobs.discard(blob);
    await until('delivery', async () => (await e.queue.list()).length === 0 && sink.messages().length === 5);
    const all = sink.messages().join('\n');
    assert.match(all, /X-Rcpt-Args: <bob@sink\.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob\+2Bx@sink\.test/);
    // one destination at a time: the five messages went over one kept connection
    assert.equal(proxy.connections(), 1);
  } finally {
    await e.close();
    await proxy.close();
    await sink.stop();
  }
});

test('5xx to RCPT: bounced for that recipient, DSN in the local sender\'s INBOX', { skip: !haveSink }, async () => {
  const sink = await startSink(['-f', 'RCPT']);
  const e = await env(sink.port);
  try {
    const id = await enqueue(e, MSG, ['nobody@sink.test']);
    const dsn = await until('DSN in INBOX', async () => (await inbox(e.store, 'alice@a.test'))[0]);
    // RFC 5321 §4.4: final delivery adds Return-Path; a bounce has the null sender.
    assert.match(dsn, /^Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mail\.a\.test>/);
    assert.match(dsn, /Final-Recipient: rfc822; nobody@sink\.test\r\nAction: failed\r\nStatus: 5\.\d\.\d+\r\nRemote-MTA: dns; mx\.sink\.test\r\nDiagnostic-Code: smtp; 5\d\d /);
    assert.match(dsn, /Subject: test/); // the original headers
    const s = parseMessage(Buffer.from(dsn));
    assert.equal(`${s.root.type}/${s.root.subtype}`, 'multipart/report');
    await until('queue empty', async () => (await e.queue.list()).length === 0);
    await assert.rejects(() => e.queue.show(id), /no message/);
    assert.equal(sink.messages().length, 0);
  } finally {
    await e.close();
    await sink.stop();
  }
});

test('4xx to RCPT: deferred with the reply, retried later, listed; bounce on demand', { skip: !haveSink }, async () => {
  const sink = await startSink(['-r', 'RCPT']);
  const e = await env(sink.port);
  try {
    const id = await enqueue(e, MSG, ['bob@sink.test']);
    const r = await untilDeferred(e.queue, id);
    assert.match(r.lastReply!, /^4\d\d /);
    assert.equal(r.attempts, 1);
    assert.equal(r.remoteMta, 'mx.sink.test');
    // next try after retry_initial (1 hour here)
    assert.ok(r.nextAttempt - Date.now() > 59 * 60_000);
    assert.equal((await e.queue.list()).length, 1);
    // `queue retry` makes it due now: tried again (and deferred again)
    await e.queue.retry(id);
    await until('second attempt', async () => (await e.queue.show(id)).recipients[0]!.attempts === 2);
    // `queue bounce`: the sender learns of it
    await e.queue.bounce(id);
    const dsn = await until('DSN', async () => (await inbox(e.store, 'alice@a.test'))[0]);
    assert.match(dsn, /Action: failed/);
    await until('queue empty', async () => (await e.queue.list()).length === 0);
  } finally {
    await e.close();
    await sink.stop();
  }
});

test('disconnect after the final dot: deferred 4.4.2, not lost', { skip: !haveSink }, async () => {
  const sink = await startSink(['-q', '.']);
  const e = await env(sink.port);
  try {
    const id = await enqueue(e, MSG, ['bob@sink.test']);
    const r = await untilDeferred(e.queue, id);
    assert.equal(r.lastStatus, '4.4.2');
    assert.match(r.lastReply!, /closed/);
  } finally {
    await e.close();
    await sink.stop();
  }
});

test('a server refusing at connect: deferred 4.4.1 (and the message stays)', { skip: !haveSink }, async () => {
  const port = await freePort(); // nothing listens there
  const e = await env(port);
  try {
    const id = await enqueue(e, MSG, ['bob@sink.test']);
    const r = await untilDeferred(e.queue, id);
    assert.equal(r.lastStatus, '4.4.1');
    assert.match(r.lastReply!, /ECONNREFUSED/);
  } finally {
    await e.close();
  }
});

test('SMTPUTF8 needed, peer without it: bounced 5.6.7', { skip: !haveSink }, async () => {
  const sink = await startSink();
  const e = await env(sink.port);
  try {
    // smtp-sink announces no SMTPUTF8
    await enqueue(e, MSG, ['jörg@sink.test'], { smtputf8: true });
    const dsn = await until('DSN', async () => (await inbox(e.store, 'alice@a.test'))[0]);
    assert.match(dsn, /Status: 5\.6\.7/);
  } finally {
    await e.close();
    await sink.stop();
  }
});
