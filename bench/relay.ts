// Relay throughput: messages per second through the durable queue (enqueue with fsync and group
// commit, MX lookup, SMTP delivery with kept connections) to Postfix's smtp-sink, beside the same
// messages sent straight to smtp-sink by the same SMTP client over the same number of connections.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startDnsServer } from '../test/helpers/dns-server.js';
import { createResolver } from '../src/dns/resolver.js';
import { validateConfig } from '../src/config/load.js';
import { openStore } from '../src/store/index.js';
import { silentLogger } from '../src/log/logger.js';
import { openQueue } from '../src/queue/index.js';
import { SmtpClient } from '../src/smtp/client/connection.js';
import { haveSmtpSink, startSink } from '../test/integration/outbound-helpers.js';

const N = Number(process.env.RELAY_MESSAGES ?? 500);
const CONNECTIONS = 8;

function message(i: number): Buffer {
  const body = 'The quick brown fox jumps over the lazy dog. '.repeat(40).replace(/(.{70})/g, '$1\r\n');
  return Buffer.from(`From: alice@a.test\r\nTo: bob@sink.test\r\nSubject: relay ${i}\r\nMessage-ID: <${i}@a.test>\r\n\r\n${body}\r\n`);
}

export async function benchRelay(): Promise<{ queued: number; direct: number; ratio: number }> {
  if (!haveSmtpSink()) {
    console.log('relay: smtp-sink not installed (apt-get install postfix); skipped');
    return { queued: 0, direct: 0, ratio: 0 };
  }
  const sink = await startSink([], { dump: false });
  const port = sink.port;
  const dns = await startDnsServer();
  dns.setRecords('sink.test', 'MX', ['10 mx.sink.test']);
  dns.setRecords('mx.sink.test', 'A', ['127.0.0.1']);
  const dir = mkdtempSync(join(tmpdir(), 'yubin-bench-relay-'));
  try {
    // Straight to smtp-sink: CONNECTIONS connections, each sending its share in turn.
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, c) => {
        const client = await SmtpClient.connect({ host: '127.0.0.1', port, heloName: 'mail.a.test', tls: 'none' });
        for (let i = c; i < N; i += CONNECTIONS) {
          const m = message(i);
          const r = await client.send({ from: 'alice@a.test', mailParams: [], recipients: [{ address: 'bob@sink.test', params: [] }], message: () => Readable.from([m]) });
          if (!r.data || r.data.code !== 250) throw new Error('direct send failed');
        }
        await client.quit();
      }),
    );
    const directSec = Number(process.hrtime.bigint() - t0) / 1e9;

    // Through the queue: durable enqueue (all at once: group commit), then delivery.
    const config = validateConfig({
      hostname: 'mail.a.test',
      data_dir: dir,
      dns: { servers: [dns.address] },
      queue: { remote_port: port, concurrency: CONNECTIONS, per_domain_concurrency: CONNECTIONS },
    });
    const store = await openStore(dir);
    const queue = await openQueue(
      { config, store, resolver: createResolver({ servers: [dns.address] }), logger: silentLogger(), now: () => new Date() },
      { startScheduler: true, pollMs: 1000 },
    );
    const blobs = await Promise.all(Array.from({ length: N }, (_, i) => store.blobs.stage(message(i))));
    const t1 = process.hrtime.bigint();
    await Promise.all(blobs.map((blob) => queue.enqueue({ from: 'alice@a.test', recipients: [{ address: 'bob@sink.test' }], blob })));
    const enqueuedSec = Number(process.hrtime.bigint() - t1) / 1e9;
    while (queue.count() > 0) await new Promise((r) => setTimeout(r, 20));
    const queuedSec = Number(process.hrtime.bigint() - t1) / 1e9;
    await queue.stop(1000);
    await Promise.all(blobs.map((b) => store.blobs.discard(b)));
    await store.close();

    const direct = N / directSec;
    const queued = N / queuedSec;
    console.log(`relay: ${N} messages of ${message(0).length} bytes, ${CONNECTIONS} connections`);
    console.log(`  straight to smtp-sink:            ${direct.toFixed(0)} msg/s`);
    console.log(`  through the durable queue:        ${queued.toFixed(0)} msg/s (enqueue alone ${(N / enqueuedSec).toFixed(0)} msg/s, fsynced)`);
    console.log(`  ratio queue/direct:               ${(queued / direct).toFixed(2)}`);
    return { queued, direct, ratio: queued / direct };
  } finally {
    await sink.stop();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRelay();
