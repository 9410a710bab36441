// The outbound queue on PostgreSQL with two `yubin serve` nodes (issue 17, docs/queue.md
// "Storage"): mail for a remote domain submitted through both nodes is delivered exactly once
// (counted by Message-ID at the receiving server), and when node A is killed with SIGKILL in the
// middle of its deliveries, node B delivers the messages A had claimed once A's leases have
// expired; nothing acknowledged is lost and nothing arrives twice.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import nodemailer from 'nodemailer';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { until } from '../helpers/mail.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { postgresUnavailable, startCluster, type Cluster } from '../helpers/postgres.js';
import { haveSmtpSink, startSink } from './outbound-helpers.js';

const ALICE = 'alice@a.test';
const PASS = 'correct horse battery';

function message(id: string, to: string): string {
  return `From: <${ALICE}>\r\nTo: <${to}>\r\nSubject: ${id}\r\nMessage-ID: <${id}@a.test>\r\n\r\n${id} body\r\n`;
}

/** Sends through a node's submission listener; resolves with the ids it acknowledged. */
async function submitAll(node: YubinInstance, ids: string[], to: string): Promise<string[]> {
  const t = nodemailer.createTransport({ host: node.host('submission'), port: node.port('submission'), secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: ALICE, pass: PASS }, pool: true, maxConnections: 4 });
  try {
    const acked: string[] = [];
    await Promise.all(ids.map((id) => t.sendMail({ envelope: { from: ALICE, to: [to] }, raw: message(id, to) }).then(() => acked.push(id))));
    return acked;
  } finally {
    t.close();
  }
}

const messageIdOf = (m: string): string => /^Message-ID: <([^@>]*)@/im.exec(m)?.[1] ?? '';

/**
 * A receiving SMTP server on 127.0.0.1 that records a message only once it has answered 250 on a
 * connection still open (what the sending node was told it delivered). While `held`, the reply
 * to the final dot waits: the sender is mid-delivery.
 */
class GatedSink {
  private server: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  held = true;
  /** Message-IDs answered 250, with the client address that sent them, in order. */
  readonly delivered: Array<{ id: string; from: string; at: number }> = [];
  /** Message-IDs whose final dot arrived and wait for the gate, by client address. */
  readonly waiting = new Map<Socket, { id: string; from: string; answer: () => void }>();

  constructor() {
    this.server = createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => {
        this.sockets.delete(s);
        this.waiting.delete(s); // the sender is gone: never answered, never delivered
      });
      s.on('error', () => undefined);
      let buf = '';
      let data: string[] | null = null;
      s.write('220 sink.test ESMTP\r\n');
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (let i; (i = buf.indexOf('\r\n')) >= 0; ) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (data) {
            if (line !== '.') {
              data.push(line);
              continue;
            }
            const entry = { id: messageIdOf(data.join('\r\n')), from: s.remoteAddress ?? '' };
            data = null;
            const answer = () => {
              this.waiting.delete(s);
              if (s.destroyed) return;
              this.delivered.push({ ...entry, at: Date.now() });
              s.write('250 2.0.0 ok\r\n');
            };
            if (this.held) this.waiting.set(s, { ...entry, answer });
            else answer();
            continue;
          }
          const verb = line.split(/[ :]/)[0]!.toUpperCase();
          if (verb === 'EHLO') s.write('250-sink.test\r\n250 PIPELINING\r\n');
          else if (verb === 'DATA') {
            data = [];
            s.write('354 go ahead\r\n');
          } else if (verb === 'QUIT') s.end('221 bye\r\n');
          else s.write('250 ok\r\n');
        }
      });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  release(): void {
    this.held = false;
    for (const w of [...this.waiting.values()]) w.answer();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function countBy(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

const cluster: Cluster | null = await startCluster();

if (!cluster) {
  it('the outbound queue on PostgreSQL with two nodes', { skip: postgresUnavailable }, () => undefined);
} else {
  describe('the outbound queue of two yubin serve nodes on one PostgreSQL database', () => {
    let dns: TestDnsServer;
    before(async () => {
      dns = await startDnsServer();
      dns.setRecords('sink.test', 'MX', ['10 mx.sink.test']);
      dns.setRecords('gated.test', 'MX', ['10 mx.sink.test']);
      dns.setRecords('mx.sink.test', 'A', ['127.0.0.1']);
    });
    after(async () => {
      dns.close();
      await cluster.stop();
    });

    /** Two nodes on a new database; A makes the domain and the account. */
    async function twoNodes(db: string, port: number, extra: { a?: Record<string, unknown>; b?: Record<string, unknown> } = {}): Promise<[YubinInstance, YubinInstance]> {
      const url = await cluster!.createDatabase(db);
      const config = (node: Record<string, unknown> = {}) => ({
        store: { backend: 'postgresql', url, pool_size: 5 },
        auth: { allow_plaintext: true },
        dns: { servers: [dns.address], timeout: 500 },
        checks: { enabled: false },
        queue: { remote_port: port, retry_initial: '1h', lease: '2s', ...node },
      });
      const a = await startYubin({ hostname: 'a.mail.test', config: config(extra.a), domains: ['a.test'], users: [{ address: ALICE, password: PASS }] });
      const b = await startYubin({ hostname: 'b.mail.test', config: config(extra.b) });
      return [a, b];
    }

    it('messages submitted through both nodes to a remote domain (Postfix smtp-sink, 1 s per DATA) are each delivered exactly once', { skip: !haveSmtpSink() && 'smtp-sink (postfix) not installed' }, async () => {
      // -w 1: every delivery takes a second, so both nodes' schedulers see each other's messages due
      const sink = await startSink(['-w', '1']);
      const [a, b] = await twoNodes('queue_once', sink.port);
      try {
        const ids = Array.from({ length: 24 }, (_, i) => `once-${i}`);
        const acked = (await Promise.all([submitAll(a, ids.slice(0, 12), 'r@sink.test'), submitAll(b, ids.slice(12), 'r@sink.test')])).flat();
        assert.equal(acked.length, ids.length, 'every submission acknowledged');
        await until('every message at the sink', async () => sink.messages().length >= ids.length, 60_000);
        // both queues drained (they are one): nothing left to deliver again
        await until('queue empty', async () => (await a.cli(['queue', 'list', '--json'])).stdout.trim() === '[]', 30_000);
        const counts = countBy(sink.messages().map(messageIdOf));
        for (const id of ids) assert.equal(counts.get(id), 1, `${id} delivered exactly once`);
        assert.equal(sink.messages().length, ids.length, 'nothing else arrived');
      } finally {
        await Promise.all([a.destroy(), b.destroy()]);
        await sink.stop();
      }
    });

    it('node A killed with SIGKILL mid-delivery: after its leases expire node B delivers them; every acknowledged message once', async () => {
      const sink = await new GatedSink().listen();
      // each node sends from its own loopback address, so the sink knows who delivered what
      const [a, b] = await twoNodes('queue_kill', sink.port, { a: { source_address: '127.0.0.2' }, b: { source_address: '127.0.0.3' } });
      try {
        const ids = Array.from({ length: 10 }, (_, i) => `kill-${i}`);
        const acked = await submitAll(a, ids, 'r@gated.test');
        assert.equal(acked.length, ids.length);
        // A is mid-delivery: its final dots arrived, the replies are held
        await until('node A mid-delivery', async () => [...sink.waiting.values()].some((w) => w.from === '127.0.0.2'), 30_000);
        const claimedByA = [...sink.waiting.values()].filter((w) => w.from === '127.0.0.2').map((w) => w.id);
        const killedAt = Date.now();
        await a.kill();
        // the kill closes A's connections: those messages were never answered, so not delivered
        await until('A\'s connections gone', async () => ![...sink.waiting.values()].some((w) => w.from === '127.0.0.2'), 10_000);
        sink.release();
        await until('every acknowledged message delivered', async () => acked.every((id) => sink.delivered.some((d) => d.id === id)), 60_000);
        const counts = countBy(sink.delivered.map((d) => d.id));
        for (const id of acked) assert.equal(counts.get(id), 1, `${id} delivered exactly once`);
        for (const id of claimedByA) {
          const d = sink.delivered.find((x) => x.id === id);
          assert.equal(d?.from, '127.0.0.3', `${id}, claimed by A when it died, delivered by B`);
          // lease 2s, renewed every 2/3 s: it ran out at least 4/3 s after the kill
          assert.ok(d!.at - killedAt >= 1000, `${id} taken over only after A's lease expired (${d!.at - killedAt} ms after the kill)`);
        }
        await until('queue empty', async () => (await b.cli(['queue', 'list', '--json'])).stdout.trim() === '[]', 30_000);
      } finally {
        await Promise.all([a.destroy(), b.destroy()]);
        await sink.close();
      }
    });
  });
}
