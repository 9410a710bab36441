// The store's read barrier (docs/store.md "Durability"): an IMAP command runs only once what the
// store has committed is on disk, so a client never sees a change that a power cut could take back.
import { test } from 'node:test';
import { useImapContext } from '../../../test/helpers/imap-context.js';
import { runBehindClosedBarrier } from '../../../test/helpers/read-barrier.js';

const t = useImapContext();

test('a command waits for the store\'s read barrier before it runs, and runs once it opens', async () => {
  const c = await t.connect();
  await c.login();
  (await runBehindClosedBarrier(t.store, () => c.cmd('SELECT INBOX'))).ok().has('EXISTS');
});
