// SEARCH MODSEQ (RFC 7162 §3.1.5) and SENTBEFORE/SENTON/SENTSINCE (RFC 9051 §6.4.4: the Date:
// header's date as written in its own zone, time and zone disregarded; no usable Date: → the
// internal date), as transcripts.
import { test } from 'node:test';
import { useImapContext } from '../../../test/helpers/imap-context.js';
import { parseSearchKeys } from '../search.js';
import { checkGrammar } from '../../../test/helpers/imap-context.js';
import type { ArgReader } from '../wire/tokenizer.js';

const t = useImapContext();
const keys = (a: ArgReader) => parseSearchKeys(a, 'UTF-8');

test('SEARCH MODSEQ grammar (RFC 7162 §7 search-modsequence)', () => {
  checkGrammar(keys, [
    ['MODSEQ 5', { op: 'modseq', modseq: 5 }],
    ['MODSEQ 0', { op: 'modseq', modseq: 0 }],
    ['MODSEQ "/flags/\\\\draft" all 620162338', { op: 'modseq', modseq: 620162338 }],
    ['MODSEQ "/flags/$Junk" priv 7', { op: 'modseq', modseq: 7 }],
    ['MODSEQ 9223372036854775807', { op: 'modseq', modseq: Number.MAX_SAFE_INTEGER }],
    ['MODSEQ 9223372036854775808', 'BAD'],
    ['MODSEQ', 'BAD'],
    ['MODSEQ x', 'BAD'],
    ['MODSEQ "/flags/x" bogus 5', 'BAD'],
    ['MODSEQ "/other/x" all 5', 'BAD'],
    ['MODSEQ "/flags/x" all', 'BAD'],
  ]);
});

test('SEARCH MODSEQ: messages changed since n, with the highest MODSEQ of the result', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Ms')).ok();
  const u: number[] = [];
  for (let i = 0; i < 3; i++) u.push(await c.append('Ms', `Subject: m${i}\r\n\r\nx\r\n`));
  const mb = (await t.store.getMailbox(t.accountId, 'Ms'))!;
  (await c.cmd('SELECT Ms')).ok();
  const before = (await t.store.mailboxStatus(mb.id)).highestModSeq;
  (await c.cmd(`UID STORE ${u[1]} +FLAGS.SILENT (\\Flagged)`)).ok();
  const after = before + 1;
  const s = c.transcript();
  s.send(`a SEARCH MODSEQ ${before + 1}`);
  await s.expectTagged('a', [`* SEARCH 2 (MODSEQ ${after})`], 'a OK SEARCH completed');
  s.send(`b UID SEARCH MODSEQ "/flags/\\\\flagged" all ${before + 1}`);
  await s.expectTagged('b', [`* SEARCH ${u[1]} (MODSEQ ${after})`], 'b OK UID SEARCH completed');
  s.send(`c SEARCH RETURN (COUNT) MODSEQ ${after + 1}`);
  await s.expectTagged('c', ['* ESEARCH (TAG "c") COUNT 0'], 'c OK SEARCH completed');
  s.send(`d SEARCH RETURN (ALL) MODSEQ 1`);
  await s.expectTagged('d', [`* ESEARCH (TAG "d") ALL 1:3 MODSEQ ${after}`], 'd OK SEARCH completed');
  // SEARCH MODSEQ turned CONDSTORE on: STORE replies carry MODSEQ now
  s.send(`e STORE 1 +FLAGS (\\Seen)`);
  await s.expectTagged('e', [`* 1 FETCH (UID ${u[0]} FLAGS (\\Seen \\Recent) MODSEQ (${after + 1}))`], 'e OK STORE completed');
});

test('SENTBEFORE/SENTON/SENTSINCE: the date as written in its own zone; no Date: means the internal date', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Sent2')).ok();
  // 2 Feb as written (3 Feb in UTC)
  const west = await c.append('Sent2', 'Subject: west\r\nDate: Mon, 2 Feb 2026 23:30:00 -0800\r\n\r\nx\r\n');
  // 3 Feb as written (2 Feb in UTC)
  const east = await c.append('Sent2', 'Subject: east\r\nDate: Tue, 3 Feb 2026 00:30:00 +0900\r\n\r\nx\r\n');
  // no usable Date: the internal date (5 Mar 2024) counts
  const tag = 'nd';
  c.pipe.send(`${tag} APPEND Sent2 "05-Mar-2024 10:00:00 +0000" {35}\r\nSubject: no date\r\nDate: garbage\r\n\r\n\r\n`);
  const nodate = Number(/APPENDUID \d+ (\d+)/.exec((await c.reply(tag)).ok().tagged)![1]);
  (await c.cmd('SELECT Sent2')).ok();
  const s = c.transcript();
  const ask = async (k: string, want: number[]) => {
    s.send(`s UID SEARCH ${k}`);
    await s.expectTagged('s', [`* SEARCH${want.map((n) => ' ' + n).join('')}`], 's OK UID SEARCH completed');
  };
  await ask('SENTON 2-Feb-2026', [west]);
  await ask('SENTON 3-Feb-2026', [east]);
  await ask('SENTBEFORE 3-Feb-2026', [west, nodate]);
  await ask('SENTSINCE 3-Feb-2026', [east]);
  await ask('SENTON 5-Mar-2024', [nodate]);
  await ask('SENTSINCE 1-Jan-2025', [west, east]);
});
