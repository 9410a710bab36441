// The store's read barrier (docs/store.md "Durability"): a POP3 command runs only once what the
// store has committed is on disk, so a client never downloads a change a power cut could take back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MSG1, cmd, createPop3TestContext, type Pop3TestContext } from '../../test/helpers/pop3-context.js';
import type { Store } from '../store/types.js';

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
  const store = c.store as Store & { durable?: () => Promise<void> | null };
  const own = store.durable;
  let release = (): void => {};
  let asked = 0;
  store.durable = () => {
    asked++;
    return new Promise<void>((r) => (release = r));
  };
  try {
    let answered = false;
    const reply = cmd(t, 'STAT').then((r) => {
      answered = true;
      return r;
    });
    for (let i = 0; i < 1000 && asked === 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(asked, 1, 'the session asked the store for its read barrier');
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.equal(answered, false, 'no answer while changes are not on disk');
    release();
    assert.match(await reply, /^\+OK 1 /);
  } finally {
    if (own) store.durable = own;
    else delete store.durable;
  }
});
