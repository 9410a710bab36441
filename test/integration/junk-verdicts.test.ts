// Users' Junk verdicts come from the store's messages-copied events (src/checks/junk-verdicts.ts),
// so a move made by any path counts, not only IMAP's; and the running server wires it (server.ts).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { openStore } from '../../src/store/index.js';
import { createChecksStorage, observeJunkVerdicts, openSpamPrefs } from '../../src/checks/index.js';
import { closeChecksDbs } from '../../src/checks/db.js';
import { silentLogger } from '../../src/log/logger.js';
import { startYubin } from '../helpers/server.js';

const dirs: string[] = [];
after(async () => {
  closeChecksDbs();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function message(subject: string): Buffer {
  return Buffer.from(`From: Bob <bob@b.test>\r\nTo: Alice <alice@a.test>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@b.test>\r\n\r\nHello.\r\n`);
}

test('a move into Junk made directly through the store (no IMAP) records the verdict; out of Junk too', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-verdicts-'));
  dirs.push(dir);
  const store = await openStore(dir);
  const stop = observeJunkVerdicts(store, createChecksStorage(dir, silentLogger()), silentLogger());
  try {
    await store.addDomain('a.test');
    const acct = await store.addAccount('Alice@a.test', 'x');
    const box = async (name: string) => (await store.getMailbox(acct.id, name))!.id;
    const staged = await store.blobs.stage(message('direct'));
    const [r] = await store.deliver(staged, [{ accountId: acct.id }]);
    assert.ok(r!.ok);
    const prefs = openSpamPrefs(dir);
    const moved = await store.moveMessages(await box('INBOX'), [r.uid], await box('Junk'));
    assert.deepEqual(prefs.listVerdicts('alice@a.test').map((v) => [v.blobId, v.verdict]), [[staged.id, 'spam']]);
    const inJunk = moved.map[0]![1];
    await store.copyMessages(await box('Junk'), [inJunk], await box('Archive'));
    assert.deepEqual(prefs.listVerdicts('alice@a.test').map((v) => v.verdict), ['ham', 'spam']);
    // into Trash, or between two ordinary mailboxes, says nothing
    await store.copyMessages(await box('Junk'), [inJunk], await box('Trash'));
    await store.copyMessages(await box('Archive'), [1], await box('INBOX'));
    assert.equal(prefs.listVerdicts('alice@a.test').length, 2);
    // after the observer is gone, nothing is recorded
    stop();
    await store.copyMessages(await box('Archive'), [1], await box('Junk'));
    assert.equal(prefs.listVerdicts('alice@a.test').length, 2);
    await store.blobs.discard(staged);
  } finally {
    stop();
    await store.close();
  }
});

test('a checks database that cannot be opened costs the verdict, never the move', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-verdicts-'));
  dirs.push(dir);
  const notADir = join(dir, 'file');
  await writeFile(notADir, 'x');
  const store = await openStore(join(dir, 'data'));
  const storage = createChecksStorage(notADir, silentLogger());
  const stop = observeJunkVerdicts(store, storage, silentLogger());
  try {
    await store.addDomain('a.test');
    const acct = await store.addAccount('alice@a.test', 'x');
    const staged = await store.blobs.stage(message('unavailable'));
    const [r] = await store.deliver(staged, [{ accountId: acct.id }]);
    assert.ok(r!.ok);
    const junk = (await store.getMailbox(acct.id, 'Junk'))!.id;
    const moved = await store.moveMessages((await store.getMailbox(acct.id, 'INBOX'))!.id, [r.uid], junk);
    assert.equal(moved.map.length, 1);
    assert.equal((await store.mailboxStatus(junk)).messages, 1);
    assert.equal(storage.spamPrefs(), null);
    await store.blobs.discard(staged);
  } finally {
    stop();
    await store.close();
  }
});

test('the server records an IMAP MOVE into Junk (server.ts wires the checks to the store)', async () => {
  const y = await startYubin({ domains: ['a.test'], users: [{ address: 'alice@a.test', password: 'pw for alice' }] });
  const c = new ImapFlow({ host: '127.0.0.1', port: y.port('imap'), secure: false, auth: { user: 'alice@a.test', pass: 'pw for alice' }, logger: false, tls: { rejectUnauthorized: false } });
  try {
    await c.connect();
    const appended = await c.append('INBOX', message('served'));
    assert.ok(appended, 'APPEND failed');
    await c.mailboxOpen('INBOX');
    assert.ok(await c.messageMove(String(appended.uid), 'Junk', { uid: true }));
    await c.logout();
    const verdicts = openSpamPrefs(y.dataDir).listVerdicts('alice@a.test');
    assert.deepEqual(verdicts.map((v) => v.verdict), ['spam']);
  } finally {
    c.close();
    await y.destroy();
  }
});
