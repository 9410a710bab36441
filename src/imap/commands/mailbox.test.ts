// Grammar tables for the mailbox commands (RFC 9051 §9 list, list-mailbox, select, create,
// rename, status; RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 CREATE USE; RFC 9208
// GETQUOTA): argument text -> parsed value, BAD or NO; then mailbox command transcripts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGrammar, useImapContext } from '../../../test/helpers/imap-context.js';
import { MAX_PATTERN_LENGTH } from '../server/names.js';
import { parseCreate, parseList, parseRename, parseSelect, parseStatus, type ListArgs, type SelectArgs } from './mailbox.js';
import { parseQuotaRoot } from './quota.js';
import type { ArgReader } from '../wire/tokenizer.js';
import type { ParseContext } from '../server/conn.js';

const SEL = { subscribed: false, recursive: false, specialUse: false };
const RET = { subscribed: false, children: true, specialUse: true, status: null };
const list = (o: Partial<ListArgs>): ListArgs => ({ sel: SEL, ret: RET, reference: '', patterns: ['*'], ...o });
const lsub = (a: ArgReader, ctx: ParseContext) => parseList(a, ctx, true);
const sel = (o: Partial<SelectArgs>): SelectArgs => ({ name: 'INBOX', condstore: false, qresync: null, ...o });

test('LIST: reference, patterns (wildcards are list-chars), selection and return options', () => {
  checkGrammar(parseList, [
    ['"" *', list({})],
    ['"" %', list({ patterns: ['%'] })],
    ['"" ""', list({ patterns: [''] })],
    ['Archive/ %', list({ reference: 'Archive/', patterns: ['%'] })],
    ['"" (INBOX Sent/%)', list({ patterns: ['INBOX', 'Sent/%'] })],
    ['"" "&APw-*"', list({ patterns: ['ü*'] })],
    ['"" "&"', list({ patterns: [null] })],
    ['"" a[b*', list({ patterns: ['a[b*'] })],
    ['(SUBSCRIBED) "" *', list({ sel: { ...SEL, subscribed: true }, ret: { ...RET, subscribed: true } })],
    ['(SUBSCRIBED RECURSIVEMATCH REMOTE) "" *', list({ sel: { subscribed: true, recursive: true, specialUse: false }, ret: { ...RET, subscribed: true } })],
    ['(SPECIAL-USE) "" *', list({ sel: { ...SEL, specialUse: true } })],
    ['() "" *', list({})],
    ['"" * RETURN (SUBSCRIBED CHILDREN)', list({ ret: { ...RET, subscribed: true } })],
    ['"" * RETURN (STATUS (MESSAGES unseen))', list({ ret: { ...RET, status: ['MESSAGES', 'UNSEEN'] } })],
    ['"" * RETURN ()', list({})],
    ['(RECURSIVEMATCH) "" *', 'BAD'],
    ['(BOGUS) "" *', 'BAD'],
    ['"" * RETURN (BOGUS)', 'BAD'],
    ['"" * FOO (x)', 'BAD'],
    ['"" * RETURN', 'BAD'],
    ['"" * RETURN (STATUS)', 'BAD'],
    ['"" * RETURN (STATUS (BOGUS))', 'BAD'],
    ['""', 'BAD'],
    ['"" (a (b))', 'BAD'],
    [`"" "${'%'.repeat(MAX_PATTERN_LENGTH + 1)}"`, 'BAD'],
    [`"${'r'.repeat(MAX_PATTERN_LENGTH)}" %`, 'BAD'],
  ]);
  checkGrammar(parseList, [['"" "ü*"', list({ patterns: ['ü*'] })]], { ctx: { utf8: true } });
  checkGrammar(lsub, [
    ['"" *', list({})],
    ['"" (a b)', 'BAD'],
    ['(SUBSCRIBED) "" *', 'BAD'],
    ['"" * RETURN (CHILDREN)', 'BAD'],
  ]);
});

test('SELECT/EXAMINE, CREATE (USE), RENAME, STATUS items, GETQUOTA root', () => {
  checkGrammar(parseSelect, [
    ['INBOX', sel({})],
    ['INBOX ()', sel({})],
    ['INBOX (CONDSTORE)', sel({ condstore: true })],
    ['INBOX (condstore)', sel({ condstore: true })],
    // RFC 7162 §7: QRESYNC (uidvalidity mod-sequence-value [known-uids] [seq-match-data])
    ['INBOX (QRESYNC (67890007 20050715194045000))', sel({ qresync: { uidValidity: 67890007, modseq: Number.MAX_SAFE_INTEGER, knownUids: null } })],
    ['INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))', sel({ qresync: { uidValidity: 67890007, modseq: Number.MAX_SAFE_INTEGER, knownUids: '41:211,214:541' } })],
    ['INBOX (QRESYNC (1 2 1:100 (1:3,5 10:12,20)))', sel({ qresync: { uidValidity: 1, modseq: 2, knownUids: '1:100' } })],
    ['INBOX (QRESYNC (1 2 (1:3 10:12)))', sel({ qresync: { uidValidity: 1, modseq: 2, knownUids: null } })],
    ['INBOX (CONDSTORE QRESYNC (1 2))', sel({ condstore: true, qresync: { uidValidity: 1, modseq: 2, knownUids: null } })],
    ['INBOX (QRESYNC (1 9223372036854775807))', sel({ qresync: { uidValidity: 1, modseq: Number.MAX_SAFE_INTEGER, knownUids: null } })],
    ['INBOX (QRESYNC (1 9223372036854775808))', 'BAD'],
    ['INBOX (QRESYNC (0 2))', 'BAD'],
    ['INBOX (QRESYNC (1 0))', 'BAD'],
    ['INBOX (QRESYNC (1))', 'BAD'],
    ['INBOX (QRESYNC)', 'BAD'],
    ['INBOX (QRESYNC (1 2 x))', 'BAD'],
    ['INBOX (QRESYNC (1 2 1:5 (1:3)))', 'BAD'],
    ['INBOX (QRESYNC (1 2 1:5 (1:3 4) 7))', 'BAD'],
    ['INBOX (BOGUS)', 'BAD'],
    ['INBOX x', 'BAD'],
    ['INBOX () ()', 'BAD'],
  ]);
  checkGrammar(parseCreate, [
    ['Projects/2026', { name: 'Projects/2026', specialUse: undefined }],
    ['Sent2 (USE (\\Sent))', { name: 'Sent2', specialUse: '\\Sent' }],
    ['J (USE (\\junk))', { name: 'J', specialUse: '\\Junk' }],
    ['X (USE ())', { name: 'X', specialUse: undefined }],
    ['X (USE (\\Bogus))', 'NO'],
    ['X (USE (\\Sent \\Trash))', 'NO'],
    ['X (FOO)', 'BAD'],
    ['X (USE \\Sent)', 'BAD'],
    ['X Y', 'BAD'],
  ]);
  checkGrammar(parseRename, [
    ['a b', { from: 'a', to: 'b' }],
    ['inbox "Old Mail"', { from: 'INBOX', to: 'Old Mail' }],
    ['a', 'BAD'],
    ['a b c', 'BAD'],
  ]);
  checkGrammar(parseStatus, [
    ['INBOX (MESSAGES UIDNEXT)', { name: 'INBOX', items: ['MESSAGES', 'UIDNEXT'] }],
    ['INBOX (uidvalidity unseen deleted size recent)', { name: 'INBOX', items: ['UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'RECENT'] }],
    ['INBOX ()', 'BAD'],
    ['INBOX (BOGUS)', 'BAD'],
    ['INBOX MESSAGES', 'BAD'],
    ['INBOX', 'BAD'],
  ]);
  checkGrammar(parseQuotaRoot, [
    ['""', ''],
    ['root', 'root'],
    ['', 'BAD'],
    ['a b', 'BAD'],
  ]);
});

// ---- transcripts ----

const t = useImapContext();

test('mailboxes: CREATE, LIST, RENAME, DELETE, SUBSCRIBE, names', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('LIST "" *')).ok().has('* LIST (\\HasNoChildren) "/" INBOX').has('* LIST (\\HasNoChildren \\Sent) "/" Sent');
  (await c.cmd('CREATE Projects/2026/Q1')).ok();
  (await c.cmd('LIST "" Projects/%')).ok().has('* LIST (\\HasChildren) "/" Projects/2026').lacks('Q1');
  (await c.cmd('CREATE Projects')).no('ALREADYEXISTS');
  // RFC 9051 §6.3.5: deleting a parent keeps its name as a \Noselect placeholder while it has children
  (await c.cmd('DELETE Projects')).ok();
  (await c.cmd('LIST "" Projects')).ok().has('* LIST (\\Noselect \\HasChildren) "/" Projects\r\n');
  (await c.cmd('SELECT Projects')).no('NONEXISTENT');
  (await c.cmd('DELETE Projects')).no('HASCHILDREN');
  (await c.cmd('RENAME Projects/2026 Archive2026')).ok();
  (await c.cmd('LIST "" *')).ok().has('"/" Archive2026/Q1').lacks('Projects/2026');
  (await c.cmd('SUBSCRIBE Archive2026')).ok();
  (await c.cmd('LIST (SUBSCRIBED) "" *')).ok().has('(\\HasChildren \\Subscribed) "/" Archive2026');
  (await c.cmd('LSUB "" *')).ok().has('* LSUB (\\HasChildren) "/" Archive2026');
  (await c.cmd('LIST "" * RETURN (STATUS (MESSAGES))')).ok().has('* STATUS INBOX (MESSAGES');
  (await c.cmd('LIST (SPECIAL-USE) "" *')).ok().has('\\Trash').lacks('Archive2026');
  (await c.cmd('CREATE "Entw&APw-rfe"')).ok();
  (await c.cmd('LIST "" Entw*')).ok().has('"/" Entw&APw-rfe\r\n');
  (await c.cmd('ENABLE UTF8=ACCEPT')).ok().has('* ENABLED UTF8=ACCEPT');
  (await c.cmd('LIST "" Entw*')).ok().has('"/" "Entwürfe"');
  (await c.cmd('DELETE inbox')).no('CANNOT');
  (await c.cmd('SELECT inbox')).ok();
  (await c.cmd('DELETE Nope')).no('NONEXISTENT');
  (await c.cmd('LIST "" ""')).ok().has('* LIST (\\Noselect) "/" ""');
  (await c.cmd('NAMESPACE')).ok().has('* NAMESPACE (("" "/")) NIL NIL');
});

test('bad mailbox names are refused and nothing is created', async () => {
  const c = await t.connect();
  await c.login();
  for (const name of ['"a/../b"', '".."', '"a//b"', '"/etc"', '"~root"', '&', '&Jjo', '&AGE-', '&Jjo-&-', '"x*"']) {
    const r = await c.cmd(`CREATE ${name}`);
    assert.ok(/ (NO|BAD) /.test(r.tagged), `${name}: ${r.tagged}`);
  }
  (await c.cmd('CREATE {3}\r\na\x01b', 'lit')).no();
  const all = await t.store.listMailboxes(t.accountId);
  assert.ok(!all.some((m) => /\.\.|^\/|^~|\x01|&|\*/.test(m.name)), all.map((m) => m.name).join(','));
});

test('LIST (SUBSCRIBED RECURSIVEMATCH) reports CHILDINFO for an unsubscribed parent', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Club/Chess')).ok();
  (await c.cmd('SUBSCRIBE Club/Chess')).ok();
  const r = (await c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" Club')).ok();
  r.has('"/" Club ("CHILDINFO" ("SUBSCRIBED"))');
  (await c.cmd('LIST (RECURSIVEMATCH) "" *')).bad();
  (await c.cmd('LIST "" * RETURN (BOGUS)')).bad();
});

test('LSUB shows a parent hidden by "%" as \\Noselect; LIST CHILDINFO in the RFC 5258 form; placeholders go with their children', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Hobby/Music/Jazz')).ok();
  (await c.cmd('SUBSCRIBE Hobby/Music/Jazz')).ok();
  const s = c.transcript();
  // RFC 3501 §6.3.9: the unsubscribed parent of a subscribed mailbox "%" does not reach
  s.send('l1 LSUB "" Hobby/%');
  await s.expectTagged('l1', ['* LSUB (\\Noselect) "/" Hobby/Music'], 'l1 OK LSUB completed', true);
  s.send('l2 LSUB "" Hobby/*');
  await s.expectTagged('l2', ['* LSUB (\\HasNoChildren) "/" Hobby/Music/Jazz'], 'l2 OK LSUB completed', true);
  s.send('l3 LSUB "" Hobby');
  await s.expectTagged('l3', ['* LSUB (\\Noselect) "/" Hobby'], 'l3 OK LSUB completed', true);
  // RFC 5258 §3.5, §4, §5 (examples): mbox-list-extended-item ("CHILDINFO" ("SUBSCRIBED"))
  s.send('l4 LIST (SUBSCRIBED RECURSIVEMATCH) "" Hobby/%');
  await s.expectTagged('l4', ['* LIST (\\HasChildren) "/" Hobby/Music ("CHILDINFO" ("SUBSCRIBED"))'], 'l4 OK LIST completed', true);
  s.send('l5 LIST (SUBSCRIBED) "" Hobby/%');
  await s.expectTagged('l5', [], 'l5 OK LIST completed', true);
  s.send('d1 DELETE Hobby/Music');
  await s.expectTagged('d1', [], 'd1 OK DELETE completed');
  s.send('l6 LIST "" Hobby*');
  await s.expectTagged('l6', ['* LIST (\\HasChildren) "/" Hobby', '* LIST (\\Noselect \\HasChildren) "/" Hobby/Music', '* LIST (\\HasNoChildren) "/" Hobby/Music/Jazz'], 'l6 OK LIST completed', true);
  s.send('d2 DELETE Hobby/Music/Jazz');
  await s.expectTagged('d2', [], 'd2 OK DELETE completed');
  s.send('l7 LIST "" Hobby*');
  await s.expectTagged('l7', ['* LIST (\\HasNoChildren) "/" Hobby'], 'l7 OK LIST completed', true);
});

test('a subscribed mailbox that is deleted stays subscribed: LIST (SUBSCRIBED) \\NonExistent, LSUB \\Noselect, until UNSUBSCRIBE', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Lost/Kid')).ok();
  (await c.cmd('SUBSCRIBE Lost/Kid')).ok();
  (await c.cmd('DELETE Lost/Kid')).ok();
  const s = c.transcript();
  // RFC 9051 §6.3.7 (the subscription is not removed), RFC 5258 §3.1 (\NonExistent), §5 example 5
  s.send('l1 LIST (SUBSCRIBED) "" Lost/*');
  await s.expectTagged('l1', ['* LIST (\\NonExistent \\Subscribed) "/" Lost/Kid'], 'l1 OK LIST completed', true);
  s.send('l2 LSUB "" Lost/*');
  await s.expectTagged('l2', ['* LSUB (\\Noselect) "/" Lost/Kid'], 'l2 OK LSUB completed', true);
  s.send('l3 LIST "" Lost/*');
  await s.expectTagged('l3', [], 'l3 OK LIST completed', true);
  s.send('l4 LIST (SUBSCRIBED RECURSIVEMATCH) "" Lost');
  await s.expectTagged('l4', ['* LIST (\\HasNoChildren) "/" Lost ("CHILDINFO" ("SUBSCRIBED"))'], 'l4 OK LIST completed', true);
  // Created again: an existing, subscribed mailbox.
  (await c.cmd('CREATE Lost/Kid')).ok();
  s.send('l5 LIST (SUBSCRIBED) "" Lost/*');
  await s.expectTagged('l5', ['* LIST (\\HasNoChildren \\Subscribed) "/" Lost/Kid'], 'l5 OK LIST completed', true);
  (await c.cmd('DELETE Lost/Kid')).ok();
  (await c.cmd('UNSUBSCRIBE Lost/Kid')).ok();
  s.send('l6 LIST (SUBSCRIBED) "" Lost/*');
  await s.expectTagged('l6', [], 'l6 OK LIST completed', true);
  s.send('l7 LSUB "" Lost/*');
  await s.expectTagged('l7', [], 'l7 OK LSUB completed', true);
});

test('atoms with "[" (an ATOM-CHAR outside FETCH sections): SELECT and LIST answer, never BAD "Unterminated [" nor a disconnect', async () => {
  const c = await t.connect();
  await c.login();
  const s = c.transcript();
  // The name of issue 12 (imaptest's atom test): "&'" is not valid modified UTF-7, so the name is refused with NO.
  s.send("a1 SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}");
  await s.expectTagged('a1', [], 'a1 NO [CANNOT] Mailbox name is not valid modified UTF-7');
  s.send("a2 LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*");
  await s.expectTagged('a2', [], 'a2 OK LIST completed');
  s.send('a3 SELECT a[b');
  await s.expectTagged('a3', [], 'a3 NO [NONEXISTENT] No such mailbox');
  s.send('a4 CREATE a[b]c');
  await s.expectTagged('a4', [], /^a4 OK \[MAILBOXID \(M\d+\)\] CREATE completed$/);
  s.send('a5 LIST "" a[*');
  await s.expectTagged('a5', ['* LIST (\\HasNoChildren) "/" a[b]c'], 'a5 OK LIST completed');
  s.send('a6 NOOP');
  await s.expectTagged('a6', [], 'a6 OK NOOP completed');
});
