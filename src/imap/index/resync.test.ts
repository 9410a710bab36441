// A session whose change queue overflowed is resynchronised from the mailbox index, not from a
// listing of the store (server/notify.ts resync, issue 13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useImapContext, message } from '../../../test/helpers/imap-context.js';
import { SelectedView } from '../server/view.js';

const t = useImapContext();

test('resync after an overflow reads the index: the same report, no listing of the store', async () => {
  const saved = SelectedView.maxPending;
  SelectedView.maxPending = 3;
  const list = t.store.listMessages.bind(t.store);
  let listings = 0;
  t.store.listMessages = async (id, opts) => {
    listings++;
    return list(id, opts);
  };
  try {
    const a = await t.connect();
    const b = await t.connect();
    await a.login();
    await b.login();
    (await a.cmd('CREATE Behind')).ok();
    const u1 = await a.append('Behind', message('b1'));
    const u2 = await a.append('Behind', message('b2'));
    (await a.cmd('ENABLE IMAP4rev2')).ok();
    (await a.cmd('SELECT Behind')).ok().has('* 2 EXISTS');
    (await b.cmd('SELECT Behind')).ok();
    (await b.cmd(`UID STORE ${u2} +FLAGS (\\Flagged $Later)`)).ok();
    (await b.cmd(`UID STORE ${u1} +FLAGS.SILENT (\\Deleted)`)).ok();
    (await b.cmd('EXPUNGE')).ok();
    const u3 = await b.append('Behind', message('b3'));
    const u4 = await b.append('Behind', message('b4'));
    listings = 0;
    const r = (await a.cmd('NOOP')).ok();
    r.has('* 1 EXPUNGE').has(`* 1 FETCH (UID ${u2} FLAGS (\\Flagged $Later))`).has('* 3 EXISTS');
    assert.equal(listings, 0, 'the resync listed the store');
    (await a.cmd('UID SEARCH ALL')).ok().has(`ALL ${u2}:${u4}`);
    assert.equal(u3, u2 + 1);
  } finally {
    SelectedView.maxPending = saved;
    t.store.listMessages = list;
  }
});
