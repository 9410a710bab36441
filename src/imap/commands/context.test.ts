// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): RETURN (UPDATE) contexts, ADDTO/REMOVEFROM
// updates caused by another session, CANCELUPDATE, tag reuse, the NOUPDATE limit. Exact
// two-session transcripts (docs/imap.md "CONTEXT").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGrammar, message, useImapContext } from '../../../test/helpers/imap-context.js';
import { parseCancelUpdate, parseSearch } from './search.js';
import { parseSort } from './sort.js';
import { additionRuns, MAX_CONTEXTS, removalRuns } from '../context.js';

test('RETURN (UPDATE) and (CONTEXT) parse for SEARCH and SORT; CANCELUPDATE takes quoted tags', () => {
  checkGrammar(parseSearch, [
    ['RETURN (UPDATE) ALL', ['UPDATE']],
    ['RETURN (CONTEXT UPDATE COUNT) UNSEEN', ['CONTEXT', 'COUNT', 'UPDATE']],
    ['RETURN (UPDATE UPDATE) ALL', 'BAD'],
    ['RETURN (UPDATES) ALL', 'BAD'],
  ], { map: (p) => [...p.ret!].sort() });
  checkGrammar(parseSort, [
    ['RETURN (UPDATE MIN) (SUBJECT) UTF-8 ALL', ['MIN', 'UPDATE']],
    ['RETURN (CONTEXT) (SUBJECT) UTF-8 ALL', ['CONTEXT']],
  ], { map: (p) => [...p.ret!.opts].sort() });
  checkGrammar(parseCancelUpdate, [
    ['"A01"', ['A01']],
    ['"A01" "b 2"', ['A01', 'b 2']],
    ['', 'BAD'],
    ['A01', 'BAD'],
    ['"A01" (x)', 'BAD'],
  ]);
});

test('context positions: runs removed and inserted in order (RFC 5267 §4.3.3, §4.3.4)', () => {
  assert.deepEqual(removalRuns([5, 6, 7, 8], new Set([6, 7])), [[2, [6, 7]]]);
  assert.deepEqual(removalRuns([5, 6, 7, 8], new Set([5, 7])), [[1, [5]], [2, [7]]]);
  assert.deepEqual(additionRuns([1, 9, 2, 8, 7], new Set([9, 8, 7])), [[2, [9]], [4, [8, 7]]]);
  // RFC 5267 §4.3.3's example: 2734:2735 plus 2731:2733 at position 1
  assert.deepEqual(additionRuns([2731, 2732, 2733, 2734, 2735], new Set([2731, 2732, 2733])), [[1, [2731, 2732, 2733]]]);
});

const t = useImapContext();

async function twoSessions(box: string, subjects: string[]) {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd(`CREATE ${box}`)).ok();
  for (const s of subjects) await b.append(box, message(s));
  (await b.cmd(`SELECT ${box}`)).ok();
  (await a.cmd(`SELECT ${box}`)).ok();
  return { a, b, s: a.transcript() };
}

test('UID SEARCH and SORT contexts follow another session: flags, new mail, expunge; CANCELUPDATE', async () => {
  // UIDs 1 "C", 2 "A", 3 "B" (b selected first: \Recent is b's)
  const { a, b, s } = await twoSessions('Ctx1', ['C', 'A', 'B']);
  s.send('u1 UID SEARCH RETURN (UPDATE ALL) UNSEEN');
  await s.expect(['* ESEARCH (TAG "u1") UID ALL 1:3', 'u1 OK UID SEARCH completed']);
  s.send('s1 SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNSEEN');
  await s.expect(['* ESEARCH (TAG "s1") ALL 2:3,1', 's1 OK SORT completed']);

  // a flag change takes "B" out of both results: REMOVEFROM, SORT at its position
  (await b.cmd('UID STORE 3 +FLAGS (\\Seen)')).ok();
  s.send('n1 NOOP');
  await s.expect([
    '* 3 FETCH (UID 3 FLAGS (\\Seen))',
    '* ESEARCH (TAG "u1") UID REMOVEFROM (0 3)',
    '* ESEARCH (TAG "s1") REMOVEFROM (2 3)',
    'n1 OK NOOP completed',
  ]);

  // new mail "AA": ADDTO after the EXISTS; in the sort order it goes between "A" and "C"
  await b.append('Ctx1', message('AA'));
  s.send('n2 NOOP');
  await s.expect([
    '* 4 EXISTS',
    '* 0 RECENT',
    '* ESEARCH (TAG "u1") UID ADDTO (0 4)',
    '* ESEARCH (TAG "s1") ADDTO (2 4)',
    'n2 OK NOOP completed',
  ]);

  // an expunge: REMOVEFROM before the EXPUNGE, with the sequence number still valid
  (await b.cmd('UID STORE 1 +FLAGS.SILENT (\\Deleted)')).ok();
  (await b.cmd('EXPUNGE')).ok();
  s.send('n3 NOOP');
  await s.expect([
    '* 1 FETCH (UID 1 FLAGS (\\Deleted))',
    '* ESEARCH (TAG "u1") UID REMOVEFROM (0 1)',
    '* ESEARCH (TAG "s1") REMOVEFROM (3 1)',
    '* 1 EXPUNGE',
    'n3 OK NOOP completed',
  ]);

  // RFC 5267 §4.3: a live context's tag cannot be used again with UPDATE; without UPDATE it can
  s.send('u1 SEARCH RETURN (UPDATE) ALL');
  await s.expect(['u1 BAD Tag reuse: u1 names a live search context']);
  s.send('u1 SEARCH RETURN (COUNT) ALL');
  await s.expect(['* ESEARCH (TAG "u1") COUNT 3', 'u1 OK SEARCH completed']);

  // CANCELUPDATE: u1 says no more; s1 goes on ("B" back at position 3, sequence number 2)
  s.send('c1 CANCELUPDATE "u1"');
  await s.expect(['c1 OK No further updates']);
  s.send('c2 CANCELUPDATE "u1"');
  await s.expect(['c2 NO No search context with tag u1']);
  (await b.cmd('UID STORE 3 -FLAGS (\\Seen)')).ok();
  s.send('n4 NOOP');
  await s.expect(['* 2 FETCH (UID 3 FLAGS ())', '* ESEARCH (TAG "s1") ADDTO (3 2)', 'n4 OK NOOP completed']);
  s.expectQuiet();
  await a.cmd('LOGOUT');
  await b.cmd('LOGOUT');
});

test('updates are pushed in IDLE; a new SELECT ends the contexts', async () => {
  const { b, s } = await twoSessions('Ctx2', ['One', 'Two']);
  s.send('f1 SEARCH RETURN (UPDATE) FLAGGED');
  await s.expect(['* ESEARCH (TAG "f1")', 'f1 OK SEARCH completed']);
  s.send('i1 IDLE');
  await s.expect(['+ idling']);
  (await b.cmd('UID STORE 2 +FLAGS (\\Flagged)')).ok();
  await s.expect(['* 2 FETCH (UID 2 FLAGS (\\Flagged))', '* ESEARCH (TAG "f1") ADDTO (0 2)']);
  s.send('DONE');
  await s.expect(['i1 OK IDLE terminated']);
  s.send('x1 SELECT Ctx2');
  await s.until(/^x1 OK/);
  (await b.cmd('UID STORE 1 +FLAGS (\\Flagged)')).ok();
  s.send('n1 NOOP');
  await s.expect(['* 1 FETCH (UID 1 FLAGS (\\Flagged))', 'n1 OK NOOP completed']);
  s.send('c1 CANCELUPDATE "f1"');
  await s.expect(['c1 NO No search context with tag f1']);
});

test(`at most ${MAX_CONTEXTS} live contexts: then NOUPDATE, the result still given (RFC 5267 §4.3.1)`, async () => {
  const { s } = await twoSessions('Ctx3', ['One']);
  for (let i = 0; i < MAX_CONTEXTS; i++) {
    s.send(`k${i} UID SEARCH RETURN (UPDATE COUNT) ALL`);
    await s.expect([`* ESEARCH (TAG "k${i}") UID COUNT 1`, `k${i} OK UID SEARCH completed`]);
  }
  s.send('over UID SORT RETURN (UPDATE COUNT) (ARRIVAL) UTF-8 ALL');
  await s.expect(['* ESEARCH (TAG "over") UID COUNT 1', `* NO [NOUPDATE "over"] Too many search contexts (at most ${MAX_CONTEXTS})`, 'over OK UID SORT completed']);
  // a cancelled one frees its place
  s.send('c CANCELUPDATE "k0" "k1"');
  await s.expect(['c OK No further updates']);
  s.send('again UID SORT RETURN (UPDATE COUNT) (ARRIVAL) UTF-8 ALL');
  await s.expect(['* ESEARCH (TAG "again") UID COUNT 1', 'again OK UID SORT completed']);
});
