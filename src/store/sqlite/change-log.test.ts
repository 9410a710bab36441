// The SQLite change feed across processes (change-log.ts): two stores on one data directory (as
// the server and a `yubin` command are), a subscriber of one sees the other's changes; observers
// do not (they act once, where the change was made); a change rolled back is never announced.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../index.js';
import { testMessage } from '../contract.js';
import type { ChangeEvent, Store } from '../types.js';

const dirs: string[] = [];
const stores: Store[] = [];
after(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function waitFor(events: ChangeEvent[], pred: (e: ChangeEvent) => boolean, ms = 2000): Promise<ChangeEvent> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      const e = events.find(pred);
      if (e) return resolve(e);
      if (Date.now() > end) return reject(new Error(`no matching event within ${ms} ms; got ${JSON.stringify(events)}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

test('a subscriber sees changes committed by another store on the same data directory; observers do not', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-feed-'));
  dirs.push(dir);
  const server = await openStore(dir);
  const cli = await openStore(dir);
  stores.push(server, cli);
  await cli.addDomain('a.test');
  const bob = await cli.addAccount('bob@a.test', 'h');
  const seen: ChangeEvent[] = [];
  const observed: ChangeEvent[] = [];
  server.changes.subscribe(bob.id, (e) => seen.push(e));
  server.changes.observe((e) => void observed.push(e));

  const staged = await cli.blobs.stage(testMessage('from the other process'));
  const added = await cli.appendMessage(bob.id, 'INBOX', staged);
  const e = await waitFor(seen, (x) => x.type === 'message-added');
  assert.deepEqual(e, { type: 'message-added', accountId: bob.id, mailboxId: added.mailboxId, uid: added.uid, modseq: (e as { modseq: number }).modseq });
  const up = await cli.updateFlags(added.mailboxId, [added.uid], { mode: 'add', flags: ['\\Seen'] });
  assert.equal(up.changed.length, 1);
  await waitFor(seen, (x) => x.type === 'flags-changed');
  // over quota: the job rolls back, its event with it
  await cli.setQuota('bob@a.test', 1);
  await assert.rejects(cli.appendMessage(bob.id, 'INBOX', await cli.blobs.stage(testMessage('too big'))));
  await cli.removeAccount('bob@a.test');
  await waitFor(seen, (x) => x.type === 'mailbox-deleted' && x.name === 'INBOX');
  assert.equal(seen.filter((x) => x.type === 'message-added').length, 1, 'the rolled-back append was not announced');
  assert.deepEqual(observed, [], 'observers see only their own process\'s changes');
  // the server's own changes reach its subscribers once, not again through the log
  const carol = await server.addAccount('carol@a.test', 'h');
  const mine: ChangeEvent[] = [];
  server.changes.subscribe(carol.id, (x) => mine.push(x));
  const m = await server.appendMessage(carol.id, 'INBOX', await server.blobs.stage(testMessage('own')));
  await cli.appendMessage(carol.id, 'INBOX', await cli.blobs.stage(testMessage('other')));
  await waitFor(mine, (x) => x.type === 'message-added' && x.uid === m.uid + 1);
  assert.deepEqual(mine.filter((x) => x.type === 'message-added').map((x) => (x as { uid: number }).uid), [m.uid, m.uid + 1]);
});
