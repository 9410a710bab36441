// DKIM keys on PostgreSQL are one set for every node: two PostgresStores ("nodes") on one
// throwaway database, each with its own data_dir. Keys made on one node are the other's, made
// exactly once when both ask at once, and each node's copy in data_dir/dkim follows the database.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dkimKeyStore } from '../dkim-key-store.js';
import { dkimRecord, ensureDomainKeys, listDomainKeys } from '../dkim-keys.js';
import { DKIM_LOCK, syncDkimKeys } from './dkim.js';
import { pgTestNodes } from '../../../test/helpers/pg-nodes.js';

const twoNodes = await pgTestNodes('DKIM keys on PostgreSQL');

if (twoNodes) {
  describe('DKIM keys on PostgreSQL, two nodes', () => {
    it('both nodes asking for a new domain\'s keys at once get the same keys, generated once', async () => {
      const [a, b] = await twoNodes();
      const [ka, kb] = await Promise.all([dkimKeyStore(a.dir, a.store).ensure('a.test'), dkimKeyStore(b.dir, b.store).ensure('a.test')]);
      assert.equal(ka.length, 2);
      assert.deepEqual(ka.map((k) => k.selector).sort(), kb.map((k) => k.selector).sort());
      assert.deepEqual(ka.map(dkimRecord).sort(), kb.map(dkimRecord).sort(), 'the same key pairs');
      const rows = await a.store.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM checks_dkim_keys WHERE domain = 'a.test'");
      assert.equal(rows.rows[0]!.n, 2, 'one generation in the database');
      // each node's copy, which the signer reads, holds them with mode 0600
      for (const n of [a, b]) {
        const local = listDomainKeys(n.dir, 'a.test');
        assert.deepEqual(local.map((k) => k.selector).sort(), ka.map((k) => k.selector).sort());
        for (const k of local) assert.equal(statSync(k.path).mode & 0o777, 0o600);
      }
      await assert.rejects(dkimKeyStore(b.dir, b.store).generate('a.test'), /already has DKIM keys/);
    });

    it('a node that finds the domain\'s key lock taken waits and takes the keys the holder committed', async () => {
      const [a, b] = await twoNodes();
      await dkimKeyStore(a.dir, a.store).list('d.test'); // tables made
      const holder = await a.store.pool.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [DKIM_LOCK, 'd.test']);
        const [mine] = await dkimKeyStore(a.dir, a.store).generate('x.test'); // a real key to plant under the lock
        const pem = readFileSync(mine!.path, 'utf8');
        await holder.query("INSERT INTO checks_dkim_keys (domain, selector, algorithm, created, pem) VALUES ('d.test', 'held1r', 'rsa-sha256', 1, $1)", [pem]);
        let settled = false;
        const waiting = dkimKeyStore(b.dir, b.store).ensure('d.test');
        void waiting.then(() => (settled = true), () => (settled = true));
        // until node B waits on the lock (pg_locks shows an ungranted advisory lock), or finished without it
        for (;;) {
          if (settled) break;
          const w = await a.store.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
          if (w.rows[0]!.n > 0) break;
          await new Promise((r) => setImmediate(r));
        }
        await holder.query('COMMIT');
        assert.deepEqual((await waiting).map((k) => k.selector), ['held1r'], 'no second generation');
      } finally {
        holder.release();
      }
    });

    it('a rotation and a retirement on node A reach node B\'s copy at its next sync; B lists them from the database at once', async () => {
      const [a, b] = await twoNodes();
      const keysA = dkimKeyStore(a.dir, a.store);
      const first = await keysA.generate('b.test', new Date('2026-11-01T00:00:00Z'));
      const next = await keysA.rotate('b.test', new Date('2026-11-20T00:00:00Z'));
      assert.deepEqual(next.map((k) => k.selector), ['y20261120r', 'y20261120e']);
      const listed = await dkimKeyStore(b.dir, b.store).list('b.test');
      assert.deepEqual(listed.map((k) => k.selector), ['y20261120r', 'y20261120e', 'y20261101r', 'y20261101e']);
      await keysA.retire('b.test', first[0]!.selector);
      await assert.rejects(keysA.retire('b.test', 'y20261120r'), /last rsa-sha256 key/);
      assert.ok(existsSync(join(b.dir, 'dkim', 'b.test', `${first[0]!.selector}.pem`)), 'node B\'s copy still has it until it syncs');
      await syncDkimKeys(b.store.pool, b.dir);
      assert.deepEqual(listDomainKeys(b.dir, 'b.test').map((k) => k.selector), ['y20261120r', 'y20261120e', 'y20261101e']);
      assert.ok(!existsSync(join(b.dir, 'dkim', 'b.test', `${first[0]!.selector}.pem`)), 'the retired key is gone from node B');
      assert.equal(readFileSync(join(b.dir, 'dkim', 'b.test', 'y20261120r.pem'), 'utf8'), readFileSync(join(a.dir, 'dkim', 'b.test', 'y20261120r.pem'), 'utf8'));
    });

    it('keys a node kept in files before the move are imported once; a database that has keys for the domain wins', async () => {
      const [a, b] = await twoNodes();
      const old = ensureDomainKeys(a.dir, 'c.test', new Date('2026-01-01T00:00:00Z'));
      ensureDomainKeys(b.dir, 'c.test', new Date('2026-02-02T00:00:00Z')); // a stray second set on node B
      await syncDkimKeys(a.store.pool, a.dir);
      await syncDkimKeys(b.store.pool, b.dir);
      const want = old.map((k) => k.selector).sort();
      assert.deepEqual((await dkimKeyStore(b.dir, b.store).list('c.test')).map((k) => k.selector).sort(), want);
      assert.deepEqual(listDomainKeys(b.dir, 'c.test').map((k) => k.selector).sort(), want, 'node B now signs with node A\'s keys');
      assert.deepEqual(listDomainKeys(b.dir, 'c.test').map(dkimRecord).sort(), old.map(dkimRecord).sort());
    });
  });
}
