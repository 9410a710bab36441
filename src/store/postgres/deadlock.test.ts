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
import type { PostgresStore } from './store.js';
import { openTestStore, openTestStoreFiles, PG_TEST_URL_ENV, postgresUnavailable, startCluster, databaseFor } from '../../../test/helpers/postgres.js';

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
      await withTwoNodes(dirs, 'database', async (a, b) => {
        const stores: Store[] = [a, b];
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
      });
    });
  });

  describe('postgresql: blob reference counts shared by two accounts', () => {
    const dirs: string[] = [];
    after(async () => {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    // Every write of one account waits for that account's row first, so two transactions can
    // only meet on a blob row when they are in different accounts (or one delivers to both):
    // the messages here share their blobs between account A and account B, and every operation
    // touching several of them runs in A in one order and in B in the opposite order.
    for (const mode of ['database', 'files'] as const) {
      it(`blobs = "${mode}": MULTIAPPEND, COPY, MOVE, REPLACE, EXPUNGE and deliveries of shared blobs in opposite orders through two stores: no deadlock, all complete`, async () => {
        await withTwoNodes(dirs, mode, async (a, b) => {
          const stores: Store[] = [a, b];
          await a.addDomain('bl.test');
          const accounts = [(await a.addAccount('a@bl.test', 'h')).id, (await a.addAccount('b@bl.test', 'h')).id];
          const bodies = Array.from({ length: 16 }, (_, i) => testMessage(`shared${i}`, 500));
          const forward = bodies.map((_, i) => i);
          const orders = [forward, [...forward].reverse()];
          const srcUids: number[][] = [];
          for (const [k, acc] of accounts.entries()) {
            await a.createMailbox(acc, 'Src');
            const items = await Promise.all(orders[k]!.map(async (i) => ({ blob: await a.blobs.stage(bodies[i]!) })));
            srcUids.push((await a.appendMessages(acc, 'Src', items)).uids);
          }
          const srcBox = await Promise.all(accounts.map(async (acc) => (await a.getMailbox(acc, 'Src'))!.id));

          const workers = 4;
          const rounds = 4;
          // New messages each round, the same in both accounts: their rows are inserted concurrently.
          const fresh = Array.from({ length: rounds }, (_, r) => Array.from({ length: 8 }, (_, i) => testMessage(`fresh${r}-${i}`, 500)));
          const errors: unknown[] = [];
          let done = 0;
          const worker = async (w: number): Promise<void> => {
            const s = stores[w % 2]!; // worker 0 on node a in account A, worker 1 on node b in account B, ...
            const k = w % 2;
            const acc = accounts[k]!;
            const order = orders[k]!;
            const own = await s.createMailbox(acc, `W${w}`);
            const aside = await s.createMailbox(acc, `W${w}.aside`);
            const stageAll = (): Promise<Array<{ blob: Awaited<ReturnType<Store['blobs']['stage']>> }>> => Promise.all(order.map(async (i) => ({ blob: await s.blobs.stage(bodies[i]!) })));
            for (let r = 0; r < rounds; r++) {
              try {
                // MULTIAPPEND (RFC 3502): every shared blob, A in one order, B in the other
                const appended = (await s.appendMessages(acc, own.name, await stageAll())).uids;
                const novel = await Promise.all((k === 0 ? fresh[r]! : [...fresh[r]!].reverse()).map(async (body) => ({ blob: await s.blobs.stage(body) })));
                const appendedNew = (await s.appendMessages(acc, own.name, novel)).uids;
                // COPY of the seeded messages (UIDs ascending in A, descending in B)
                const copied = (await s.copyMessages(srcBox[k]!, k === 0 ? srcUids[k]! : [...srcUids[k]!].reverse(), own.id)).map.map(([, d]) => d);
                // MOVE of the appended ones aside
                const moved = (await s.moveMessages(own.id, appended, aside.id)).map.map(([, d]) => d);
                // REPLACE (RFC 8508): one message replaced by another, an expunge and an append in one transaction
                const replacement = await s.blobs.stage(bodies[order[r]!]!);
                const replaced = await s.appendMessages(acc, own.name, [{ blob: replacement }], { expunge: { mailboxId: aside.id, uids: [moved[0]!] } });
                // a delivery of one shared message to both accounts, in either order
                const staged = await s.blobs.stage(bodies[order[r + 1]!]!);
                const delivered = await s.deliver(staged, (k === 0 ? accounts : [...accounts].reverse()).map((id) => ({ accountId: id, mailbox: `W${w}` })));
                assert.ok(delivered.every((d) => d.ok), JSON.stringify(delivered));
                // EXPUNGE of everything this round added (the blobs' counts drop in both accounts)
                await s.expunge(own.id, [...appendedNew, ...copied, ...replaced.uids, ...delivered.map((d) => (d.ok && d.accountId === acc ? d.uid : 0)).filter((u) => u > 0)]);
                await s.expunge(aside.id, moved.slice(1));
                done++;
              } catch (err) {
                errors.push(err);
              }
            }
          };
          await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
          assert.deepEqual(errors, [], 'no error reaches the caller');
          assert.equal(done, workers * rounds, 'every round completed');
          const verify = await a.verify();
          assert.deepEqual(verify.problems, []);
        });
      });
    }

    // The interleavings behind the one deadlock the load above showed in ~20 runs (issue 17), made
    // deterministic by holding the two account rows from outside. Blobs L < H; one of them is an
    // unreferenced row waiting for its collection, the other referenced. The MULTIAPPEND of both
    // that prepares FIRST sees both rows (inserts nothing) and waits for its account; the
    // unreferenced row is collected; the other MULTIAPPEND prepares (inserting that row again)
    // and waits for its account; then the first takes its blob locks, then the second.
    //   L collected: locking the existing rows first and inserting the missing ones after was a
    //     cycle (the first: H locked, then waiting for the second's insert of L; the second: L
    //     inserted, waiting for H).
    //   H collected: a row inserted by prepare inside the transaction was held from before the
    //     account lock (the second: H inserted, then waiting for L in its blob locks; the first:
    //     L locked, then waiting for the second's insert of H).
    // Blob rows taken in one pass (files mode: rows are inserted when the transaction locks them).
    // Blobs L < Z < H, none with a row. One MULTIAPPEND (L, Z, H) inserts L and waits for Z, whose
    // row another transaction is inserting; H's row is committed meanwhile; a second MULTIAPPEND
    // (L, H) comes; then Z's inserter rolls back. Locking the existing rows first (H) and
    // inserting the missing ones after (L, waiting for the first) while the first, inserting Z
    // and then H, waited for H, was a cycle. In one pass the second waits at L holding nothing.
    it('blobs = "files": blob rows locked or inserted in one pass in id order, not the existing ones first: no deadlock', async () => {
      await withTwoNodes(dirs, 'files', async (a, b) => {
        await a.addDomain('op.test');
        const x = (await a.addAccount('x@op.test', 'h')).id;
        const y = (await a.addAccount('y@op.test', 'h')).id;
        const [l, z, h] = await sortedBodies(a, ['l', 'z', 'h']);
        const stage = (s: Store, list: Array<{ body: Uint8Array }>): Promise<Array<{ blob: Awaited<ReturnType<Store['blobs']['stage']>> }>> =>
          Promise.all(list.map(async ({ body }) => ({ blob: await s.blobs.stage(body) })));
        const insertZ = await a.pool.connect();
        try {
          await insertZ.query('BEGIN');
          await insertZ.query("INSERT INTO blobs (id, size, refs, held, structure) VALUES ($1, 1, 0, 0, '{}')", [z!.id]);
          const first = b.appendMessages(y, 'INBOX', await stage(b, [l!, z!, h!]));
          await waitForLockWaits(a, 'INSERT INTO blobs%', 1); // L inserted, waiting for Z
          const hStaged = await a.blobs.stage(h!.body);
          await a.pool.query('INSERT INTO blobs (id, size, refs, held, structure) VALUES ($1, $2, 0, 0, $3)', [hStaged.id, hStaged.size, JSON.stringify(hStaged.structure)]);
          await a.blobs.discard(hStaged);
          const second = a.appendMessages(x, 'INBOX', await stage(a, [l!, h!]));
          await waitForLockWaits(a, 'INSERT INTO blobs%', 2); // waiting for the first's L
          await insertZ.query('ROLLBACK');
          const done = await Promise.all([first, second]);
          assert.deepEqual(done.map((d) => d.uids.length), [3, 2]);
        } finally {
          await insertZ.query('ROLLBACK').catch(() => undefined);
          insertZ.release();
        }
        const verify = await a.verify();
        assert.deepEqual(verify.problems, []);
      });
    });

    for (const collected of ['L', 'H'] as const) {
      it(`blobs = "database": ${collected} of L < H collected between one MULTIAPPEND's prepare and its blob locks, inserted again by another node's: no deadlock`, async () => {
        await withTwoNodes(dirs, 'database', async (a, b) => {
          await a.addDomain('re.test');
          const x = (await a.addAccount('x@re.test', 'h')).id;
          const y = (await a.addAccount('y@re.test', 'h')).id;
          const bodies = [testMessage('one', 500), testMessage('two', 500)];
          const withIds = await Promise.all(
            bodies.map(async (body) => {
              const s = await a.blobs.stage(body);
              await a.blobs.discard(s);
              return { body, id: s.id };
            }),
          );
          withIds.sort((p, q) => (p.id < q.id ? -1 : 1));
          const [gone, kept] = collected === 'L' ? [withIds[0]!, withIds[1]!] : [withIds[1]!, withIds[0]!];
          // `kept` referenced by a message; `gone` an unreferenced row (a staged blob whose every target failed).
          await a.appendMessage(x, 'INBOX', await a.blobs.stage(kept.body));
          const orphan = await a.blobs.stage(gone.body);
          const c = await a.pool.connect();
          try {
            await c.query('BEGIN');
            await a.blobData.prepare(c, orphan);
            await c.query('COMMIT');
          } finally {
            c.release();
          }
          await a.blobs.discard(orphan);

          const holdX = await a.pool.connect();
          const holdY = await a.pool.connect();
          try {
            await holdX.query('BEGIN');
            await holdX.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [x]);
            await holdY.query('BEGIN');
            await holdY.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [y]);
            const stageBoth = (s: Store): Promise<Array<{ blob: Awaited<ReturnType<Store['blobs']['stage']>> }>> =>
              Promise.all(withIds.map(async ({ body }) => ({ blob: await s.blobs.stage(body) })));
            const settled = (p: Promise<unknown>): (() => boolean) => {
              let done = false;
              void p.then(() => (done = true), () => (done = true));
              return () => done;
            };
            const first = a.appendMessages(x, 'INBOX', await stageBoth(a));
            await waitForLockWaits(a, 'SELECT 1 FROM accounts%', 1); // prepared (both rows existed), waiting for account x
            await a.blobData.collect([gone.id]);
            assert.equal((await a.pool.query('SELECT 1 FROM blobs WHERE id = $1', [gone.id])).rowCount, 0, 'the unreferenced row is collected');
            const second = b.appendMessages(y, 'INBOX', await stageBoth(b));
            await waitForLockWaits(a, 'SELECT 1 FROM accounts%', 2); // prepared (inserting that row again), waiting for account y
            await holdX.query('COMMIT');
            // The first takes its blob locks: it may wait for the second's row (or find it committed and finish).
            await waitForLockWaits(a, 'INSERT INTO blobs%', 1, settled(first));
            await holdY.query('COMMIT');
            const done = await Promise.all([first, second]);
            assert.deepEqual(done.map((d) => d.uids.length), [2, 2]);
          } finally {
            await holdX.query('ROLLBACK').catch(() => undefined);
            await holdY.query('ROLLBACK').catch(() => undefined);
            holdX.release();
            holdY.release();
          }
          const verify = await a.verify();
          assert.deepEqual(verify.problems, []);
        });
      });
    }
  });
}

/** The bodies of `n` test messages with their blob ids, sorted by id (the blob lock order). */
async function sortedBodies(s: Store, names: string[]): Promise<Array<{ body: Uint8Array; id: string }>> {
  const out = await Promise.all(
    names.map(async (name) => {
      const body = testMessage(name, 500);
      const staged = await s.blobs.stage(body);
      await s.blobs.discard(staged);
      return { body, id: staged.id };
    }),
  );
  return out.sort((p, q) => (p.id < q.id ? -1 : 1));
}

/**
 * Waits until `n` backends of the store's database wait for a lock in a statement LIKE `pattern`,
 * or `passed()` says the awaited step is over (readiness, not time).
 */
async function waitForLockWaits(s: PostgresStore, pattern: string, n: number, passed: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (passed()) return;
    const r = await s.pool.query<{ n: string }>(
      "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1",
      [pattern],
    );
    if (Number(r.rows[0]!.n) >= n) return;
    if (Date.now() > deadline) throw new Error(`no ${n} backend(s) waiting for a lock in ${pattern}`);
    await new Promise((resolve) => setTimeout(resolve, 10)); // polling pg_stat_activity (no event to wait on)
  }
}

/**
 * Two stores ("nodes") on one fresh database of `cluster`, given to `load`; then both closed and
 * the deadlocks PostgreSQL detected in that database required to be 0. With blobs = "files" both
 * nodes use one directory (the filesystem every node mounts).
 */
async function withTwoNodes(dirs: string[], mode: 'database' | 'files', load: (a: PostgresStore, b: PostgresStore) => Promise<void>): Promise<void> {
  if (!cluster) throw new Error('no cluster');
  const dirA = await mkdtemp(join(tmpdir(), 'yubin-dl-'));
  const dirB = mode === 'files' ? dirA : await mkdtemp(join(tmpdir(), 'yubin-dl-node-'));
  dirs.push(dirA, dirB);
  const a = mode === 'files' ? await openTestStoreFiles(dirA) : await openTestStore(dirA);
  const { openPostgresStore } = await import('./open.js');
  const database = databaseFor(dirA);
  const b = await openPostgresStore({ url: `${cluster.baseUrl}${database}`, dataDir: dirB, blobs: mode, poolSize: 8 });
  let closed = false;
  try {
    await load(a, b);
    await a.close();
    await b.close();
    closed = true;
    assert.equal(await deadlocksIn(cluster.url('postgres'), database), 0, 'PostgreSQL detected no deadlock');
  } finally {
    if (!closed) for (const s of [a, b]) await s.close().catch(() => undefined);
  }
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
