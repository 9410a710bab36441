// The store's read barrier (docs/store.md "Durability"): an IMAP command runs only once what the
// store has committed is on disk, so a client never sees a change that a power cut could take back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useImapContext } from '../../../test/helpers/imap-context.js';
import type { Store } from '../../store/types.js';

const t = useImapContext();

test('a command waits for the store\'s read barrier before it runs, and runs once it opens', async () => {
  const c = await t.connect();
  await c.login();
  const store = t.store as Store & { durable?: () => Promise<void> | null };
  const own = store.durable;
  let release = (): void => {};
  let asked = 0;
  store.durable = () => {
    asked++;
    return new Promise<void>((r) => (release = r));
  };
  try {
    let answered = false;
    const reply = c.cmd('SELECT INBOX').then((r) => {
      answered = true;
      return r;
    });
    for (let i = 0; i < 1000 && asked === 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(asked, 1, 'the session asked the store for its read barrier');
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.equal(answered, false, 'no answer while changes are not on disk');
    release();
    (await reply).ok().has('EXISTS');
  } finally {
    if (own) store.durable = own;
    else delete store.durable;
  }
});
