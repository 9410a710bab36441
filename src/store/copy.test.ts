// `yubin store copy` moves everything that is state (issue 17): besides the store, the outbound
// queue (queue.sqlite and its files) and the checks' state (checks.sqlite) go into PostgreSQL, so a
// node switched to PostgreSQL delivers the queued mail and keeps its greylist, spam thresholds and
// verdicts. Both blob modes; a queued message whose bytes are also a mailbox message shares its blob.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from './index.js';
import { copyToPostgres } from './copy.js';
import { testMessage } from './contract.js';
import { QueueStore, INLINE_MAX } from '../queue/queue.js';
import { PgQueueStore } from '../queue/store/postgres.js';
import { closeChecksDbs, openChecksDb } from '../checks/db.js';
import { silentLogger } from '../log/logger.js';
import { postgresUnavailable, startCluster } from '../../test/helpers/postgres.js';

const cluster = await startCluster();

const rec = (to: string) => ({ from: 'a@a.test', recipients: [{ address: to, notify: ['FAILURE'] as Array<'FAILURE'>, orcpt: { type: 'rfc822', address: to } }], size: 0, needsUtf8: false, headerFromDomain: 'a.test' });

/** The deferred queued message: over INLINE_MAX, so queue.sqlite keeps it in a file (the shared one is small: in its row). */
const DEFERRED = Buffer.from(`Subject: deferred\r\n\r\n${'waiting\r\n'.repeat(INLINE_MAX / 8)}`);

/** A data directory written by a SQLite node: a mailbox message, two queued messages (one deferred, one sharing the mailbox message's bytes), checks' state. */
async function sqliteDataDir(): Promise<{ dir: string; deferred: string; shared: string; bytes: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-copy-'));
  const store = await openStore(dir);
  const bytes = testMessage('in a mailbox and in the queue');
  await store.addDomain('a.test');
  const acc = await store.addAccount('bob@a.test', 'h');
  await store.appendMessage(acc.id, 'INBOX', await store.blobs.stage(bytes));
  await store.close();
  const q = new QueueStore(dir);
  const deferred = await q.enqueueBytes(DEFERRED, { ...rec('x@remote.test'), size: DEFERRED.length }, 1000);
  await q.record(deferred, [{ idx: 0, state: 'deferred', reply: '451 4.7.1 try later', status: '4.7.1', remoteMta: 'mx.remote.test', nextAttempt: 5000 }], 2000);
  const shared = await q.enqueueBytes(bytes, { ...rec('y@remote.test'), size: bytes.length }, 3000);
  await q.close();
  const checks = openChecksDb(dir);
  checks.prepare('INSERT INTO greylist (net, sender, rcpt, first_seen, last_seen, passed_at) VALUES (?, ?, ?, ?, ?, ?)').run('192.0.2.0/24', 's@x.test', 'bob@a.test', 10, 20, 30);
  checks.prepare('INSERT INTO greylist_known (net, sender_domain, last_seen) VALUES (?, ?, ?)').run('192.0.2.0/24', 'x.test', 40);
  checks.prepare('INSERT INTO spam_threshold (address, threshold) VALUES (?, ?)').run('bob@a.test', 3.5);
  checks.prepare('INSERT INTO verdicts (account, blob_id, verdict, at) VALUES (?, ?, ?, ?)').run('bob@a.test', 'b'.repeat(64), 'spam', 50);
  closeChecksDbs();
  return { dir, deferred, shared, bytes };
}

if (!cluster) {
  it('store copy: the queue and the checks state', { skip: postgresUnavailable }, () => undefined);
} else {
  after(() => cluster.stop());

  describe('store copy: the queue and the checks state move to PostgreSQL', () => {
    for (const mode of ['database', 'files'] as const) {
      it(`blobs = ${mode}: queued messages with their states and bytes, greylist, thresholds, verdicts; counts verified`, async () => {
        const { dir, deferred, shared, bytes } = await sqliteDataDir();
        const url = await cluster.createDatabase(`copy_queue_${mode}`);
        try {
          const report = await copyToPostgres({ dataDir: dir, url, blobs: mode });
          const rows = Object.fromEntries(report.tables.map((t) => [t.table, t.rows]));
          assert.equal(rows.queue_messages, 2);
          assert.equal(rows.queue_recipients, 2);
          assert.equal(rows.checks_greylist, 1);
          assert.equal(rows.checks_greylist_known, 1);
          assert.equal(rows.checks_spam_threshold, 1);
          assert.equal(rows.checks_verdicts, 1);
          assert.equal(report.blobs, 2, 'the mailbox message and the deferred one (the shared one is the same blob)');

          const c = new pg.Client({ connectionString: url });
          await c.connect();
          try {
            const sharedBlob = (await c.query('SELECT b.refs, b.held FROM queue_messages q JOIN blobs b ON b.id = q.blob_id WHERE q.id = $1', [shared])).rows[0];
            assert.deepEqual(sharedBlob, { refs: 2, held: 1 });
            assert.deepEqual((await c.query('SELECT threshold FROM checks_spam_threshold')).rows, [{ threshold: 3.5 }]);
            assert.deepEqual((await c.query('SELECT passed_at FROM checks_greylist')).rows.map((r: { passed_at: string }) => Number(r.passed_at)), [30]);
            // A new verdict gets an id after the copied one.
            await c.query("INSERT INTO checks_verdicts (account, blob_id, verdict, at) VALUES ('bob@a.test', 'x', 'ham', 60)");
            assert.deepEqual((await c.query('SELECT id FROM checks_verdicts ORDER BY id')).rows.map((r: { id: string }) => Number(r.id)), [1, 2]);
          } finally {
            await c.end();
          }

          // A PostgreSQL node's queue has them, with their state, and reads their bytes.
          const { openPostgresStore } = await import('./postgres/open.js');
          const node = await mkdtemp(join(tmpdir(), 'yubin-copy-node-'));
          const store = await openPostgresStore({ url, dataDir: mode === 'files' ? dir : node, poolSize: 2, blobs: mode });
          const queue = await PgQueueStore.open(store, { leaseMs: 30_000, logger: silentLogger() });
          try {
            assert.equal(await queue.count(), 2);
            const d = await queue.get(deferred);
            assert.equal(d!.recipients[0]!.state, 'deferred');
            assert.equal(d!.recipients[0]!.attempts, 1);
            assert.equal(d!.recipients[0]!.nextAttempt, 5000);
            assert.equal(d!.recipients[0]!.lastReply, '451 4.7.1 try later');
            assert.deepEqual(await queue.readMessage(deferred), DEFERRED);
            assert.deepEqual(await queue.readMessage(shared), bytes);
          } finally {
            await queue.close();
            await store.close();
            await rm(node, { recursive: true, force: true });
          }
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    }

    it('a queued message whose file is gone fails the copy and leaves the target empty', async () => {
      const { dir, deferred } = await sqliteDataDir();
      const url = await cluster.createDatabase('copy_queue_missing');
      try {
        await unlink(join(dir, 'queue', `${deferred}.eml`));
        await assert.rejects(copyToPostgres({ dataDir: dir, url }), (err: unknown) => err instanceof Error && err.message.includes(deferred));
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          for (const t of ['accounts', 'blobs', 'queue_messages', 'checks_greylist']) assert.equal((await c.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n, 0, t);
        } finally {
          await c.end();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
