// Crash safety of the queue: a process killed (SIGKILL) after enqueue, or in the middle of a
// delivery, loses nothing: after a restart every message is delivered (again: at-least-once).
// The test runs the queue in a child process (this same file, with YUBIN_QUEUE_CHILD set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loopbackResolver, startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { validateConfig } from '../../src/config/load.js';
import { openStore } from '../../src/store/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { openQueue } from '../../src/queue/index.js';
import { ScriptedRemote, until } from './outbound-helpers.js';

const SELF = fileURLToPath(import.meta.url);
const MESSAGE = 'From: alice@a.test\r\nTo: bob@remote.test\r\nSubject: durable\r\n\r\nbody\r\n';

function configFor(dir: string, dnsAddress: string, port: number) {
  return validateConfig({ hostname: 'mail.a.test', data_dir: dir, dns: { servers: [dnsAddress] }, queue: { remote_port: port, retry_initial: '1h' } });
}

if (process.env.YUBIN_QUEUE_CHILD) {
  // The child: enqueue N messages, say so, and deliver until killed.
  const { dir, dns, port, count } = JSON.parse(process.env.YUBIN_QUEUE_CHILD) as { dir: string; dns: string; port: number; count: number };
  const config = configFor(dir, dns, port);
  const store = await openStore(dir);
  const queue = await openQueue(
    { config, store, resolver: loopbackResolver(dns), logger: silentLogger(), now: () => new Date() },
    { startScheduler: process.env.YUBIN_QUEUE_DELIVER === '1', pollMs: 50 },
  );
  const blob = await store.blobs.stage(Buffer.from(MESSAGE));
  const ids = await Promise.all(Array.from({ length: count }, () => queue.enqueue({ from: 'alice@a.test', recipients: [{ address: 'bob@remote.test' }], blob })));
  process.stdout.write(`enqueued ${ids.join(' ')}\n`);
  setInterval(() => undefined, 1000); // stay alive until killed
} else {
  let dns: TestDnsServer;
  before(async () => {
    dns = await startDnsServer();
    dns.setRecords('remote.test', 'A', ['127.0.0.1']);
  });
  after(() => dns.close());

  async function prepare(): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'yubin-qd-'));
    const store = await openStore(dir);
    await store.addDomain('a.test');
    await store.close();
    return dir;
  }

  function child(dir: string, port: number, count: number, deliver: boolean) {
    const p = spawn(process.execPath, ['--import', 'tsx', SELF], {
      env: { ...process.env, YUBIN_QUEUE_CHILD: JSON.stringify({ dir, dns: dns.address, port, count }), YUBIN_QUEUE_DELIVER: deliver ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const enqueued = new Promise<string[]>((resolve, reject) => {
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /enqueued ([^\n]*)\n/.exec(out);
        if (m) resolve(m[1]!.split(' '));
      });
      p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', () => reject(new Error(`child exited: ${out}`)));
    });
    const kill = () =>
      new Promise<void>((r) => {
        if (p.exitCode !== null || p.signalCode !== null) return r();
        p.once('exit', () => r());
        p.kill('SIGKILL');
      });
    return { enqueued, kill };
  }

  async function restartAndDeliver(dir: string, remote: ScriptedRemote, expectedIds: string[]): Promise<void> {
    const config = configFor(dir, dns.address, remote.port);
    const store = await openStore(dir);
    const queue = await openQueue(
      { config, store, resolver: loopbackResolver(dns.address), logger: silentLogger(), now: () => new Date() },
      { pollMs: 50 },
    );
    try {
      assert.deepEqual((await queue.list()).map((m) => m.id).sort(), [...expectedIds].sort(), 'every acknowledged message is still queued');
      queue.start();
      await until('delivered after restart', async () => (await queue.list()).length === 0, 15_000);
    } finally {
      await queue.stop(1000);
      await store.close();
    }
  }

  test('SIGKILL right after enqueue (group commit of 20): all 20 delivered after restart', async () => {
    const remote = await new ScriptedRemote().listen();
    const dir = await prepare();
    try {
      const c = child(dir, remote.port, 20, false);
      const ids = await c.enqueued;
      assert.equal(ids.length, 20);
      await c.kill();
      await restartAndDeliver(dir, remote, ids);
      assert.equal(remote.accepted, 20);
      assert.deepEqual(readdirSync(join(dir, 'queue')), [], 'message files removed once delivered');
    } finally {
      await remote.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGKILL in the middle of a delivery: delivered again after restart, never lost', async () => {
    const remote = await new ScriptedRemote().listen();
    remote.dataReply = null; // never answers the final dot
    const dot = remote.nextDot();
    const dir = await prepare();
    try {
      const c = child(dir, remote.port, 1, true);
      const ids = await c.enqueued;
      // the child has sent the whole message; the remote has not answered the final dot: crash now
      await dot;
      await c.kill();
      assert.equal(remote.accepted, 0);
      remote.dataReply = '250 2.0.0 ok';
      await restartAndDeliver(dir, remote, ids);
      assert.equal(remote.accepted, 1);
      assert.equal(remote.messages.length, 2, 'sent twice: at-least-once');
    } finally {
      await remote.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
