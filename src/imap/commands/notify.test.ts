// NOTIFY (RFC 5465): the grammar from tables (filters, events, the pairs RFC 5465 §5 requires,
// fetch attributes only for the selected mailbox, BADEVENT), and two-session transcripts: STATUS
// for other mailboxes' new, expunged and flag-changed messages without a command, the selected
// mailbox's EXISTS and FETCH pushed at once (MessageNew's fetch attributes), EXPUNGE held by
// selected-delayed, MailboxName (LIST, OLDNAME, \NonExistent), SubscriptionChange, METADATA
// changes, filters (subtree, mailboxes, subscribed), NOTIFY NONE, and NOTIFICATIONOVERFLOW for
// a client that does not read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGrammar, message, parseOutcome, useImapContext, ImapTestClient } from '../../../test/helpers/imap-context.js';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { Transcript } from '../../../test/helpers/transcript.js';
import { createImapSession } from '../server/session.js';
import { NotifyState, parseNotify, type NotifyArgs } from './notify.js';

const t = useImapContext();

const show = (a: NotifyArgs) =>
  a.set ? { status: a.status, groups: a.groups.map((g) => [g.filter.kind, 'names' in g.filter ? g.filter.names : null, [...g.events].join(' '), g.fetch?.map((f) => f.kind) ?? null]) } : 'NONE';

test('NOTIFY grammar (RFC 5465 §8)', () => {
  checkGrammar(
    parseNotify,
    [
      ['NONE', 'NONE'],
      ['SET (SELECTED (MessageNew MessageExpunge))', { status: false, groups: [['selected', null, 'MessageNew MessageExpunge', null]] }],
      ['set status (selected-delayed (messagenew (uid flags) messageexpunge flagchange)) (personal (MailboxName SubscriptionChange))', { status: true, groups: [['selected-delayed', null, 'MessageNew MessageExpunge FlagChange', ['UID', 'FLAGS']], ['personal', null, 'MailboxName SubscriptionChange', null]] }],
      ['SET (subtree Lists (MessageNew MessageExpunge)) (mailboxes (A "B c") NONE) (inboxes (MailboxMetadataChange ServerMetadataChange))', { status: false, groups: [['subtree', ['Lists'], 'MessageNew MessageExpunge', null], ['mailboxes', ['A', 'B c'], '', null], ['inboxes', null, 'MailboxMetadataChange ServerMetadataChange', null]] }],
      ['SET (subscribed (MessageExpunge MessageNew FlagChange))', { status: false, groups: [['subscribed', null, 'MessageExpunge MessageNew FlagChange', null]] }],
      ['SET', 'BAD'],
      ['SET STATUS', 'BAD'],
      ['FOO', 'BAD'],
      ['NONE extra', 'BAD'],
      ['SET (SELECTED)', 'BAD'],
      ['SET (SELECTED ())', 'BAD'],
      ['SET (elsewhere (MessageNew MessageExpunge))', 'BAD'],
      ['SET (subtree (MessageNew MessageExpunge))', 'BAD'],
      ['SET (SELECTED (MessageNew))', 'BAD'],
      ['SET (SELECTED (MessageExpunge))', 'BAD'],
      ['SET (SELECTED (FlagChange))', 'BAD'],
      ['SET (SELECTED (MessageNew MessageExpunge)) (SELECTED-DELAYED (MessageNew MessageExpunge))', 'BAD'],
      ['SET (personal (MessageNew (UID) MessageExpunge))', 'BAD'],
      ['SET (SELECTED (MessageNew (NOSUCHITEM) MessageExpunge))', 'BAD'],
      // RFC 5465 §5: an event not supported: NO [BADEVENT (the supported ones)]
      ['SET (SELECTED (MessageNew MessageExpunge AnnotationChange))', 'NO'],
      ['SET (personal (SomethingNew))', 'NO'],
    ],
    { map: show },
  );
  const r = parseOutcome(parseNotify, 'SET (personal (SomethingNew))');
  assert.ok('status' in r);
});

async function pair(): Promise<{ a: ImapTestClient; b: ImapTestClient; s: Transcript }> {
  const a = await t.connect();
  await a.login();
  const b = await t.connect();
  await b.login();
  return { a, b, s: a.transcript() };
}

test('NOTIFY SET STATUS: STATUS of other mailboxes now and as they change, without a command', async () => {
  const { a, b, s } = await pair();
  (await a.cmd('CAPABILITY')).ok().has(/ NOTIFY[ \r]/);
  (await b.cmd('CREATE N1/Lists')).ok();
  (await b.cmd('CREATE N1/Other')).ok();
  const v = (await t.store.getMailbox(t.accountId, 'N1/Lists'))!.uidValidity;
  s.send('n1 NOTIFY SET STATUS (subtree N1/Lists (MessageNew MessageExpunge FlagChange))');
  await s.expectTagged('n1', [`* STATUS N1/Lists (MESSAGES 0 UIDNEXT 1 UIDVALIDITY ${v} UNSEEN 0)`], 'n1 OK NOTIFY completed');
  const uid = await b.append('N1/Lists', message('n-1'));
  await s.expect([`* STATUS N1/Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ${v} UNSEEN 1)`]);
  await b.append('N1/Other', message('n-2'));
  (await b.cmd('SELECT N1/Lists')).ok();
  (await b.cmd(`UID STORE ${uid} +FLAGS (\\Seen)`)).ok();
  await s.expect([`* STATUS N1/Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ${v} UNSEEN 0)`]);
  (await b.cmd(`UID STORE ${uid} +FLAGS (\\Deleted)`)).ok();
  (await b.cmd('EXPUNGE')).ok();
  await s.expect([`* STATUS N1/Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ${v} UNSEEN 0)`, `* STATUS N1/Lists (MESSAGES 0 UIDNEXT 2 UIDVALIDITY ${v} UNSEEN 0)`]);
  s.send('n2 NOTIFY NONE');
  await s.expectTagged('n2', [], 'n2 OK NOTIFY completed');
  await b.append('N1/Lists', message('n-3'));
  s.send('n3 NOOP');
  await s.expectTagged('n3', [], 'n3 OK NOOP completed');
});

test('NOTIFY (SELECTED ...): EXISTS and MessageNew fetch attributes pushed at once; EXPUNGE at once, or held by selected-delayed', async () => {
  const { a, b, s } = await pair();
  (await b.cmd('CREATE N2')).ok();
  const u1 = await b.append('N2', message('s-1'));
  (await a.cmd('SELECT N2')).ok();
  s.send('n1 NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange))');
  await s.expectTagged('n1', [], 'n1 OK NOTIFY completed');
  const u2 = await b.append('N2', message('s-2'), '\\Flagged');
  await s.expect(['* 2 EXISTS', '* 2 RECENT', `* 2 FETCH (UID ${u2} FLAGS (\\Flagged \\Recent))`]);
  (await b.cmd('SELECT N2')).ok();
  (await b.cmd(`UID STORE ${u1} +FLAGS (\\Deleted)`)).ok();
  await s.expect([`* 1 FETCH (UID ${u1} FLAGS (\\Deleted \\Recent))`]);
  (await b.cmd('EXPUNGE')).ok();
  await s.expect(['* 1 EXPUNGE']);
  // RFC 5465 §5.1 selected-delayed: EXPUNGE waits for a command that allows it
  s.send('n2 NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge))');
  await s.expectTagged('n2', [], 'n2 OK NOTIFY completed');
  (await b.cmd(`UID STORE ${u2} +FLAGS (\\Deleted)`)).ok();
  (await b.cmd('EXPUNGE')).ok();
  const u3 = await b.append('N2', message('s-3'));
  await s.expect([`* 1 FETCH (UID ${u2} FLAGS (\\Flagged \\Deleted \\Recent))`, '* 2 EXISTS', '* 2 RECENT']);
  // the numbers stay as announced until the EXPUNGE is sent
  s.send('n3 FETCH 2 (UID)');
  await s.expectTagged('n3', [`* 2 FETCH (UID ${u3})`], 'n3 OK FETCH completed');
  s.send('n4 NOOP');
  await s.expectTagged('n4', ['* 1 EXPUNGE'], 'n4 OK NOOP completed');
});

test('MailboxName, SubscriptionChange and METADATA changes (personal; mailboxes filter)', async () => {
  const { a, b, s } = await pair();
  s.send('n1 NOTIFY SET (personal (MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange))');
  await s.expectTagged('n1', [], 'n1 OK NOTIFY completed');
  (await b.cmd('CREATE N3')).ok();
  await s.expect(['* LIST () "/" N3']);
  (await b.cmd('SUBSCRIBE N3')).ok();
  await s.expect(['* LIST (\\Subscribed) "/" N3']);
  (await b.cmd('RENAME N3 N3b')).ok();
  await s.expect(['* LIST (\\Subscribed) "/" N3b ("OLDNAME" (N3))']);
  (await b.cmd('SETMETADATA N3b (/private/comment "x" /shared/comment "y")')).ok();
  await s.expect(['* METADATA N3b /private/comment /shared/comment']);
  (await b.cmd('SETMETADATA "" (/shared/comment "z")')).ok();
  await s.expect(['* METADATA "" /shared/comment']);
  (await b.cmd('UNSUBSCRIBE N3b')).ok();
  await s.expect(['* LIST () "/" N3b']);
  (await b.cmd('DELETE N3b')).ok();
  await s.expect(['* LIST (\\NonExistent) "/" N3b']);
  // only the named mailboxes
  s.send('n2 NOTIFY SET (mailboxes (N4) (MailboxName))');
  await s.expectTagged('n2', [], 'n2 OK NOTIFY completed');
  (await b.cmd('CREATE N5')).ok();
  (await b.cmd('CREATE N4')).ok();
  await s.expect(['* LIST () "/" N4']);
  s.send('n3 NOOP');
  await s.expectTagged('n3', [], 'n3 OK NOOP completed');
});

test('subscribed filter and BADEVENT', async () => {
  const { a, b, s } = await pair();
  (await b.cmd('CREATE N6')).ok();
  (await b.cmd('CREATE N7')).ok();
  (await b.cmd('SUBSCRIBE N7')).ok();
  s.send('n0 NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))');
  await s.expectTagged('n0', [], 'n0 NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] Event not supported');
  s.send('n1 NOTIFY SET (subscribed (MessageNew MessageExpunge))');
  await s.expectTagged('n1', [], 'n1 OK NOTIFY completed');
  await b.append('N6', message('x-1'));
  await b.append('N7', message('x-2'));
  const v = (await t.store.getMailbox(t.accountId, 'N7'))!.uidValidity;
  await s.expect([`* STATUS N7 (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ${v} UNSEEN 1)`]);
  void a;
});

test('NOTIFICATIONOVERFLOW: a client that does not read gets it, and NOTIFY is off', async () => {
  // A transport whose client does not read: writes report a full buffer, drain() waits
  class Stalled extends PipeTransport {
    stalled = false;
    private release: (() => void) | null = null;
    override write(data: string | Uint8Array): boolean {
      return super.write(data) && !this.stalled;
    }
    override drain(): Promise<void> {
      return this.stalled ? new Promise((r) => (this.release = r)) : Promise.resolve();
    }
    unstall(): void {
      this.stalled = false;
      this.release?.();
    }
  }
  const pipe = new Stalled('imap');
  pipe.attach((tr) => createImapSession(t.ctx, tr));
  const a = new ImapTestClient(pipe);
  await pipe.waitFor(/^\* OK .*\r\n/);
  await a.login();
  const b = await t.connect();
  await b.login();
  (await b.cmd('CREATE N8')).ok();
  const saved = NotifyState.maxPending;
  NotifyState.maxPending = 3;
  try {
    const s = a.transcript();
    s.send('n1 NOTIFY SET (personal (MailboxName))');
    await s.expectTagged('n1', [], 'n1 OK NOTIFY completed');
    pipe.stalled = true;
    for (let i = 0; i < 6; i++) (await b.cmd(`CREATE N8/c${i}`)).ok();
    pipe.unstall();
    const lines = await s.until(/NOTIFICATIONOVERFLOW/);
    assert.equal(lines.at(-1), '* OK [NOTIFICATIONOVERFLOW] Too many notifications pending; NOTIFY is off');
    assert.ok(lines.length <= 3, `at most what was sent before the overflow: ${JSON.stringify(lines)}`);
    (await b.cmd('CREATE N8/after')).ok();
    s.send('n2 NOOP');
    await s.expectTagged('n2', [], 'n2 OK NOOP completed');
  } finally {
    NotifyState.maxPending = saved;
  }
});

test('the selected mailbox reports in its own group only (no STATUS for it); NOTIFY NONE stops the pushes', async () => {
  const { a, b, s } = await pair();
  (await b.cmd('CREATE N9')).ok();
  (await b.cmd('CREATE N10')).ok();
  (await a.cmd('SELECT N9')).ok();
  s.send('n1 NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (PERSONAL (MessageNew MessageExpunge))');
  await s.expectTagged('n1', [], 'n1 OK NOTIFY completed');
  await b.append('N9', message('sel-1'));
  await s.expect(['* 1 EXISTS', '* 1 RECENT']);
  await b.append('N10', message('sel-2'));
  const v = (await t.store.getMailbox(t.accountId, 'N10'))!.uidValidity;
  await s.expect([`* STATUS N10 (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ${v} UNSEEN 1)`]);
  s.send('n2 NOTIFY NONE');
  await s.expectTagged('n2', [], 'n2 OK NOTIFY completed');
  await b.append('N9', message('sel-3'));
  await b.append('N10', message('sel-4'));
  // nothing pushed: the new message is reported at the end of the next command, as without NOTIFY
  s.send('n3 NOOP');
  await s.expectTagged('n3', ['* 2 EXISTS', '* 2 RECENT'], 'n3 OK NOOP completed', true);
});
