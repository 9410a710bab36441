// CONDSTORE and QRESYNC (RFC 7162) transcripts: HIGHESTMODSEQ, MODSEQ, CHANGEDSINCE,
// UNCHANGEDSINCE with MODIFIED, SELECT (QRESYNC ...) with VANISHED (EARLIER), VANISHED after
// ENABLE QRESYNC, and keywords announced before they are used (RFC 9051 §7.3.5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { message, useImapContext, type ImapTestClient } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

async function box(name: string, n: number): Promise<{ c: ImapTestClient; id: number; uv: number; uids: number[] }> {
  const c = await t.connect();
  await c.login();
  (await c.cmd(`CREATE ${name}`)).ok();
  const uids: number[] = [];
  for (let i = 0; i < n; i++) uids.push(await c.append(name, message(`${name} ${i}`)));
  const mb = (await t.store.getMailbox(t.accountId, name))!;
  return { c, id: mb.id, uv: mb.uidValidity, uids };
}

async function modseqOf(mailboxId: number): Promise<number> {
  return (await t.store.mailboxStatus(mailboxId)).highestModSeq;
}

test('CONDSTORE and QRESYNC are advertised; SELECT, EXAMINE and STATUS say HIGHESTMODSEQ', async () => {
  const { c, id } = await box('Cs1', 2);
  (await c.cmd('CAPABILITY')).ok().has(/^\* CAPABILITY .* CONDSTORE QRESYNC/m);
  const hms = await modseqOf(id);
  const s = c.transcript();
  s.send('s1 STATUS Cs1 (MESSAGES HIGHESTMODSEQ)');
  await s.expectTagged('s1', [`* STATUS Cs1 (MESSAGES 2 HIGHESTMODSEQ ${hms})`], 's1 OK STATUS completed');
  s.send('s2 EXAMINE Cs1');
  await s.expectTagged(
    's2',
    [
      '* 2 EXISTS',
      '* 2 RECENT',
      '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $MDNSent $Junk $NotJunk $Phishing)',
      '* OK [PERMANENTFLAGS ()] Flags permitted',
      '* OK [UNSEEN 1] First unseen',
      /^\* OK \[UIDVALIDITY \d+\] UIDs valid$/,
      /^\* OK \[UIDNEXT 3\] Predicted next UID$/,
      `* OK [HIGHESTMODSEQ ${hms}] Highest`,
      /^\* OK \[MAILBOXID \(M\d+\)\] Ok$/,
    ],
    's2 OK [READ-ONLY] EXAMINE completed',
    true,
  );
});

test('SELECT (CONDSTORE), then FETCH 1:* (FLAGS) (CHANGEDSINCE n): only what changed, with UID and MODSEQ', async () => {
  const { c, id, uids } = await box('Cs2', 3);
  const s = c.transcript();
  s.send('a SELECT Cs2 (CONDSTORE)');
  const hms0 = await modseqOf(id);
  await s.expectTagged('a', [/./, /./, /./, /./, /./, /./, /./, `* OK [HIGHESTMODSEQ ${hms0}] Highest`, /^\* OK \[MAILBOXID /], 'a OK [READ-WRITE] SELECT completed');
  // Another session changes message 2's flags.
  const other = await t.connect();
  await other.login();
  (await other.cmd('SELECT Cs2')).ok();
  (await other.cmd(`UID STORE ${uids[1]} +FLAGS.SILENT (\\Flagged)`)).ok();
  const m2 = await modseqOf(id);
  assert.ok(m2 > hms0);
  // The change is reported unsolicited with UID and MODSEQ (CONDSTORE is on).
  s.send('n NOOP');
  await s.expectTagged('n', [`* 2 FETCH (UID ${uids[1]} FLAGS (\\Flagged \\Recent) MODSEQ (${m2}))`], 'n OK NOOP completed');
  s.send(`f1 FETCH 1:* (FLAGS) (CHANGEDSINCE ${hms0})`);
  await s.expectTagged('f1', [`* 2 FETCH (UID ${uids[1]} FLAGS (\\Flagged \\Recent) MODSEQ (${m2}))`], 'f1 OK FETCH completed');
  s.send(`f2 FETCH 1:* (FLAGS) (CHANGEDSINCE ${m2})`);
  await s.expectTagged('f2', [], 'f2 OK FETCH completed');
  s.send('f3 FETCH 1 MODSEQ');
  const [line] = await s.expectTagged('f3', [/^\* 1 FETCH \(UID \d+ MODSEQ \(\d+\)\)$/], 'f3 OK FETCH completed');
  assert.ok(line!.includes(`UID ${uids[0]} `));
});

test('STORE (UNCHANGEDSINCE n): MODIFIED lists what changed meanwhile; .SILENT still reports MODSEQ', async () => {
  const { c, id, uids } = await box('Cs3', 3);
  (await c.cmd('ENABLE CONDSTORE')).ok().has('* ENABLED CONDSTORE');
  (await c.cmd('SELECT Cs3')).ok();
  const before = await modseqOf(id);
  // Message 3 changes after the client read `before`.
  await t.store.updateFlags(id, [uids[2]!], { mode: 'add', flags: ['\\Answered'] });
  const s = c.transcript();
  s.send(`u1 STORE 1:3 (UNCHANGEDSINCE ${before}) +FLAGS.SILENT (\\Seen)`);
  const after = before + 2;
  await s.expectTagged(
    'u1',
    [`* 1 FETCH (UID ${uids[0]} MODSEQ (${after}))`, `* 2 FETCH (UID ${uids[1]} MODSEQ (${after}))`, `* 3 FETCH (UID ${uids[2]} FLAGS (\\Answered \\Recent) MODSEQ (${before + 1}))`],
    'u1 OK [MODIFIED 3] Some messages were modified meanwhile',
  );
  assert.equal((await t.store.getMessages(id, [uids[2]!]))[0]!.flags.includes('\\Seen'), false);
  s.send(`u2 UID STORE ${uids[0]}:${uids[2]} (UNCHANGEDSINCE ${after}) FLAGS (\\Draft)`);
  await s.expectTagged(
    'u2',
    [`* 1 FETCH (UID ${uids[0]} FLAGS (\\Draft \\Recent) MODSEQ (${after + 1}))`, `* 2 FETCH (UID ${uids[1]} FLAGS (\\Draft \\Recent) MODSEQ (${after + 1}))`, `* 3 FETCH (UID ${uids[2]} FLAGS (\\Draft \\Recent) MODSEQ (${after + 1}))`],
    'u2 OK UID STORE completed',
  );
  // UNCHANGEDSINCE 0 fails for every message (RFC 7162 §3.1.3)
  s.send(`u3 UID STORE ${uids[0]}:${uids[1]} (UNCHANGEDSINCE 0) +FLAGS (\\Seen)`);
  await s.expectTagged('u3', [], `u3 OK [MODIFIED ${uids[0]}:${uids[1]}] Some messages were modified meanwhile`);
});

test('QRESYNC: SELECT (QRESYNC ...) gets VANISHED (EARLIER) and the changed flags; EXPUNGE answers VANISHED with HIGHESTMODSEQ', async () => {
  const { c, id, uv, uids } = await box('Qr1', 5);
  (await c.cmd('SELECT Qr1 (QRESYNC (1 1))')).bad();
  (await c.cmd('ENABLE QRESYNC')).ok().has('* ENABLED QRESYNC');
  (await c.cmd('SELECT Qr1')).ok();
  const known = await modseqOf(id);
  (await c.cmd('UNSELECT')).ok();
  // While the client is away: message 2 and 4 are expunged, message 3 flagged.
  await t.store.expunge(id, [uids[1]!, uids[3]!]);
  await t.store.updateFlags(id, [uids[2]!], { mode: 'add', flags: ['\\Flagged'] });
  const now = await modseqOf(id);
  const s = c.transcript();
  s.send(`q1 SELECT Qr1 (QRESYNC (${uv} ${known} ${uids[0]}:${uids[4]}))`);
  const lines = await s.until(/^q1 /);
  assert.equal(lines.pop(), 'q1 OK [READ-WRITE] SELECT completed');
  assert.ok(lines.includes(`* VANISHED (EARLIER) ${uids[1]},${uids[3]}`), JSON.stringify(lines));
  assert.ok(lines.includes(`* 2 FETCH (UID ${uids[2]} FLAGS (\\Flagged) MODSEQ (${now}))`), JSON.stringify(lines));
  assert.ok(lines.includes(`* OK [HIGHESTMODSEQ ${now}] Highest`));
  assert.ok(lines.indexOf(`* VANISHED (EARLIER) ${uids[1]},${uids[3]}`) < lines.indexOf(`* 2 FETCH (UID ${uids[2]} FLAGS (\\Flagged) MODSEQ (${now}))`));
  // A wrong UIDVALIDITY is a plain SELECT: nothing reported beyond the usual.
  s.send(`q2 SELECT Qr1 (QRESYNC (${uv + 1} ${known}))`);
  const plain = await s.until(/^q2 /);
  assert.ok(!plain.some((l) => l.includes('VANISHED') || l.includes('FETCH')), JSON.stringify(plain));
  // Own EXPUNGE: VANISHED, and the new HIGHESTMODSEQ in the tagged OK.
  s.send(`d UID STORE ${uids[0]} +FLAGS.SILENT (\\Deleted)`);
  await s.expectTagged('d', [/^\* 1 FETCH \(UID \d+ MODSEQ \(\d+\)\)$/], 'd OK UID STORE completed');
  s.send('x EXPUNGE');
  await s.expectTagged('x', [`* VANISHED ${uids[0]}`], `x OK [HIGHESTMODSEQ ${(await modseqOf(id)) + 1}] EXPUNGE completed`);
  // Another session's expunge arrives as VANISHED too.
  const other = await t.connect();
  await other.login();
  (await other.cmd('SELECT Qr1')).ok();
  (await other.cmd(`UID STORE ${uids[4]} +FLAGS.SILENT (\\Deleted)`)).ok();
  (await other.cmd('EXPUNGE')).ok();
  s.send('n NOOP');
  await s.expectTagged('n', [/^\* 2 FETCH \(UID \d+ FLAGS \(\\Deleted\) MODSEQ \(\d+\)\)$/, `* VANISHED ${uids[4]}`], 'n OK NOOP completed', true);
  // UID FETCH ... (CHANGEDSINCE n VANISHED): what vanished in the set since n, then what changed.
  s.send(`v UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${known} VANISHED)`);
  await s.expectTagged('v', [`* VANISHED (EARLIER) ${uids[0]}:${uids[1]},${uids[3]}:${uids[4]}`, `* 1 FETCH (UID ${uids[2]} FLAGS (\\Flagged) MODSEQ (${now}))`], 'v OK UID FETCH completed', true);
  s.send(`v2 FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)`);
  await s.expectTagged('v2', [], /^v2 BAD/);
});

test('keywords: announced with FLAGS and PERMANENTFLAGS before first use, to every session (two sessions)', async () => {
  const { c: a, uids } = await box('Kw1', 2);
  const b = await t.connect();
  await b.login();
  (await a.cmd('ENABLE IMAP4rev2')).ok();
  (await b.cmd('ENABLE IMAP4rev2')).ok();
  (await a.cmd('SELECT Kw1')).ok();
  (await b.cmd('SELECT Kw1')).ok();
  const base = '\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $MDNSent $Junk $NotJunk $Phishing';
  const sa = a.transcript();
  const sb = b.transcript();
  // B's own STORE with a new keyword: announced to B first...
  sb.send(`s1 UID STORE ${uids[0]} +FLAGS (Project)`);
  await sb.expectTagged('s1', [`* FLAGS (${base} Project)`, `* OK [PERMANENTFLAGS (${base} Project \\*)] Flags permitted`, `* 1 FETCH (UID ${uids[0]} FLAGS (Project))`], 's1 OK UID STORE completed', true);
  // ... and to A before A's unsolicited FETCH carries it.
  sa.send('n NOOP');
  await sa.expectTagged('n', [`* FLAGS (${base} Project)`, `* OK [PERMANENTFLAGS (${base} Project \\*)] Flags permitted`, `* 1 FETCH (UID ${uids[0]} FLAGS (Project))`], 'n OK NOOP completed', true);
  // Known now (any case): no second announcement.
  sb.send(`s2 UID STORE ${uids[1]} +FLAGS (project)`);
  await sb.expectTagged('s2', [`* 2 FETCH (UID ${uids[1]} FLAGS (project))`], 's2 OK UID STORE completed', true);
  // A keyword set by a store-level change (no session) reaches A's FETCH announced first.
  await t.store.updateFlags((await t.store.getMailbox(t.accountId, 'Kw1'))!.id, [uids[1]!], { mode: 'add', flags: ['Later'] });
  sa.send('f FETCH 1:* (FLAGS)');
  // RFC 9051 §7.5.1: the unsolicited FETCH for message 2 may come with the answer; FLAGS always before any use
  const got = await sa.until(/^f /);
  const flagsAt = got.findIndex((l) => l.startsWith('* FLAGS ') && l.includes('Later'));
  const firstUse = got.findIndex((l) => l.includes('FETCH') && l.includes('Later'));
  assert.ok(flagsAt >= 0 && firstUse > flagsAt, JSON.stringify(got));
  // A new session sees every keyword in use at SELECT.
  const c3 = await t.connect();
  await c3.login();
  (await c3.cmd('SELECT Kw1')).ok().has(`* FLAGS (${base} Project Later)`);
});
