// Grammar table for SEARCH (RFC 9051 §9 search, search-key, date; RFC 4731 RETURN; RFC 5182 "$"):
// argument text -> the key tree (and RETURN options), BAD, or NO (BADCHARSET); then SEARCHRES transcripts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGrammar, parseArgs, parseOutcome, useImapContext, message } from '../../../test/helpers/imap-context.js';
import { parseSearch, SearchParseError } from './search.js';
import { parseSearchDate } from '../search.js';

const day = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d) / 86_400_000;

test('search keys: flags, headers, dates, sizes, sets, NOT/OR/parentheses', () => {
  checkGrammar(
    parseSearch,
    [
      ['ALL', { op: 'all' }],
      ['seen', { op: 'flag', flag: '\\Seen', set: true }],
      ['UNDELETED', { op: 'flag', flag: '\\Deleted', set: false }],
      ['KEYWORD $Work', { op: 'flag', flag: '$Work', set: true }],
      ['NEW', { op: 'new' }],
      ['SEEN FLAGGED', { op: 'and', keys: [{ op: 'flag', flag: '\\Seen', set: true }, { op: 'flag', flag: '\\Flagged', set: true }] }],
      ['(SEEN)', { op: 'flag', flag: '\\Seen', set: true }],
      ['OR FLAGGED (SEEN DRAFT)', { op: 'or', a: { op: 'flag', flag: '\\Flagged', set: true }, b: { op: 'and', keys: [{ op: 'flag', flag: '\\Seen', set: true }, { op: 'flag', flag: '\\Draft', set: true }] } }],
      ['NOT DELETED', { op: 'not', key: { op: 'flag', flag: '\\Deleted', set: true } }],
      ['SUBJECT "hello world"', { op: 'header', name: 'subject', value: 'hello world' }],
      ['FROM bob', { op: 'header', name: 'from', value: 'bob' }],
      ['HEADER X-Project yubin', { op: 'header', name: 'x-project', value: 'yubin' }],
      ['BODY x', { op: 'body', value: 'x', withHeader: false }],
      ['TEXT x', { op: 'body', value: 'x', withHeader: true }],
      ['SINCE 1-Feb-2026', { op: 'date', sent: false, cmp: 'since', day: day(2026, 2, 1) }],
      ['SENTBEFORE "02-feb-2026"', { op: 'date', sent: true, cmp: 'before', day: day(2026, 2, 2) }],
      ['LARGER 100', { op: 'size', larger: true, n: 100 }],
      ['SMALLER 5000000000', { op: 'size', larger: false, n: 5000000000 }],
      ['UID 1:5', { op: 'uid', set: '1:5' }],
      ['1:3,5', { op: 'seq', set: '1:3,5' }],
      ['$', { op: 'saved' }],
      ['UID $', { op: 'saved' }],
      ['CHARSET UTF-8 ALL', { op: 'all' }],
      ['CHARSET us-ascii SEEN', { op: 'flag', flag: '\\Seen', set: true }],
      ['CHARSET KOI8-R ALL', 'NO'],
      ['', 'BAD'],
      ['BOGUS', 'BAD'],
      ['SINCE 32-Jan-2026', 'BAD'],
      ['SINCE 1-Foo-2026', 'BAD'],
      ['SINCE 2026-01-01', 'BAD'],
      ['LARGER x', 'BAD'],
      ['LARGER', 'BAD'],
      ['OR SEEN', 'BAD'],
      ['NOT', 'BAD'],
      ['()', 'BAD'],
      ['UID x', 'BAD'],
      ['0', 'BAD'],
      ['KEYWORD', 'BAD'],
      ['HEADER X-Project', 'BAD'],
      ['"ALL"', 'BAD'],
      ['NOT '.repeat(60) + 'ALL', 'BAD'],
    ],
    { map: (p) => p.key },
  );
});

test('SEARCH RETURN options (RFC 4731 §3.1): () means ALL; a failed RETURN (SAVE) is marked for emptying "$"', () => {
  checkGrammar(
    parseSearch,
    [
      ['ALL', null],
      ['RETURN (MIN MAX) ALL', ['MAX', 'MIN']],
      ['RETURN () ALL', ['ALL']],
      ['RETURN (save count) SEEN', ['COUNT', 'SAVE']],
      ['RETURN (BOGUS) ALL', 'BAD'],
      ['RETURN ALL', 'BAD'],
      ['RETURN (MIN)', 'BAD'],
    ],
    { map: (p) => (p.ret ? [...p.ret].sort() : null) },
  );
  // RFC 5182 §2.1: the dispatcher empties "$" when a SEARCH ... RETURN (SAVE) fails to parse
  assert.throws(() => parseArgs(parseSearch, 'RETURN (SAVE) BOGUS'), (e: unknown) => e instanceof SearchParseError && e.save);
  assert.throws(() => parseArgs(parseSearch, 'RETURN (MIN) BOGUS'), (e: unknown) => e instanceof SearchParseError === false);
  const ok = parseOutcome(parseSearch, 'RETURN (SAVE) ALL');
  assert.ok('ok' in ok);
});

test('date (RFC 9051 §9): d-Mon-yyyy, one or two digit day, any case month', () => {
  const rows: Array<[string, number | null]> = [
    ['1-Feb-2026', day(2026, 2, 1)],
    ['01-feb-2026', day(2026, 2, 1)],
    ['31-DEC-1999', day(1999, 12, 31)],
    ['32-Jan-2026', null],
    ['0-Jan-2026', null],
    ['1-Febr-2026', null],
    ['1-Feb-26', null],
    ['1 Feb 2026', null],
  ];
  for (const [s, want] of rows) assert.equal(parseSearchDate(s), want, s);
});

// ---- transcripts ----

const t = useImapContext();

test('SEARCHRES: SAVE and $', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Res')).ok();
  await c.append('Res', message('alpha'));
  await c.append('Res', message('beta'));
  (await c.cmd('SELECT Res')).ok();
  (await c.cmd('SEARCH RETURN (SAVE) SUBJECT beta')).ok().lacks('ESEARCH');
  (await c.cmd('FETCH $ (UID)')).ok().has('* 2 FETCH').lacks('* 1 FETCH');
  (await c.cmd('UID SEARCH UID $')).ok().has('* SEARCH 2');
  (await c.cmd('SEARCH CHARSET KOI8-R ALL')).no('BADCHARSET');
});
