// The store contract for the SQLite backend, plus what only SQLite has (schema versions, sweeping files).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runStoreContract, testMessage } from '../contract.js';
import { openStore, SqliteStore } from '../index.js';
import { runMigrations } from './migrate.js';
import { STORE_MIGRATIONS } from '../../db/schema/store.js';
import { StoreError } from '../types.js';

/** yubin.sqlite in `dir` as the store's first `version` migrations made it (a database an older Yubin left). */
function storeDatabaseAt(dir: string, version: number): Database.Database {
  const db = new Database(join(dir, 'yubin.sqlite'));
  runMigrations(db, { module: 'store', migrations: STORE_MIGRATIONS.slice(0, version) }, 'yubin.sqlite');
  return db;
}

/** Domain 1 a.test, account 1 bob@a.test and its INBOX (mailbox 1), counted as holding one message of `size` bytes (UID 1). */
function seedInboxOfOne(db: Database.Database, size: number): void {
  db.exec(`INSERT INTO domains (id, name, created_at) VALUES (1, 'a.test', 0);
    INSERT INTO accounts (id, address, domain_id, password_hash, usage, created_at) VALUES (1, 'bob@a.test', 1, 'h', ${size}, 0);
    INSERT INTO mailboxes (id, account_id, name, uid_validity, uid_next, highest_modseq, message_count, unseen_count, total_size) VALUES (1, 1, 'INBOX', 1, 2, 2, 1, 1, ${size});`);
}

runStoreContract('sqlite', (dir) => openStore(dir), { openModule: { url: new URL('../index.ts', import.meta.url).href, exportName: 'openStore' } });

describe('sqlite store specifics', () => {
  it('refuses a database written by a newer Yubin', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      await (await openStore(dir)).close();
      const db = new Database(join(dir, 'yubin.sqlite'));
      db.prepare("INSERT INTO schema_migrations (module, version, name, applied_at) VALUES ('store', 999, 'future', 0)").run();
      db.close();
      await assert.rejects(openStore(dir), (err: unknown) => err instanceof StoreError && err.code === 'schema-too-new' && /999/.test(err.message));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('upgrades a version-1 database: migration 2 fills the STATUS counters; verify() catches a wrong one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      const db = storeDatabaseAt(dir, 1);
      db.exec(`INSERT INTO domains (id, name, created_at) VALUES (1, 'a.test', 0);
        INSERT INTO accounts (id, address, domain_id, password_hash, usage, created_at) VALUES (1, 'bob@a.test', 1, 'h', 30, 0);
        INSERT INTO mailboxes (id, account_id, name, uid_validity, uid_next, highest_modseq) VALUES (1, 1, 'INBOX', 1, 4, 4);
        INSERT INTO blobs (id, size, refs, structure) VALUES ('${'a'.repeat(64)}', 10, 3, '{}');
        INSERT INTO messages (mailbox_id, uid, modseq, sys_flags, internal_date, size, blob_id) VALUES
          (1, 1, 2, 1, 0, 10, '${'a'.repeat(64)}'), (1, 2, 3, 8, 0, 10, '${'a'.repeat(64)}'), (1, 3, 4, 0, 0, 10, '${'a'.repeat(64)}');`);
      db.close();
      const store = await openStore(dir);
      const st = await store.mailboxStatus(1);
      assert.deepEqual([st.messages, st.unseen, st.deleted, st.size, st.uidNext], [3, 2, 1, 30, 4]);
      (store as SqliteStore).db.prepare('UPDATE mailboxes SET unseen_count = 7 WHERE id = 1').run();
      const problems = (await store.verify!()).problems;
      assert.ok(problems.some((p) => /INBOX: counters 3\/7\/1\/30 but messages 3\/2\/1\/30/.test(p)), problems.join('\n'));
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('upgrades a version-6 database: migration 7 moves the bytes kept in blob rows to blob_content, and they read as before', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      const db = storeDatabaseAt(dir, 6);
      const raw = Buffer.from('Subject: kept in its row\r\n\r\nbody\r\n');
      const id = 'b'.repeat(64);
      seedInboxOfOne(db, raw.length);
      db.prepare("INSERT INTO blobs (id, size, refs, structure, content) VALUES (?, ?, 1, '{}', ?)").run(id, raw.length, raw);
      db.prepare('INSERT INTO messages (mailbox_id, uid, modseq, sys_flags, internal_date, size, blob_id) VALUES (1, 1, 2, 0, 0, ?, ?)').run(raw.length, id);
      db.close();
      const store = await openStore(dir);
      const sdb = (store as SqliteStore).db;
      assert.equal((sdb.prepare('SELECT count(*) AS n FROM blobs WHERE content IS NOT NULL').get() as { n: number }).n, 0, 'no bytes left in blob rows');
      assert.deepEqual((sdb.prepare('SELECT content FROM blob_content WHERE id = ?').get(id) as { content: Buffer }).content, raw);
      assert.deepEqual(await store.blobs.read(id), raw);
      assert.deepEqual((await store.verify!()).problems, []);
      // Bytes left without their blob row are reported.
      sdb.prepare('INSERT INTO blob_content (id, content) VALUES (?, ?)').run('c'.repeat(64), raw);
      assert.deepEqual((await store.verify!()).problems, [`blob ${'c'.repeat(64)}: bytes kept in blob_content without a blob row`]);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('upgrades a version-7 database: migration 8 makes blobs and blob_content rowid tables, rows, reads and foreign keys as before, and drops bytes left without a blob row', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      const db = storeDatabaseAt(dir, 7);
      const tableSql = (d: Database.Database, t: string) => (d.prepare("SELECT sql FROM sqlite_master WHERE name = ?").get(t) as { sql: string }).sql;
      assert.match(tableSql(db, 'blobs'), /WITHOUT ROWID\s*$/);
      const raw = Buffer.from('Subject: kept in its row\r\n\r\nbody\r\n');
      const id = 'b'.repeat(64);
      seedInboxOfOne(db, raw.length);
      db.prepare("INSERT INTO blobs (id, size, refs, structure, preview) VALUES (?, ?, 1, '{}', 'kept')").run(id, raw.length);
      db.prepare('INSERT INTO blob_content (id, content) VALUES (?, ?)').run(id, raw);
      db.prepare('INSERT INTO messages (mailbox_id, uid, modseq, sys_flags, internal_date, size, blob_id) VALUES (1, 1, 2, 0, 0, ?, ?)').run(raw.length, id);
      // What version 7's start-up sweep could leave: bytes whose blob row it deleted.
      db.prepare('INSERT INTO blob_content (id, content) VALUES (?, ?)').run('d'.repeat(64), raw);
      db.close();
      const store = await openStore(dir);
      const sdb = (store as SqliteStore).db;
      assert.deepEqual(sdb.prepare('SELECT id FROM blob_content').all(), [{ id }], 'the stray bytes are gone, the kept ones stay');
      for (const t of ['blobs', 'blob_content']) assert.doesNotMatch(tableSql(sdb, t), /WITHOUT ROWID/i, `${t} is a rowid table`);
      assert.deepEqual(sdb.prepare('SELECT id, size, refs, held, structure, preview FROM blobs').all(), [{ id, size: raw.length, refs: 1, held: 0, structure: '{}', preview: 'kept' }]);
      assert.deepEqual(await store.blobs.read(id), raw);
      assert.deepEqual((await store.verify!()).problems, []);
      // The id stays the primary key (unique, never NULL) and messages still reference it.
      assert.throws(() => sdb.prepare("INSERT INTO blobs (id, size, refs, structure) VALUES (?, 1, 1, '{}')").run(id), /UNIQUE/);
      assert.throws(() => sdb.prepare("INSERT INTO blobs (id, size, refs, structure) VALUES (NULL, 1, 1, '{}')").run(), /NOT NULL/);
      assert.throws(() => sdb.prepare('INSERT INTO blob_content (id, content) VALUES (NULL, ?)').run(raw), /NOT NULL/);
      assert.throws(() => sdb.prepare('INSERT INTO messages (mailbox_id, uid, modseq, sys_flags, internal_date, size, blob_id) VALUES (1, 2, 3, 0, 0, 1, ?)').run('f'.repeat(64)), /FOREIGN KEY/);
      // And new mail goes in as before.
      const acc = (await store.getAccountById(1))!;
      const s = await store.blobs.stage(testMessage('after the upgrade'));
      assert.ok((await store.deliver(s, [{ accountId: acc.id }]))[0]!.ok);
      assert.equal((await store.listMessages(1)).length, 2);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('after a migration that rewrote tables the WAL is checkpointed and truncated at open', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      const db = storeDatabaseAt(dir, 7);
      const bytes = Buffer.alloc(4000, 'x');
      const blob = db.prepare("INSERT INTO blobs (id, size, refs, held, structure) VALUES (?, ?, 1, 1, '{}')");
      const content = db.prepare('INSERT INTO blob_content (id, content) VALUES (?, ?)');
      db.transaction(() => {
        for (let i = 0; i < 2000; i++) {
          const id = i.toString(16).padStart(64, '0');
          blob.run(id, bytes.length);
          content.run(id, bytes);
        }
      })();
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
      const store = await openStore(dir);
      try {
        // migration 8 wrote both tables again (about 8 MB) through the WAL
        assert.ok(statSync(join(dir, 'yubin.sqlite-wal')).size < 1024 * 1024, `WAL of ${statSync(join(dir, 'yubin.sqlite-wal')).size} bytes`);
        assert.equal(((store as SqliteStore).db.prepare('SELECT count(*) AS n FROM blob_content').get() as { n: number }).n, 2000);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('migration 8 refuses, naming it, a view or trigger that uses a table it rebuilds; the database stays at version 7', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      const db = storeDatabaseAt(dir, 7);
      db.exec('CREATE VIEW big_blobs AS SELECT id FROM blobs WHERE size > 1000');
      db.close();
      await assert.rejects(openStore(dir), /store migration 8: view big_blobs uses table blobs, which this migration rebuilds: drop it first/);
      const again = new Database(join(dir, 'yubin.sqlite'));
      try {
        assert.equal((again.prepare("SELECT max(version) AS v FROM schema_migrations WHERE module = 'store'").get() as { v: number }).v, 7);
        assert.match((again.prepare("SELECT sql FROM sqlite_master WHERE name = 'blobs'").get() as { sql: string }).sql, /WITHOUT ROWID/);
        again.exec('DROP VIEW big_blobs');
      } finally {
        again.close();
      }
      const store = await openStore(dir);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('sweeps orphan blob files and temporary files at open, keeps referenced ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      let store = await openStore(dir);
      await store.addDomain('a.test');
      const acc = await store.addAccount('bob@a.test', 'h');
      const s = await store.blobs.stage(testMessage('kept'));
      await store.deliver(s, [{ accountId: acc.id }]);
      await store.close();
      const orphan = 'ab'.repeat(32);
      await mkdir(join(dir, 'blobs', 'ab', 'ab'), { recursive: true });
      await writeFile(join(dir, 'blobs', 'ab', 'ab', orphan), 'orphan');
      await writeFile(join(dir, 'tmp', '12345-leftover'), 'partial');
      // After a clean shutdown only temporary files are swept; after a crash, orphan blob files too.
      store = await openStore(dir);
      assert.deepEqual(await readdir(join(dir, 'tmp')), []);
      assert.deepEqual(await readdir(join(dir, 'blobs', 'ab', 'ab')), [orphan]);
      await store.close();
      const db = new Database(join(dir, 'yubin.sqlite'));
      db.prepare("UPDATE meta SET value = 0 WHERE key = 'clean_shutdown'").run();
      db.close();
      store = await openStore(dir);
      assert.deepEqual(await readdir(join(dir, 'tmp')), []);
      assert.deepEqual(await readdir(join(dir, 'blobs', 'ab', 'ab')), []);
      const v = await store.verify!();
      assert.deepEqual(v.problems, []);
      assert.equal(v.tempFiles, 0);
      const [m] = await store.listMessages((await store.getMailbox(acc.id, 'INBOX'))!.id);
      assert.equal(m!.blobId, s.id);
      assert.equal((await store.blobs.read(m!.blobId)).length, s.size);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('shares a data directory between two openers (server and CLI): changes seen at once, in-flight files kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      const server = await openStore(dir);
      // A staged blob with a temporary file (stage() keeps a small message in memory).
      const writer = server.blobs.createWriter();
      await writer.write(testMessage('in flight'));
      const staged = await writer.finish();
      const cli = await openStore(dir);
      // The second opener must not sweep the first one's staged file.
      assert.equal((await readdir(join(dir, 'tmp'))).length, 1);
      await cli.addDomain('a.test');
      const acc = await cli.addAccount('bob@a.test', 'h', 0);
      assert.equal((await server.resolveRecipient('bob@a.test'))!.accounts[0]!.id, acc.id);
      const [r] = await server.deliver(staged, [{ accountId: acc.id }]);
      assert.ok(r!.ok);
      await cli.setQuota('bob@a.test', 1);
      const [over] = await server.deliver(staged, [{ accountId: acc.id }]);
      assert.ok(over && !over.ok && over.error === 'over-quota');
      assert.equal((await cli.listMessages(r.mailboxId)).length, 1);
      await cli.removeAccount('bob@a.test');
      assert.equal(await server.resolveRecipient('bob@a.test'), null);
      await server.blobs.discard(staged);
      await cli.close();
      assert.deepEqual((await server.verify!()).problems, []);
      await server.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stores the same bytes for 3 accounts as one file, deleted when its last reference goes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      const store = await openStore(dir);
      await store.addDomain('a.test');
      const ids = [];
      for (const a of ['bob@a.test', 'carol@a.test', 'dave@a.test']) ids.push((await store.addAccount(a, 'h')).id);
      // A staged file (a message staged in memory is kept in its blob row instead: below).
      const writer = store.blobs.createWriter();
      await writer.write(testMessage('once'));
      const s = await writer.finish();
      const results = await store.deliver(s, ids.map((accountId) => ({ accountId })));
      await store.blobs.discard(s);
      const countFiles = async (): Promise<string[]> => {
        const out: string[] = [];
        for (const a of await readdir(join(dir, 'blobs'))) for (const b of await readdir(join(dir, 'blobs', a))) out.push(...(await readdir(join(dir, 'blobs', a, b))));
        return out;
      };
      assert.deepEqual(await countFiles(), [s.id]);
      for (const r of results) {
        assert.ok(r.ok);
        await store.expunge(r.mailboxId, [r.uid]);
        // Gone only with the last reference (deleted after the commit, when the committer is idle).
        if (r !== results[results.length - 1]) assert.deepEqual(await countFiles(), [s.id]);
      }
      await store.close();
      assert.deepEqual(await countFiles(), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite store: small messages kept in their blob row', () => {
  const listFiles = async (dir: string): Promise<string[]> => {
    const out: string[] = [];
    for (const a of await readdir(join(dir, 'blobs'))) for (const b of await readdir(join(dir, 'blobs', a))) out.push(...(await readdir(join(dir, 'blobs', a, b))));
    return out;
  };

  it('a message staged in memory is stored in its row, no file anywhere; read back whole and by range through every read path, after reopening too; gone with its last reference', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      let store = await openStore(dir);
      await store.addDomain('a.test');
      const ids = [];
      for (const a of ['bob@a.test', 'carol@a.test']) ids.push((await store.addAccount(a, 'h')).id);
      const bytes = testMessage('kept in the row');
      const s = await store.blobs.stage(bytes);
      assert.equal(s.tempPath, null, 'staged in memory');
      const results = await store.deliver(s, ids.map((accountId) => ({ accountId })));
      assert.ok(results.every((r) => r.ok));
      assert.deepEqual(await listFiles(dir), [], 'no blob file');
      assert.deepEqual(await readdir(join(dir, 'tmp')), [], 'no temporary file');
      await store.close();
      store = await openStore(dir);
      assert.deepEqual(await store.blobs.read(s.id), bytes);
      assert.deepEqual(await store.blobs.read(s.id, { start: 2, end: 9 }), bytes.subarray(2, 9));
      assert.deepEqual(await store.blobs.read(s.id, { start: 5, end: 1e9 }), bytes.subarray(5));
      assert.deepEqual(await store.blobs.readMany([{ blobId: s.id, start: 0, end: 4 }, { blobId: s.id, start: 4, end: 1e9 }]), [bytes.subarray(0, 4), bytes.subarray(4)]);
      const chunks: Buffer[] = [];
      for await (const c of store.blobs.open(s.id, { start: 1, end: 6 })) chunks.push(c as Buffer);
      assert.deepEqual(Buffer.concat(chunks), bytes.subarray(1, 6));
      const asm = await store.blobs.assemble!([['A ', { blobId: s.id, start: 0, end: bytes.length }, ' Z'], ['B ', { blobId: s.id, start: 0, end: bytes.length + 1 }]]);
      assert.deepEqual(asm.failed, [null, 'blob shorter than its stored size']);
      assert.equal(asm.data.toString('latin1'), `A ${bytes.toString('latin1')} Z`);
      assert.deepEqual((await store.verify!()).problems, []);
      const [m] = await store.listMessages(results[0]!.mailboxId);
      assert.equal(m!.blobId, s.id);
      for (const r of results) await store.expunge(r.mailboxId, [r.uid]);
      await store.close();
      const db = new Database(join(dir, 'yubin.sqlite'));
      try {
        assert.equal((db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n, 0, 'the row went with the last reference');
        assert.equal((db.prepare('SELECT count(*) AS n FROM blob_content').get() as { n: number }).n, 0, 'and its bytes');
      } finally {
        db.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a crash that left a row at refs = 0 (the collector never ran): the next open sweeps the row and its kept bytes together', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      let store = await openStore(dir);
      await store.addDomain('a.test');
      const acc = await store.addAccount('bob@a.test', 'h');
      const s = await store.blobs.stage(testMessage('released, never collected'));
      const [r] = await store.deliver(s, [{ accountId: acc.id }]);
      assert.ok(r?.ok);
      await store.close();
      // What SIGKILL between the expunge's commit and the collector leaves: the row released, the bytes still there.
      const db = new Database(join(dir, 'yubin.sqlite'));
      try {
        db.prepare('DELETE FROM messages WHERE mailbox_id = ? AND uid = ?').run(r.mailboxId, r.uid);
        db.prepare('UPDATE blobs SET refs = 0 WHERE id = ?').run(s.id);
        assert.equal((db.prepare('SELECT count(*) AS n FROM blob_content').get() as { n: number }).n, 1);
      } finally {
        db.close();
      }
      store = await openStore(dir);
      const v = await store.verify!();
      await store.close();
      const db2 = new Database(join(dir, 'yubin.sqlite'));
      try {
        assert.equal((db2.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n, 0, 'the row was swept');
        assert.equal((db2.prepare('SELECT count(*) AS n FROM blob_content').get() as { n: number }).n, 0, 'and its bytes with it');
      } finally {
        db2.close();
      }
      assert.ok(!v.problems.some((p) => p.includes('blob_content')), v.problems.join('; '));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the same bytes already stored as a file gain a reference (no second copy); assemble mixes rows and files; verify sees a damaged row', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yubin-store-'));
    try {
      const store = await openStore(dir);
      await store.addDomain('a.test');
      const acc = await store.addAccount('bob@a.test', 'h');
      const asFile = testMessage('both ways');
      const w = store.blobs.createWriter();
      await w.write(asFile);
      const f = await w.finish();
      assert.ok((await store.deliver(f, [{ accountId: acc.id }]))[0]!.ok);
      await store.blobs.discard(f);
      const again = await store.blobs.stage(asFile);
      assert.equal(again.id, f.id);
      assert.ok((await store.deliver(again, [{ accountId: acc.id }]))[0]!.ok);
      assert.deepEqual(await listFiles(dir), [f.id], 'still the one file');
      const small = testMessage('row only');
      const r = await store.blobs.stage(small);
      assert.ok((await store.deliver(r, [{ accountId: acc.id }]))[0]!.ok);
      const asm = await store.blobs.assemble!([[{ blobId: f.id, start: 0, end: asFile.length }], ['-', { blobId: r.id, start: 0, end: 3 }]]);
      assert.deepEqual(asm.failed, [null, null]);
      assert.equal(asm.data.toString('latin1'), asFile.toString('latin1') + '-' + small.subarray(0, 3).toString('latin1'));
      // A range past a row's end beside a file: reported short (as a short file is), not gone.
      const short = await store.blobs.assemble!([[{ blobId: f.id, start: 0, end: asFile.length }], ['-', { blobId: r.id, start: 0, end: small.length + 1 }]]);
      assert.deepEqual(short.failed, [null, 'blob shorter than its stored size']);
      assert.equal(short.data.toString('latin1'), asFile.toString('latin1'));
      assert.deepEqual((await store.verify!()).problems, []);
      (store as SqliteStore).db.prepare('UPDATE blob_content SET content = ? WHERE id = ?').run(Buffer.from('short'), r.id);
      assert.deepEqual((await store.verify!()).problems, [`blob ${r.id}: 5 bytes in its row, expected ${small.length}`]);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
