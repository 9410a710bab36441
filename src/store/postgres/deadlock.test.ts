// test: serial
// Issue 17: the IMAP mixed load (SELECT, APPEND, STORE, EXPUNGE on one shared mailbox) from two
// nodes on one PostgreSQL database must not deadlock. PostgreSQL resolves a deadlock only after
// deadlock_timeout (1 s) and the store then retries, so a lock-order cycle shows as stalls, not
// as errors: the test counts the deadlocks PostgreSQL itself detected (pg_stat_database), and
// requires every operation to complete.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { testMessage } from '../contract.js';
import type { Store } from '../types.js';
import { openTestStore, PG_TEST_URL_ENV, postgresUnavailable, startCluster, databaseFor } from '../../../test/helpers/postgres.js';

const cluster = await startCluster();

if (!cluster) {
  it('PostgreSQL store: no deadlocks under the mixed load', { skip: postgresUnavailable }, () => undefined);
} else {
  process.env[PG_TEST_URL_ENV] = cluster.baseUrl;
  after(() => cluster.stop());

  describe('postgresql: the IMAP mixed load from two nodes', () => {
    const dirs: string[] = [];
    after(async () => {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    it('appends, flag updates, recent claims and expunges on one mailbox through two stores: no deadlock, all complete', async () => {
      const dirA = await mkdtemp(join(tmpdir(), 'yubin-dl-'));
      const dirB = await mkdtemp(join(tmpdir(), 'yubin-dl-node-'));
      dirs.push(dirA, dirB);
      const a = await openTestStore(dirA);
      const { openPostgresStore } = await import('./open.js');
      const database = databaseFor(dirA);
      const b = await openPostgresStore({ url: `${cluster.baseUrl}${database}`, dataDir: dirB, poolSize: 8 });
      const stores: Store[] = [a, b];
      let closed = false;
      try {
        await a.addDomain('dl.test');
        const acc = (await a.addAccount('mixed@dl.test', 'h')).id;
        const box = await a.createMailbox(acc, 'Mixed');
        for (let i = 0; i < 4; i++) await a.appendMessage(acc, 'Mixed', await a.blobs.stage(testMessage(`seed${i}`, 500)));

        const workers = 10;
        const rounds = 5;
        const errors: unknown[] = [];
        let done = 0;
        const worker = async (w: number): Promise<void> => {
          const s = stores[w % 2]!;
          for (let r = 0; r < rounds; r++) {
            try {
              await s.claimRecent(box.id); // SELECT
              const added = await s.appendMessage(acc, 'Mixed', await s.blobs.stage(testMessage(`w${w}r${r}`, 500)));
              const first = (await s.listMessages(box.id, { limit: 1 }))[0];
              if (first) await s.updateFlags(box.id, [first.uid], { mode: 'add', flags: ['\\Seen'] }); // STORE 1 +FLAGS (\Seen)
              await s.updateFlags(box.id, [added.uid], { mode: 'add', flags: ['\\Deleted'] });
              await s.expunge(box.id, [added.uid]); // EXPUNGE
              done++;
            } catch (err) {
              errors.push(err);
            }
          }
        };
        const started = Date.now();
        await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
        const elapsed = Date.now() - started;
        assert.deepEqual(errors, [], 'no error reaches the caller');
        assert.equal(done, workers * rounds, 'every round completed');
        // Generous: a deadlock costs deadlock_timeout (1 s) each; without any this takes well under a second or two.
        assert.ok(elapsed < 60_000, `the load took ${elapsed} ms`);
        const verify = await a.verify();
        assert.deepEqual(verify.problems, []);

        await a.close();
        await b.close();
        closed = true;
        assert.equal(await deadlocksIn(cluster.url('postgres'), database), 0, 'PostgreSQL detected no deadlock');
      } finally {
        if (!closed) for (const s of stores) await s.close().catch(() => undefined);
      }
    });
  });
}

/**
 * pg_stat_database.deadlocks of `database`, once every backend that used it has exited (a backend
 * flushes its statistics before it leaves pg_stat_activity).
 */
async function deadlocksIn(adminUrl: string, database: string): Promise<number> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (;;) {
      const left = await admin.query<{ n: string }>('SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1', [database]);
      if (Number(left.rows[0]!.n) === 0) break;
      await new Promise((r) => setTimeout(r, 20)); // polling for backend exit (no event to wait on)
    }
    await admin.query('SELECT pg_stat_clear_snapshot()');
    const r = await admin.query<{ deadlocks: string }>('SELECT deadlocks FROM pg_stat_database WHERE datname = $1', [database]);
    return Number(r.rows[0]!.deadlocks);
  } finally {
    await admin.end();
  }
}
