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
      // RFC 5032 WITHIN: OLDER / YOUNGER nz-number (seconds)
      ['OLDER 3600', { op: 'within', older: true, seconds: 3600 }],
      ['younger 60', { op: 'within', older: false, seconds: 60 }],
      ['OLDER 0', 'BAD'],
      ['YOUNGER -5', 'BAD'],
      ['OLDER', 'BAD'],
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
      // RFC 9394 PARTIAL: n:m or -n:-m (either order), never with ALL
      ['RETURN (PARTIAL 1:100) ALL', ['PARTIAL']],
      ['RETURN (PARTIAL -1:-100 COUNT) ALL', ['COUNT', 'PARTIAL']],
      ['RETURN (PARTIAL 5:1 SAVE) ALL', ['PARTIAL', 'SAVE']],
      ['RETURN (PARTIAL) ALL', 'BAD'],
      ['RETURN (PARTIAL 0:10) ALL', 'BAD'],
      ['RETURN (PARTIAL 1:-10) ALL', 'BAD'],
      ['RETURN (PARTIAL 1) ALL', 'BAD'],
      ['RETURN (PARTIAL 1:10 ALL) ALL', 'BAD'],
      ['RETURN (COUNT COUNT) ALL', 'BAD'],
    ],
    { map: (p) => (p.ret ? [...p.ret].sort() : null) },
  );
  // RFC 5182 §2.1: the dispatcher empties "$" when a SEARCH ... RETURN (SAVE) fails to parse
  assert.throws(() => parseArgs(parseSearch, 'RETURN (SAVE) BOGUS'), (e: unknown) => e instanceof SearchParseError && e.save);
  assert.throws(() => parseArgs(parseSearch, 'RETURN (MIN) BOGUS'), (e: unknown) => e instanceof SearchParseError === false);
  const ok = parseOutcome(parseSearch, 'RETURN (SAVE) ALL');
  assert.ok('ok' in ok);
  assert.deepEqual(parseArgs(parseSearch, 'RETURN (PARTIAL 100:1) ALL').partial, { from: 1, to: 100, last: false });
  assert.deepEqual(parseArgs(parseSearch, 'RETURN (PARTIAL -100:-1) ALL').partial, { from: 1, to: 100, last: true });
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
  // RFC 9394: PARTIAL with SAVE saves the whole result
  (await c.cmd('SEARCH RETURN (PARTIAL 1:1 SAVE) ALL')).ok().has('PARTIAL (1:1 1)');
  (await c.cmd('UID SEARCH UID $')).ok().has('* SEARCH 1 2');
});

test('WITHIN (RFC 5032): OLDER and YOUNGER against INTERNALDATE', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Within')).ok();
  const tag = 'w1';
  // an hour-old internal date (APPEND date-time) and one of now
  c.send(`${tag} APPEND Within "${imapDate(new Date(Date.now() - 3_600_000))}" {${Buffer.byteLength(message('old'))}+}\r\n${message('old')}\r\n`);
  (await c.reply(tag)).ok();
  await c.append('Within', message('new'));
  (await c.cmd('SELECT Within')).ok();
  (await c.cmd('SEARCH YOUNGER 600')).ok().has('* SEARCH 2\r\n');
  (await c.cmd('SEARCH OLDER 600')).ok().has('* SEARCH 1\r\n');
  (await c.cmd('SEARCH OLDER 7200')).ok().has('* SEARCH\r\n');
  (await c.cmd('SEARCH NOT YOUNGER 7200')).ok().has('* SEARCH\r\n');
});

function imapDate(d: Date): string {
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}-${mon}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
