// test: serial
// The store contract (src/store/contract.ts) against PostgreSQL, on a throwaway cluster
// (test/helpers/postgres.ts), plus what several nodes on one database need: exact UIDs and quota
// under concurrent deliveries from two Store instances, the change feed across them, the POP3
// maildrop lock across them, and the schema version guard.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runStoreContract, testMessage } from '../contract.js';
import { StoreError, type ChangeEvent, type Store } from '../types.js';
import { openTestStore, openTestStoreFiles, PG_TEST_URL_ENV, postgresUnavailable, startCluster, databaseFor } from '../../../test/helpers/postgres.js';
import { until } from '../../../test/helpers/until.js';

const cluster = await startCluster();

if (!cluster) {
  it('PostgreSQL store contract', { skip: postgresUnavailable }, () => undefined);
} else {
  process.env[PG_TEST_URL_ENV] = cluster.baseUrl;
  after(() => cluster.stop());

  runStoreContract('postgresql', (dir) => openTestStore(dir), { openModule: { url: new URL('../../../test/helpers/postgres.ts', import.meta.url).href, exportName: 'openTestStore' } });

  describe('postgresql: several nodes on one database', () => {
    const dirs: string[] = [];
    const stores: Store[] = [];
    after(async () => {
      for (const s of stores) await s.close().catch(() => undefined);
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });
    /** Two stores ("nodes") on one database, each with its own local directory. */
    async function twoNodes(): Promise<[Store, Store]> {
      const dirA = await mkdtemp(join(tmpdir(), 'yubin-store-'));
      const dirB = await mkdtemp(join(tmpdir(), 'yubin-node-'));
      dirs.push(dirA, dirB);
      const a = await openTestStore(dirA);
      stores.push(a);
      // Node B opens node A's database from its own directory.
      const { openPostgresStore } = await import('./open.js');
      const b = await openPostgresStore({ url: `${process.env[PG_TEST_URL_ENV]}${databaseFor(dirA)}`, dataDir: dirB, poolSize: 8 });
      stores.push(b);
      return [a, b];
    }

    it('concurrent deliveries from two nodes into one mailbox with room for N land exactly N, with unique consecutive UIDs', async () => {
      const [a, b] = await twoNodes();
      await a.addDomain('a.test');
      const size = testMessage('q00', 3000).length;
      const n = 12;
      const acc = (await a.addAccount('bob@a.test', 'h', size * n)).id;
      const msgs = Array.from({ length: 60 }, (_, i) => testMessage(`q${String(i).padStart(2, '0')}`, 3000));
      assert.ok(msgs.every((m) => m.length === size));
      const staged = await Promise.all(msgs.map((m, i) => (i % 2 ? b : a).blobs.stage(m)));
      const results = await Promise.all(staged.map((s, i) => (i % 2 ? b : a).deliver(s, [{ accountId: acc }])));
      const ok = results.map((r) => r[0]!).filter((r) => r.ok);
      assert.equal(ok.length, n, 'exactly N delivered');
      assert.ok(results.every((r) => r[0]!.ok || r[0]!.error === 'over-quota'));
      const uids = ok.map((r) => (r.ok ? r.uid : 0)).sort((x, y) => x - y);
      assert.deepEqual(uids, Array.from({ length: n }, (_, i) => i + 1), 'unique consecutive UIDs');
      assert.ok(results.some((r, i) => r[0]!.ok && i % 2 === 1) && results.some((r, i) => r[0]!.ok && i % 2 === 0), 'both nodes delivered');
      const box = (await b.getMailbox(acc, 'INBOX'))!;
      assert.equal(box.uidNext, n + 1);
      assert.equal((await a.getAccountById(acc))!.usage, n * size);
      const modseqs = (await a.listMessages(box.id)).map((m) => m.modseq);
      assert.equal(new Set(modseqs).size, n, 'every delivery its own MODSEQ');
      for (const [i, s] of staged.entries()) await (i % 2 ? b : a).blobs.discard(s);
      assert.deepEqual((await a.verify!()).problems, []);
    });

    it('a change on node A reaches a subscriber on node B within 1 s (delivery, flags, expunge; big events too)', async () => {
      const [a, b] = await twoNodes();
      await a.addDomain('a.test');
      const acc = (await a.addAccount('bob@a.test', 'h')).id;
      const seen: ChangeEvent[] = [];
      const waiters: Array<() => void> = [];
      b.changes.subscribe(acc, (e) => {
        seen.push(e);
        for (const w of waiters.splice(0)) w();
      });
      const observedOnB: ChangeEvent[] = [];
      b.changes.observe((e) => void observedOnB.push(e));
      const waitFor = async (pred: (e: ChangeEvent) => boolean, what: string): Promise<number> => {
        const t0 = Date.now();
        while (!seen.some(pred)) {
          const left = 1000 - (Date.now() - t0);
          assert.ok(left > 0, `${what} did not reach node B within 1 s`);
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, left);
            waiters.push(() => {
              clearTimeout(t);
              resolve();
            });
          });
        }
        return Date.now() - t0;
      };
      const s = await a.blobs.stage(testMessage('across'));
      const [r] = await a.deliver(s, [{ accountId: acc }]);
      assert.ok(r!.ok);
      await waitFor((e) => e.type === 'message-added' && e.uid === r.uid && e.mailboxId === r.mailboxId, 'the delivery');
      await a.updateFlags(r.mailboxId, [r.uid], { mode: 'add', flags: ['\\Seen'] });
      await waitFor((e) => e.type === 'flags-changed' && e.changes[0]!.uid === r.uid, 'the flag change');
      // An event bigger than a NOTIFY payload (8000 bytes) goes through change_events.
      const many = Array.from({ length: 1500 }, (_, i) => ({ accountId: acc, flags: [`kw${i % 3}`] }));
      const res = await a.deliver(s, many.slice(0, 1000));
      const uids = res.map((x) => (x.ok ? x.uid : 0));
      const removed = await a.expunge(r.mailboxId, uids);
      assert.equal(removed.length, 1000);
      await waitFor((e) => e.type === 'messages-expunged' && e.uids.length === 1000, 'a 1000-message expunge');
      await a.blobs.discard(s);
      assert.equal(observedOnB.length, 0, 'observers see only their own node\'s changes');
    });

    it('the POP3 maildrop lock is one lock for every node', async () => {
      const [a, b] = await twoNodes();
      const pa = a as unknown as { lockMaildrop(id: number): Promise<(() => Promise<void>) | null> };
      const pb = b as unknown as { lockMaildrop(id: number): Promise<(() => Promise<void>) | null> };
      const release = await pa.lockMaildrop(7);
      assert.ok(release);
      assert.equal(await pb.lockMaildrop(7), null, 'held on node A');
      assert.equal(await pa.lockMaildrop(7), null, 'held by another session on this node');
      const other = await pb.lockMaildrop(8);
      assert.ok(other, 'another account is free');
      await release();
      await release();
      const again = await pb.lockMaildrop(7);
      assert.ok(again, 'released on node A, free for node B');
      await again();
      await other();
    });

    it('a node that dies gives its maildrop locks back', async () => {
      const [a, b] = await twoNodes();
      const pa = a as unknown as { lockMaildrop(id: number): Promise<(() => Promise<void>) | null> };
      const pb = b as unknown as { lockMaildrop(id: number): Promise<(() => Promise<void>) | null> };
      assert.ok(await pa.lockMaildrop(9));
      assert.equal(await pb.lockMaildrop(9), null);
      // The lock connection of node A ends (as when the process is killed).
      const admin = new pg.Client({ connectionString: `${process.env[PG_TEST_URL_ENV]}postgres` });
      await admin.connect();
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'yubin-locks' AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 9)");
      await admin.end();
      const got = await until('the lock to come back', () => pb.lockMaildrop(9));
      await got();
    });

    it('openStore picks PostgreSQL from [store], the URL from YUBIN_DATABASE_URL when url is empty', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
      dirs.push(dir);
      await (await openTestStore(dir)).close(); // creates the database
      const { openStore } = await import('../index.js');
      const { PostgresStore } = await import('./store.js');
      const config = { backend: 'postgresql' as const, url: '', pool_size: 2, blobs: 'database' as const };
      const saved = process.env.YUBIN_DATABASE_URL;
      try {
        delete process.env.YUBIN_DATABASE_URL;
        await assert.rejects(openStore(dir, { config }), /YUBIN_DATABASE_URL/);
        process.env.YUBIN_DATABASE_URL = `${process.env[PG_TEST_URL_ENV]}${databaseFor(dir)}`;
        const store = await openStore(dir, { config });
        stores.push(store);
        assert.ok(store instanceof PostgresStore);
        await store.addDomain('env.test');
        assert.equal(await store.isLocalDomain('env.test'), true);
      } finally {
        if (saved === undefined) delete process.env.YUBIN_DATABASE_URL;
        else process.env.YUBIN_DATABASE_URL = saved;
      }
    });

    it('refuses a database written by a newer Yubin', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
      dirs.push(dir);
      await (await openTestStore(dir)).close();
      const c = new pg.Client({ connectionString: `${process.env[PG_TEST_URL_ENV]}${databaseFor(dir)}` });
      await c.connect();
      await c.query("INSERT INTO schema_migrations (module, version, name, applied_at) VALUES ('store', 999, 'future', 0)");
      await c.end();
      await assert.rejects(openTestStore(dir), (err: unknown) => err instanceof StoreError && err.code === 'schema-too-new' && /999/.test(err.message) && /newer Yubin/.test(err.message));
    });

    it('blobs = "files": the same store with content-addressed files on a shared directory', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
      dirs.push(dir);
      const store = await openTestStoreFiles(dir);
      stores.push(store);
      await store.addDomain('a.test');
      const acc = (await store.addAccount('bob@a.test', 'h')).id;
      const bytes = testMessage('on files', 600_000);
      const s = await store.blobs.stage(bytes);
      const [r] = await store.deliver(s, [{ accountId: acc }]);
      await store.blobs.discard(s);
      assert.ok(r!.ok);
      const [m] = await store.getMessages(r.mailboxId, [r.uid]);
      assert.deepEqual(await store.blobs.read(m!.blobId), bytes);
      assert.deepEqual((await store.verify!()).problems, []);
      await store.expunge(r.mailboxId, [r.uid]);
      await store.close();
      const again = await openTestStoreFiles(dir);
      stores.push(again);
      assert.deepEqual((await again.verify!()).problems, [], 'the file went with its last reference');
    });
  });
}
