// `yubin store copy --to URL`: a data directory written by a SQLite server is copied into an empty
// PostgreSQL database; a node on PostgreSQL then serves the same accounts, mailboxes, UIDs,
// UIDVALIDITY and flags; a second copy into the same database is refused; a blob file that does
// not match its hash fails the copy and leaves the target empty.
import { after, before, it, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import pg from 'pg';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { postgresUnavailable, startCluster } from '../helpers/postgres.js';

const BOB = 'bob@a.test';
const PASS = 'correct horse battery';

const cluster = await startCluster();

function imap(node: YubinInstance): ImapFlow {
  return new ImapFlow({ host: node.host('imap'), port: node.port('imap'), secure: false, auth: { user: BOB, pass: PASS }, logger: false, tls: { rejectUnauthorized: false } });
}

async function inbox(node: YubinInstance): Promise<{ uidValidity: string; messages: Array<{ uid: number; flags: string[]; source: string }> }> {
  const c = imap(node);
  await c.connect();
  try {
    const box = await c.mailboxOpen('INBOX');
    const messages: Array<{ uid: number; flags: string[]; source: string }> = [];
    for await (const m of c.fetch('1:*', { uid: true, flags: true, source: true })) messages.push({ uid: m.uid, flags: [...(m.flags ?? [])].sort(), source: m.source!.toString('utf8') });
    return { uidValidity: String(box.uidValidity), messages };
  } finally {
    await c.logout();
  }
}

if (!cluster) {
  it('yubin store copy', { skip: postgresUnavailable }, () => undefined);
} else {
  describe('yubin store copy --to URL', () => {
    let sqliteNode: YubinInstance;
    const started: YubinInstance[] = [];
    before(async () => {
      sqliteNode = await startYubin({ domains: ['a.test'], users: [{ address: BOB, password: PASS }], aliases: [{ address: 'info@a.test', targets: [BOB] }], config: { auth: { allow_plaintext: true } } });
      started.push(sqliteNode);
      const c = imap(sqliteNode);
      await c.connect();
      for (let i = 0; i < 5; i++) await c.append('INBOX', `Subject: copy ${i}\r\n\r\n${'x'.repeat(i * 100_000)}body ${i}\r\n`, i % 2 ? ['\\Seen', '$Label1'] : []);
      await c.mailboxOpen('INBOX');
      await c.messageDelete('1', { uid: true }); // a UID gap: UIDs must stay what they were
      await c.logout();
      await sqliteNode.stop();
    });
    after(async () => {
      for (const n of started) await n.destroy().catch(() => undefined);
      await cluster.stop();
    });

    it('copies into an empty database and a PostgreSQL node serves the same mailbox', async () => {
      const before = await (async () => {
        const restarted = await sqliteNode.restart();
        started.push(restarted);
        const r = await inbox(restarted);
        await restarted.stop();
        return r;
      })();
      const url = await cluster.createDatabase('copy_ok');
      const r = await sqliteNode.cli(['store', 'copy', '--to', url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /row counts and blob hashes verified/);
      assert.match(r.stdout, /^messages: 4 rows$/m);
      assert.match(r.stderr, /^blobs: \d+\/\d+$/m, 'plain progress lines without a terminal');

      const node = await startYubin({ config: { store: { backend: 'postgresql', url }, auth: { allow_plaintext: true } } });
      started.push(node);
      const after = await inbox(node);
      assert.deepEqual(after, before, 'same UIDVALIDITY, UIDs, flags and bytes');
      assert.deepEqual(after.messages.map((m) => m.uid), [2, 3, 4, 5]);
      // new mail continues after the copied UIDs and ids
      const c = imap(node);
      await c.connect();
      const appended = await c.append('INBOX', 'Subject: after the copy\r\n\r\nnew\r\n');
      await c.logout();
      assert.equal(appended && appended.uid, 6);
      const users = await node.cli(['user', 'add', 'carol@a.test', '--password-stdin'], 'another password\n');
      assert.equal(users.code, 0, users.stderr);

      const again = await sqliteNode.cli(['store', 'copy', '--to', url]);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /not empty/);
    });

    it('a blob file that does not match its hash fails the copy and leaves the target empty', async () => {
      const blobs = join(sqliteNode.dataDir, 'blobs');
      const files = readdirSync(blobs, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
      const f = join(files[0]!.parentPath, files[0]!.name);
      const bytes = readFileSync(f);
      bytes[bytes.length - 3] ^= 1;
      writeFileSync(f, bytes);
      const url = await cluster.createDatabase('copy_bad');
      const r = await sqliteNode.cli(['store', 'copy', '--to', url]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /does not match its size or hash/);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        for (const t of ['accounts', 'messages', 'blobs', 'blob_chunks']) assert.equal((await c.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n, 0, `${t} empty`);
      } finally {
        await c.end();
      }
    });
  });
}
