// test: serial
// The SQLite store's change feed across processes (docs/store.md "Change feed"), with the real
// server and real clients: an imapflow session in IDLE sees a message appended by another process
// on the same data directory, and `yubin user remove` run from the CLI ends the session (its
// selected mailbox is gone) while it waits in IDLE.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import { startYubin, type YubinInstance } from '../helpers/server.js';

const SELF = fileURLToPath(import.meta.url);
const BOB = 'bob@a.test';
const PASS = 'correct horse battery';

if (process.env.YUBIN_FEED_CHILD) {
  // Another process on the server's data directory: appends one message to bob's INBOX and exits.
  const { openStore } = await import('../../src/store/index.js');
  const store = await openStore(process.env.YUBIN_FEED_CHILD);
  const bob = (await store.getAccount(BOB))!;
  await store.appendMessage(bob.id, 'INBOX', await store.blobs.stage(Buffer.from('Subject: from another process\r\n\r\nhello\r\n')));
  await store.close();
} else {
  let y: YubinInstance;
  before(async () => {
    y = await startYubin({ domains: ['a.test'], users: [{ address: BOB, password: PASS }], config: { auth: { allow_plaintext: true } } });
  });
  after(() => y.destroy());

  const client = () => new ImapFlow({ host: y.host('imap'), port: y.port('imap'), secure: false, auth: { user: BOB, pass: PASS }, logger: false, tls: { rejectUnauthorized: false } });
  const within = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`${what} not within ${ms} ms`)), ms))]);

  test('IDLE sees a message appended by another process on the data directory', async () => {
    const c = client();
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      const exists = new Promise<{ count: number }>((resolve) => c.once('exists', resolve));
      const idling = c.idle();
      const child = spawn(process.execPath, ['--import', 'tsx', SELF], { env: { ...process.env, YUBIN_FEED_CHILD: y.dataDir }, stdio: ['ignore', 'inherit', 'inherit'] });
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      assert.equal(code, 0);
      // the other process has committed and exited: the push follows within a poll
      assert.equal((await within(exists, 1000, 'EXISTS')).count, 1);
      await c.noop();
      await idling;
    } finally {
      await c.logout().catch(() => undefined);
    }
  });

  test('`yubin user remove` from the CLI ends the IDLE session of that account', async () => {
    const c = client();
    await c.connect();
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    await c.mailboxOpen('INBOX');
    void c.idle().catch(() => undefined);
    const r = await y.cli(['user', 'remove', BOB]);
    assert.equal(r.code, 0, r.stderr);
    // the client only waits in IDLE: the connection ends because the server said BYE
    await within(closed, 2000, 'the session end');
  });
}
