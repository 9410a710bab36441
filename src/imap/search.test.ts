import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createImapTestContext, type ImapTestClient, type ImapTestContext } from '../../test/helpers/imap-context.js';
import { parseSearchDate } from './search.js';

let t: ImapTestContext;
let c: ImapTestClient;
const uids: number[] = [];

function mail(o: { subject: string; from?: string; date?: string; body?: string; headers?: string; ct?: string; cte?: string }): string {
  return (
    `From: ${o.from ?? 'Bob <bob@b.test>'}\r\nTo: alice@a.test\r\nSubject: ${o.subject}\r\nDate: ${o.date ?? 'Mon, 2 Feb 2026 10:00:00 +0000'}\r\n` +
    (o.headers ?? '') +
    (o.ct ? `Content-Type: ${o.ct}\r\n` : '') +
    (o.cte ? `Content-Transfer-Encoding: ${o.cte}\r\n` : '') +
    `\r\n${o.body ?? 'plain body'}\r\n`
  );
}

before(async () => {
  t = await createImapTestContext();
  c = await t.connect();
  await c.login();
  (await c.cmd('CREATE S')).ok();
  // 1: plain; 2: encoded-word subject, flagged; 3: quoted-printable UTF-8 body, old date; 4: big, keyword; 5: base64 body, deleted
  uids.push(await c.append('S', mail({ subject: 'Quarterly report', body: 'numbers inside' })));
  uids.push(await c.append('S', mail({ subject: '=?UTF-8?B?R3LDvMOfZQ==?=', from: 'Carol <carol@c.test>' }), '\\Flagged \\Seen'));
  uids.push(await c.append('S', mail({ subject: 'Old', date: 'Fri, 1 Jan 2021 08:00:00 +0000', ct: 'text/plain; charset=utf-8', cte: 'quoted-printable', body: 'Caf=C3=A9 au lait' })));
  uids.push(await c.append('S', mail({ subject: 'Big', body: 'x'.repeat(5000), headers: 'X-Project: yubin\r\n' }), '$Work'));
  uids.push(await c.append('S', mail({ subject: 'Encoded', cte: 'base64', body: Buffer.from('secret needle text').toString('base64') }), '\\Deleted'));
  (await c.cmd('SELECT S')).ok();
});
after(async () => {
  await t.close();
});

async function search(keys: string): Promise<string> {
  const r = (await c.cmd(`SEARCH ${keys}`)).ok();
  const m = /^\* SEARCH([^\r\n]*)/m.exec(r.text);
  assert.ok(m, r.text);
  return m[1]!.trim();
}

test('search date parsing', () => {
  assert.equal(parseSearchDate('1-Feb-1970'), 31);
  assert.equal(parseSearchDate('01-feb-1970'), 31);
  assert.equal(parseSearchDate('1-Foo-1970'), null);
  assert.equal(parseSearchDate('1970-02-01'), null);
});

test('flag keys', async () => {
  assert.equal(await search('ALL'), '1 2 3 4 5');
  assert.equal(await search('FLAGGED'), '2');
  assert.equal(await search('UNFLAGGED'), '1 3 4 5');
  assert.equal(await search('SEEN'), '2');
  assert.equal(await search('UNSEEN'), '1 3 4 5');
  assert.equal(await search('DELETED'), '5');
  assert.equal(await search('UNDELETED'), '1 2 3 4');
  assert.equal(await search('KEYWORD $Work'), '4');
  assert.equal(await search('UNKEYWORD $Work'), '1 2 3 5');
  assert.equal(await search('ANSWERED'), '');
  assert.equal(await search('UNANSWERED DRAFT'), '');
  assert.equal(await search('RECENT'), '1 2 3 4 5');
  assert.equal(await search('NEW'), '1 3 4 5');
  assert.equal(await search('OLD'), '');
});

test('header, body and text keys (decoded)', async () => {
  assert.equal(await search('SUBJECT quarterly'), '1');
  assert.equal(await search('SUBJECT "grüße"'), '2');
  assert.equal(await search('CHARSET UTF-8 SUBJECT {7}\r\nGrüße'), '2');
  assert.equal(await search('FROM carol'), '2');
  assert.equal(await search('TO alice'), '1 2 3 4 5');
  assert.equal(await search('CC alice'), '');
  assert.equal(await search('HEADER X-Project yubin'), '4');
  assert.equal(await search('HEADER X-Project ""'), '4');
  assert.equal(await search('BODY "café"'), '3');
  assert.equal(await search('BODY needle'), '5');
  assert.equal(await search('BODY quarterly'), '');
  assert.equal(await search('TEXT quarterly'), '1');
});

test('dates and sizes', async () => {
  assert.equal(await search('SENTBEFORE 1-Jan-2022'), '3');
  assert.equal(await search('SENTON 1-Jan-2021'), '3');
  assert.equal(await search('SENTSINCE 1-Jan-2026'), '1 2 4 5');
  const today = new Date();
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][today.getUTCMonth()];
  assert.equal(await search(`ON ${today.getUTCDate()}-${mon}-${today.getUTCFullYear()}`), '1 2 3 4 5');
  assert.equal(await search('BEFORE 1-Jan-2000'), '');
  assert.equal(await search('SINCE 1-Jan-2000'), '1 2 3 4 5');
  assert.equal(await search('LARGER 4000'), '4');
  assert.equal(await search('SMALLER 4000'), '1 2 3 5');
});

test('sets, NOT, OR, nesting', async () => {
  assert.equal(await search('2:3'), '2 3');
  assert.equal(await search('4:*'), '4 5');
  assert.equal(await search(`UID ${uids[0]},${uids[4]}`), '1 5');
  assert.equal(await search('NOT 1:3'), '4 5');
  assert.equal(await search('OR FLAGGED DELETED'), '2 5');
  assert.equal(await search('(OR FLAGGED DELETED) NOT (SEEN)'), '5');
  assert.equal(await search('OR (SUBJECT old) (OR SUBJECT big SUBJECT encoded) UNDELETED'), '3 4');
  (await c.cmd('SEARCH NOT')).bad();
  (await c.cmd('SEARCH FOO')).bad();
  (await c.cmd('SEARCH SINCE 2026-01-01')).bad();
  (await c.cmd('SEARCH ' + 'NOT '.repeat(60) + 'ALL')).bad();
});

test('ESEARCH forms and UID SEARCH', async () => {
  (await c.cmd('SEARCH RETURN () FLAGGED')).ok().has(/\* ESEARCH \(TAG "t\d+"\) ALL 2\r\n/);
  (await c.cmd('UID SEARCH RETURN (COUNT MIN) UNSEEN')).ok().has(new RegExp(`\\* ESEARCH \\(TAG "t\\d+"\\) UID MIN ${uids[0]} COUNT 4`));
  (await c.cmd('SEARCH RETURN (COUNT) SUBJECT nothing-matches')).ok().has(/ESEARCH \(TAG "t\d+"\) COUNT 0\r\n/);
  (await c.cmd('SEARCH RETURN (BOGUS) ALL')).bad();
  (await c.cmd('UID SEARCH 1:*')).ok().has(`* SEARCH ${uids.join(' ')}`);
});
