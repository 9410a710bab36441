// Grammar table for SORT (RFC 5256 §5, RFC 5957, RFC 5267 §3 RETURN, RFC 9394 PARTIAL) and
// THREAD (RFC 5256 §5); transcripts of SORT, UID SORT, ESORT, PARTIAL and THREAD.
import { test } from 'node:test';
import { checkGrammar, useImapContext } from '../../../test/helpers/imap-context.js';
import { parseSort } from './sort.js';
import { parseThread } from './thread.js';

test('SORT arguments: criteria with REVERSE, a required charset, RETURN options', () => {
  checkGrammar(
    parseSort,
    [
      ['(SUBJECT) UTF-8 ALL', { ret: null, criteria: [{ key: 'SUBJECT', reverse: false }] }],
      ['(reverse date from) us-ascii SEEN', { ret: null, criteria: [{ key: 'DATE', reverse: true }, { key: 'FROM', reverse: false }] }],
      ['(ARRIVAL CC SIZE TO DISPLAYFROM REVERSE DISPLAYTO) UTF-8 ALL', { ret: null, criteria: ['ARRIVAL', 'CC', 'SIZE', 'TO', 'DISPLAYFROM', 'DISPLAYTO'].map((key) => ({ key, reverse: key === 'DISPLAYTO' })) }],
      ['RETURN (MIN MAX COUNT) (SIZE) UTF-8 ALL', { ret: ['COUNT', 'MAX', 'MIN'], criteria: [{ key: 'SIZE', reverse: false }] }],
      ['RETURN () (SIZE) UTF-8 ALL', { ret: ['ALL'], criteria: [{ key: 'SIZE', reverse: false }] }],
      ['RETURN (PARTIAL 1:10 COUNT) (SIZE) UTF-8 ALL', { ret: ['COUNT', 'PARTIAL'], criteria: [{ key: 'SIZE', reverse: false }] }],
      ['(SUBJECT) KOI8-R ALL', 'NO'],
      // the charset is required: ALL is taken for one, and refused
      ['(SUBJECT) ALL', 'NO'],
      ['(SUBJECT) UTF-8', 'BAD'],
      ['() UTF-8 ALL', 'BAD'],
      ['(BOGUS) UTF-8 ALL', 'BAD'],
      ['(REVERSE) UTF-8 ALL', 'BAD'],
      ['(REVERSE REVERSE DATE) UTF-8 ALL', 'BAD'],
      ['SUBJECT UTF-8 ALL', 'BAD'],
      ['RETURN (SAVE) (SIZE) UTF-8 ALL', 'BAD'],
      ['RETURN (ALL PARTIAL 1:5) (SIZE) UTF-8 ALL', 'BAD'],
      ['RETURN (PARTIAL) (SIZE) UTF-8 ALL', 'BAD'],
      ['RETURN (PARTIAL 0:5) (SIZE) UTF-8 ALL', 'BAD'],
      ['RETURN (PARTIAL -1:5) (SIZE) UTF-8 ALL', 'BAD'],
      ['RETURN (MIN MIN) (SIZE) UTF-8 ALL', 'BAD'],
    ],
    { map: (p) => ({ ret: p.ret ? [...p.ret.opts].sort() : null, criteria: p.criteria }) },
  );
});

test('THREAD arguments: algorithm, required charset, search keys', () => {
  checkGrammar(
    parseThread,
    [
      ['REFERENCES UTF-8 ALL', { algorithm: 'REFERENCES', key: { op: 'all' } }],
      ['orderedsubject US-ASCII SEEN', { algorithm: 'ORDEREDSUBJECT', key: { op: 'flag', flag: '\\Seen', set: true } }],
      ['REFS UTF-8 ALL', 'BAD'],
      ['REFERENCES ALL', 'NO'],
      ['REFERENCES UTF-8', 'BAD'],
      ['REFERENCES KOI8-R ALL', 'NO'],
      ['', 'BAD'],
    ],
  );
});

// ---- transcripts ----

const t = useImapContext();

function mail(o: { subject: string; from: string; to?: string; cc?: string; date: string; id: string; refs?: string; body?: string }): string {
  return (
    `From: ${o.from}\r\nTo: ${o.to ?? 'alice@a.test'}\r\n` +
    (o.cc ? `Cc: ${o.cc}\r\n` : '') +
    `Subject: ${o.subject}\r\nDate: ${o.date}\r\nMessage-ID: <${o.id}>\r\n` +
    (o.refs ? `References: ${o.refs}\r\n` : '') +
    `\r\n${o.body ?? 'x'}\r\n`
  );
}

async function mailbox(name: string): Promise<Awaited<ReturnType<typeof t.connect>>> {
  const c = await t.connect();
  await c.login();
  (await c.cmd(`CREATE ${name}`)).ok();
  // 1..5: subjects, senders, dates (zones!), sizes and references chosen so every key orders differently
  await c.append(name, mail({ subject: 'Re: Beta', from: 'Zoe <zoe@z.test>', to: 'Carl <carl@c.test>', date: 'Mon, 2 Feb 2026 10:00:00 +0000', id: '2@x', refs: '<1@x>', body: 'x'.repeat(300) }));
  await c.append(name, mail({ subject: '=?UTF-8?Q?=C3=A4lpha?=', from: 'adam@a.test', to: 'bea@b.test', cc: 'yan@y.test', date: 'Mon, 2 Feb 2026 12:00:00 +0300', id: '3@x' }));
  await c.append(name, mail({ subject: 'beta', from: '=?UTF-8?Q?=C3=89mile?= <emile@e.test>', to: 'Al <zed@z.test>', cc: 'bob@b.test', date: 'Sun, 1 Feb 2026 10:00:00 +0000', id: '1@x', body: 'x'.repeat(100) }));
  await c.append(name, mail({ subject: '[list] Fwd: gamma', from: 'Bob <bob@b.test>', to: 'ann@a.test', date: 'not a date', id: '4@x', refs: '<3@x>', body: 'x'.repeat(200) }));
  await c.append(name, mail({ subject: 'Re: Re: beta (fwd)', from: 'carl@c.test', date: 'Mon, 2 Feb 2026 10:30:00 +0000', id: '5@x', refs: '<1@x> <2@x>' }));
  (await c.cmd(`SELECT ${name}`)).ok();
  return c;
}

test('SORT by every key, REVERSE, and the UID form (exact responses)', async () => {
  const c = await mailbox('Sorted');
  const tr = c.transcript();
  const rows: Array<[string, string]> = [
    // base subjects: beta, älpha, beta, gamma, beta; casemap decomposes Ä to A + U+0308: ALPHA < BETA < GAMMA, ties by sequence
    ['SORT (SUBJECT) UTF-8 ALL', '* SORT 2 1 3 5 4'],
    // sent dates (UTC): 1 Feb 10:00 #2 is 09:00 Feb 2; #4 has none: INTERNALDATE (now, latest)
    ['SORT (DATE) UTF-8 ALL', '* SORT 3 2 1 5 4'],
    ['SORT (REVERSE DATE) UTF-8 ALL', '* SORT 4 5 1 2 3'],
    ['SORT (ARRIVAL) UTF-8 ALL', '* SORT 1 2 3 4 5'],
    ['SORT (REVERSE ARRIVAL) UTF-8 ALL', '* SORT 5 4 3 2 1'],
    // addr-mailbox: zoe adam emile bob carl
    ['SORT (FROM) UTF-8 ALL', '* SORT 2 4 5 3 1'],
    // to: carl bea zed ann alice
    ['SORT (TO) UTF-8 ALL', '* SORT 5 4 2 1 3'],
    // cc: none sorts first as ""; yan bob
    ['SORT (CC) UTF-8 ALL', '* SORT 1 4 5 3 2'],
    ['SORT (SIZE) UTF-8 ALL', '* SORT 2 5 3 4 1'],
    // display names: Zoe, adam@a.test, Émile (decoded, É decomposed: E + U+0301), Bob, carl@c.test
    ['SORT (DISPLAYFROM) UTF-8 ALL', '* SORT 2 4 5 3 1'],
    ['SORT (DISPLAYTO) UTF-8 ALL', '* SORT 3 5 4 2 1'],
    ['SORT (SUBJECT REVERSE SIZE) UTF-8 ALL', '* SORT 2 1 3 5 4'],
    ['SORT (SUBJECT) UTF-8 NOT FROM zoe', '* SORT 2 3 5 4'],
    ['UID SORT (SUBJECT) UTF-8 ALL', '* SORT 2 1 3 5 4'],
  ];
  for (const [cmd, want] of rows) {
    tr.send(`s ${cmd}`);
    await tr.expect([want, /^s OK /]);
  }
});

test('ESORT (RFC 5267 §3) and PARTIAL (RFC 9394): results in sort order', async () => {
  const c = await mailbox('Esort');
  const tr = c.transcript();
  tr.send('e1 SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL');
  await tr.expect(['* ESEARCH (TAG "e1") MIN 2 MAX 4 COUNT 5', 'e1 OK SORT completed']);
  tr.send('e2 UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL');
  await tr.expect(['* ESEARCH (TAG "e2") UID ALL 5,4,3,2,1', 'e2 OK UID SORT completed']);
  tr.send('e3 SORT RETURN (ALL) (SUBJECT) UTF-8 ALL');
  await tr.expect(['* ESEARCH (TAG "e3") ALL 2,1,3,5,4', 'e3 OK SORT completed']);
  tr.send('e4 SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL');
  await tr.expect(['* ESEARCH (TAG "e4") PARTIAL (2:3 1,3)', 'e4 OK SORT completed']);
  tr.send('e5 SORT RETURN (PARTIAL -1:-2 COUNT) (SUBJECT) UTF-8 ALL');
  await tr.expect(['* ESEARCH (TAG "e5") COUNT 5 PARTIAL (-1:-2 5,4)', 'e5 OK SORT completed']);
  tr.send('e6 SORT RETURN (PARTIAL 9:20) (SUBJECT) UTF-8 ALL');
  await tr.expect(['* ESEARCH (TAG "e6") PARTIAL (9:20 NIL)', 'e6 OK SORT completed']);
  tr.send('e7 SORT RETURN (MIN) (SUBJECT) UTF-8 SUBJECT nothing');
  await tr.expect(['* ESEARCH (TAG "e7")', 'e7 OK SORT completed']);
  // PARTIAL for SEARCH: positions in the ascending result
  tr.send('e8 UID SEARCH RETURN (PARTIAL 4:2) ALL');
  await tr.expect(['* ESEARCH (TAG "e8") UID PARTIAL (2:4 2:4)', 'e8 OK UID SEARCH completed']);
  tr.send('e9 SEARCH RETURN (PARTIAL -1:-1) ALL');
  await tr.expect(['* ESEARCH (TAG "e9") PARTIAL (-1:-1 5)', 'e9 OK SEARCH completed']);
});

test('THREAD ORDEREDSUBJECT and REFERENCES, UID THREAD (exact responses)', async () => {
  const c = await mailbox('Threads');
  const tr = c.transcript();
  // subjects: älpha {2}, beta {3 (1 Feb), 1, 5}, gamma {4}; threads by first sent date: 3, 2 (09:00 UTC 2 Feb), 4 (now)
  tr.send('h1 THREAD ORDEREDSUBJECT UTF-8 ALL');
  await tr.expect(['* THREAD (3 (1)(5))(2)(4)', 'h1 OK THREAD completed']);
  // 3 <- 1 <- 5 by References; 2 <- 4 by References
  tr.send('h2 THREAD REFERENCES UTF-8 ALL');
  await tr.expect(['* THREAD (3 1 5)(2 4)', 'h2 OK THREAD completed']);
  tr.send('h3 UID THREAD REFERENCES UTF-8 NOT SUBJECT gamma');
  await tr.expect(['* THREAD (3 1 5)(2)', 'h3 OK UID THREAD completed']);
  tr.send('h4 THREAD REFERENCES UTF-8 SUBJECT nothing');
  await tr.expect(['* THREAD', 'h4 OK THREAD completed']);
  tr.send('h5 THREAD REFS UTF-8 ALL');
  await tr.expect([/^h5 BAD /]);
});

test('capabilities: SORT, SORT=DISPLAY, THREAD=..., ESORT, WITHIN', async () => {
  const c = await t.connect();
  (await c.cmd('CAPABILITY')).ok().has(' SORT ').has(' SORT=DISPLAY ').has(' THREAD=ORDEREDSUBJECT ').has(' THREAD=REFERENCES ').has(' ESORT ').has(' WITHIN');
});
