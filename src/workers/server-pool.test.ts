// The server owns one worker pool: found by its config while it runs (the ARC sealer uses it),
// its counters in stats(), and no thread left after stop().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { validateConfig } from '../config/load.js';
import { silentLogger } from '../log/logger.js';
import { startServer } from '../server.js';
import { poolFor } from './registry.js';

test('startServer creates the pool from [workers]; stop() closes it and ends its threads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-server-pool-'));
  const none: string[] = [];
  const config = validateConfig({
    hostname: 'mx.a.test',
    data_dir: join(dir, 'data'),
    listen: { smtp: ['127.0.0.1:0'], submission: none, submissions: none, imap: none, imaps: none, pop3: none, pop3s: none, managesieve: none, http: none, https: none, admin: none },
    workers: { threads: 1, max_queue: 3 },
  });
  const server = await startServer(config, silentLogger());
  try {
    const pool = poolFor(config);
    assert.ok(pool, 'the running server registers its pool');
    const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const sig = await pool.run('dkimSign', { message: Buffer.from('From: a@a.test\r\n\r\nhi\r\n'), specs: [{ domain: 'a.test', selector: 's', privateKey: key, algorithm: 'ed25519-sha256' }] });
    assert.match(sig, /^DKIM-Signature: /);
    const s = server.stats();
    assert.deepEqual({ threads: s.workers.threads, alive: s.workers.alive, completed: s.workers.completed }, { threads: 1, alive: 1, completed: 1 });
    assert.equal(typeof s.eventLoop.currentP99Ms, 'number');
  } finally {
    await server.stop(0);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(server.stats().workers.alive, 0, 'no worker thread after stop');
  assert.equal(poolFor(config), undefined);
});
