// Changes made by other sessions, reported per RFC 9051 §7.5.1 (notify.ts, view.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useImapContext, message } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('no EXPUNGE during FETCH/STORE/SEARCH by sequence number; sent on NOOP', async () => {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd('CREATE Seq')).ok();
  await b.append('Seq', message('one'));
  await b.append('Seq', message('two'));
  (await a.cmd('SELECT Seq')).ok().has('* 2 EXISTS');
  (await b.cmd('SELECT Seq')).ok();
  (await b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')).ok();
  (await b.cmd('EXPUNGE')).ok();
  (await a.cmd('FETCH 1:2 FLAGS')).ok().lacks(/\* \d+ EXPUNGE/).has('* 2 FETCH');
  (await a.cmd('SEARCH ALL')).ok().lacks(/\* \d+ EXPUNGE/);
  (await a.cmd('STORE 2 +FLAGS (\\Seen)')).ok().lacks(/\* \d+ EXPUNGE/);
  (await a.cmd('UID FETCH 1:* FLAGS')).ok().has('* 1 EXPUNGE');
  (await a.cmd('FETCH 1 UID')).ok().has('* 1 FETCH');
  (await a.cmd('NOOP')).ok().lacks('EXPUNGE');
});

test('rev1 \\Recent: one session claims new messages', async () => {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd('CREATE Rec')).ok();
  await a.append('Rec', message('r1'));
  (await a.cmd('SELECT Rec')).ok().has('* 1 RECENT');
  (await b.cmd('SELECT Rec')).ok().has('* 0 RECENT');
  (await a.cmd('FETCH 1 FLAGS')).ok().has('\\Recent');
  const c = await t.connect();
  await c.login();
  (await c.cmd('ENABLE IMAP4rev2')).ok().has('* ENABLED IMAP4rev2');
  (await c.cmd('SELECT Rec')).ok().lacks('RECENT').has('* LIST (\\HasNoChildren) "/" Rec');
  (await c.cmd('SEARCH ALL')).ok().has(/\* ESEARCH \(TAG "t\d+"\) ALL 1/);
});

test('two sessions: MOVE and a new delivery seen by the other on NOOP', async () => {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd('CREATE Two')).ok();
  (await a.cmd('CREATE Two/Dest')).ok();
  await a.append('Two', message('m1'));
  await a.append('Two', message('m2'));
  (await a.cmd('SELECT Two')).ok().has('* 2 EXISTS');
  (await b.cmd('SELECT Two')).ok().has('* 2 EXISTS');
  (await b.cmd('MOVE 1 Two/Dest')).ok().has('* 1 EXPUNGE');
  (await a.cmd('NOOP')).ok().has('* 1 EXPUNGE');
  const mb = await t.store.getMailbox(t.accountId, 'Two');
  const staged = await t.store.blobs.stage(Buffer.from(message('delivered')));
  const [res] = await t.store.deliver(staged, [{ accountId: t.accountId, mailbox: 'Two' }]);
  assert.ok(res && res.ok && res.mailboxId === mb!.id);
  (await a.cmd('NOOP')).ok().has('* 2 EXISTS');
  (await b.cmd('UID FETCH 1:* (UID)')).ok().has('* 2 EXISTS');
  (await b.cmd('UID FETCH 1:* (UID)')).ok().has(`UID ${res.uid}`);
  (await a.cmd('STATUS Two/Dest (MESSAGES)')).ok().has('MESSAGES 1');
});

test('a session that falls far behind is resynchronised from the mailbox index', async () => {
  const { SelectedView } = await import('./view.js');
  const saved = SelectedView.maxPending;
  SelectedView.maxPending = 3;
  // the resync reads the index (src/imap/index), never a listing of the store (issue 13)
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
    (await b.cmd(`UID STORE ${u2} +FLAGS (\\Flagged)`)).ok();
    (await b.cmd(`UID STORE ${u1} +FLAGS.SILENT (\\Deleted)`)).ok();
    (await b.cmd('EXPUNGE')).ok();
    const u3 = await b.append('Behind', message('b3'));
    const u4 = await b.append('Behind', message('b4'));
    (await a.cmd('FETCH 1:2 UID')).ok().lacks(/\* \d+ EXPUNGE/);
    listings = 0;
    const r = (await a.cmd('NOOP')).ok();
    r.has('* 1 EXPUNGE').has(`* 1 FETCH (UID ${u2} FLAGS (\\Flagged))`).has('* 3 EXISTS');
    assert.equal(listings, 0, 'the resync listed the store');
    (await a.cmd('UID SEARCH ALL')).ok().has(`ALL ${u2}:${u4}`);
    assert.equal(u3, u2 + 1);
  } finally {
    SelectedView.maxPending = saved;
    t.store.listMessages = list;
  }
});

test('another session\'s earlier flag change never follows this session\'s STORE with older flags or a lower MODSEQ', async () => {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd('CREATE Stale')).ok();
  await b.append('Stale', message('s1'));
  (await a.cmd('SELECT Stale (CONDSTORE)')).ok();
  (await b.cmd('SELECT Stale')).ok();
  // b's change is queued for a; a's STORE comes after it and is answered with the newer state.
  (await b.cmd('STORE 1 +FLAGS (\\Flagged)')).ok();
  const r = (await a.cmd('STORE 1 +FLAGS (kw)')).ok();
  const fetches = r.untagged.filter((l) => /^\* 1 FETCH/.test(l));
  const modseqs = fetches.map((l) => Number(/MODSEQ \((\d+)\)/.exec(l)?.[1]));
  // RFC 7162 §3.1.4: never a lower MODSEQ after a higher one; the last report has both flags.
  assert.deepEqual(modseqs, [...modseqs].sort((x, y) => x - y), fetches.join('\n'));
  assert.match(fetches[fetches.length - 1]!, /\\Flagged/);
  assert.match(fetches[fetches.length - 1]!, /kw/);
  // Without CONDSTORE and with .SILENT: the other session's change is reported, with the flags
  // as they are now (kw included), not as they were before this session's STORE.
  const c = await t.connect();
  await c.login();
  (await c.cmd('SELECT Stale')).ok();
  (await b.cmd('STORE 1 -FLAGS (\\Flagged)')).ok();
  const s = (await c.cmd('STORE 1 +FLAGS.SILENT (other)')).ok();
  const last = s.untagged.filter((l) => /^\* 1 FETCH/.test(l)).pop();
  assert.ok(last, s.text);
  assert.match(last, /other/);
  assert.doesNotMatch(last, /\\Flagged/);
});
