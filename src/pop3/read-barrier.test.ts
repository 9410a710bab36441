// The store's read barrier (docs/store.md "Durability"): a POP3 command runs only once what the
// store has committed is on disk, so a client never downloads a change a power cut could take back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MSG1, cmd, createPop3TestContext, type Pop3TestContext } from '../../test/helpers/pop3-context.js';
import { runBehindClosedBarrier } from '../../test/helpers/read-barrier.js';

let c: Pop3TestContext;
before(async () => {
  c = await createPop3TestContext();
});
after(async () => {
  await c.close();
});

test('a command waits for the store\'s read barrier before it runs, and runs once it opens', async () => {
  await c.deliver(c.bob, MSG1);
  const t = await c.login(c.bob);
  assert.match(await runBehindClosedBarrier(c.store, () => cmd(t, 'STAT')), /^\+OK 1 /);
});
