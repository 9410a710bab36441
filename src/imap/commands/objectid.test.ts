// OBJECTID (RFC 8474), SAVEDATE (RFC 8514), PREVIEW (RFC 8970): grammar tables for the FETCH
// items, SEARCH keys and STATUS item, the preview text step by step, and exact transcripts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGrammar, message, parseArgs, useImapContext } from '../../../test/helpers/imap-context.js';
import { parseFetch } from './fetch.js';
import { parseSearch } from './search.js';
import { parseStatus } from './mailbox.js';
import { emailObjectId, makePreview, mailboxObjectId, OBJECTID, PREVIEW_MAX } from './objectid.js';
import { parseMessage } from '../../message/parser.js';
import { formatInternalDate } from '../fetch.js';

const t = useImapContext();

test('FETCH items: EMAILID THREADID SAVEDATE PREVIEW [(LAZY)]', () => {
  checkGrammar(parseFetch, [
    ['1 EMAILID', [{ kind: 'EMAILID' }]],
    ['1 (emailid threadid savedate)', [{ kind: 'EMAILID' }, { kind: 'THREADID' }, { kind: 'SAVEDATE' }]],
    ['1 PREVIEW', [{ kind: 'PREVIEW', lazy: false }]],
    ['1 PREVIEW (LAZY)', [{ kind: 'PREVIEW', lazy: true }]],
    ['1 (UID PREVIEW (lazy) FLAGS)', [{ kind: 'UID' }, { kind: 'PREVIEW', lazy: true }, { kind: 'FLAGS' }]],
    ['1 (PREVIEW)', [{ kind: 'PREVIEW', lazy: false }]],
    // RFC 8970 §5: preview-mod = "LAZY"; nothing else, no empty list, not twice
    ['1 (PREVIEW ())', 'BAD'],
    ['1 (PREVIEW (FUZZY))', 'BAD'],
    ['1 (PREVIEW (LAZY LAZY))', 'BAD'],
    // after a lone PREVIEW, a list that is not (LAZY) is the fetch-modifiers
    ['1 PREVIEW (BOGUS 1)', 'BAD'],
    ['1 EMAILID[]', 'BAD'],
  ], { map: (p) => p.items });
  assert.equal(parseArgs(parseFetch, '1 PREVIEW (CHANGEDSINCE 5)').changedSince, 5);
});

test('SEARCH keys: EMAILID THREADID SAVEDBEFORE SAVEDON SAVEDSINCE SAVEDATESUPPORTED', () => {
  checkGrammar(parseSearch, [
    ['EMAILID Eabc-_9', { op: 'objectid', which: 'email', id: 'Eabc-_9' }],
    ['threadid T1', { op: 'objectid', which: 'thread', id: 'T1' }],
    // RFC 8474 §7: objectid = 1*255(ALPHA / DIGIT / "_" / "-")
    ['EMAILID E.1', 'BAD'],
    ['EMAILID "E1"', 'BAD'],
    [`EMAILID ${'x'.repeat(256)}`, 'BAD'],
    ['EMAILID', 'BAD'],
    ['SAVEDBEFORE 1-Feb-2026', { op: 'savedate', cmp: 'before', day: Date.UTC(2026, 1, 1) / 86_400_000 }],
    ['SAVEDON "01-Feb-2026"', { op: 'savedate', cmp: 'on', day: Date.UTC(2026, 1, 1) / 86_400_000 }],
    ['savedsince 1-Feb-2026', { op: 'savedate', cmp: 'since', day: Date.UTC(2026, 1, 1) / 86_400_000 }],
    ['SAVEDSINCE 1-Fob-2026', 'BAD'],
    ['SAVEDATESUPPORTED', { op: 'savedatesupported' }],
  ], { map: (p) => p.key });
  assert.equal(OBJECTID.test('x'.repeat(255)), true);
});

test('STATUS item MAILBOXID', () => {
  checkGrammar(parseStatus, [
    ['INBOX (MAILBOXID)', { name: 'INBOX', items: ['MAILBOXID'] }],
    ['INBOX (messages mailboxid)', { name: 'INBOX', items: ['MESSAGES', 'MAILBOXID'] }],
    ['INBOX (MAILBOXID', 'BAD'],
  ]);
});

async function structureOf(raw: string) {
  return parseMessage(Buffer.from(raw));
}

test('preview: the first text/plain part, else html as text; whitespace made one space; at most 256 characters', async () => {
  const prev = async (raw: string): Promise<string> => {
    const bytes = Buffer.from(raw);
    const st = await structureOf(raw);
    return makePreview(st, async (a, b) => bytes.subarray(a, b));
  };
  assert.equal(await prev('Subject: x\r\n\r\n  Hello\r\n\r\n\tworld  \r\n'), 'Hello world');
  // quoted-printable and a charset decoded
  assert.equal(await prev('Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 =\r\nau lait\r\n'), 'Café au lait');
  // multipart/alternative: the plain part, not the html one
  const alt = 'Subject: x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>HTML</p>\r\n--b\r\nContent-Type: text/plain\r\n\r\nPlain one\r\n--b--\r\n';
  assert.equal(await prev(alt), 'Plain one');
  // html only: tags, scripts and styles gone, entities decoded
  const html = 'Subject: x\r\nContent-Type: text/html\r\n\r\n<html><head><style>p{}</style></head><body><p>Fish &amp; chips</p><script>x()</script><b>&#233;t&eacute;?</b></body></html>\r\n';
  assert.equal(await prev(html), 'Fish & chips ét&eacute;?');
  // an attachment is not the text; no text at all: ""
  const att = 'Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nattached\r\n--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n';
  assert.equal(await prev(att), '');
  // 256 characters (code points: an astral character counts once and is never split)
  const long = await prev(`Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${'😀'.repeat(300)}\r\n`);
  assert.equal(Array.from(long).length, PREVIEW_MAX);
  assert.equal(long, '😀'.repeat(256));
  const words = await prev(`Subject: x\r\n\r\n${'word '.repeat(100)}\r\n`);
  assert.ok(Array.from(words).length <= PREVIEW_MAX && words.startsWith('word word') && !words.endsWith(' '));
});

test('transcript: MAILBOXID in SELECT, EXAMINE, STATUS and CREATE; kept by RENAME; a new one for a new mailbox', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CAPABILITY')).ok().has(/ OBJECTID /).has(/ SAVEDATE /).has(/ PREVIEW[ \r]/);
  const tr = c.transcript();
  tr.send('c1 CREATE Projects');
  const box = (await t.store.getMailbox(t.accountId, 'Projects')) ?? null;
  const lines = await tr.expect([/^c1 OK \[MAILBOXID \(M\d+\)\] CREATE completed$/]);
  const mb = (await t.store.getMailbox(t.accountId, 'Projects'))!;
  assert.ok(box === null || box.id === mb.id);
  const id = mailboxObjectId(mb.uidValidity);
  assert.equal(lines[0], `c1 OK [MAILBOXID (${id})] CREATE completed`);
  tr.send('c2 STATUS Projects (MESSAGES MAILBOXID)');
  await tr.expect([`* STATUS Projects (MESSAGES 0 MAILBOXID (${id}))`, 'c2 OK STATUS completed']);
  tr.send('c3 RENAME Projects Work');
  await tr.expect(['c3 OK RENAME completed']);
  tr.send('c4 EXAMINE Work');
  await tr.expectTagged('c4', ['* 0 EXISTS', /^\* FLAGS /, /^\* OK \[PERMANENTFLAGS /, /^\* OK \[UIDVALIDITY /, /^\* OK \[UIDNEXT /, /^\* OK \[HIGHESTMODSEQ /, `* OK [MAILBOXID (${id})] Ok`, /^\* 0 RECENT$/], /^c4 OK \[READ-ONLY\]/);
  // deleted and created again under the same name: another mailbox, another MAILBOXID
  tr.send('c5 DELETE Work');
  await tr.expect([/^c5 OK/]);
  tr.send('c6 CREATE Work');
  const [again] = await tr.expect([/^c6 OK \[MAILBOXID \(M\d+\)\]/]);
  assert.notEqual(again, `c6 OK [MAILBOXID (${id})] CREATE completed`);
  // INBOX's survives renaming INBOX (RFC 8474 §4.2)
  const inbox = (await t.store.getMailbox(t.accountId, 'INBOX'))!;
  tr.send('c7 RENAME INBOX Old-Inbox');
  await tr.expect(['c7 OK RENAME completed']);
  tr.send('c8 STATUS INBOX (MAILBOXID)');
  await tr.expect([`* STATUS INBOX (MAILBOXID (${mailboxObjectId(inbox.uidValidity)}))`, 'c8 OK STATUS completed']);
  tr.send('c9 STATUS Old-Inbox (MAILBOXID)');
  const [old] = await tr.expect([/^\* STATUS Old-Inbox \(MAILBOXID \(M\d+\)\)$/, 'c9 OK STATUS completed']);
  assert.ok(!old!.includes(`(${mailboxObjectId(inbox.uidValidity)})`));
});

test('transcript: EMAILID kept by COPY and MOVE, THREADID shared by a thread, SEARCH by both', async () => {
  const c = await t.connect();
  await c.login();
  await c.cmd('CREATE Obj');
  await c.cmd('CREATE Obj2');
  await c.append('Obj', message('root', 'First'));
  await c.append('Obj', message('reply', 'Second', 'In-Reply-To: <root@b.test>\r\nReferences: <root@b.test>\r\n'));
  await c.append('Obj', message('other', 'Third'));
  await c.append('Obj', message('deep', 'Fourth', 'In-Reply-To: <reply@b.test>\r\nReferences: <root@b.test> <reply@b.test>\r\n'));
  const box = (await t.store.getMailbox(t.accountId, 'Obj'))!;
  const metas = await t.store.listMessages(box.id);
  const e = metas.map((m) => emailObjectId(m));
  const tr = c.transcript();
  tr.send('o1 SELECT Obj');
  await tr.until(/^o1 OK/);
  tr.send('o2 FETCH 1:4 (EMAILID THREADID)');
  const lines = await tr.expect([
    new RegExp(`^\\* 1 FETCH \\(EMAILID \\(${e[0]}\\) THREADID \\((T[0-9a-f]{24})\\)\\)$`),
    new RegExp(`^\\* 2 FETCH \\(EMAILID \\(${e[1]}\\) THREADID \\((T[0-9a-f]{24})\\)\\)$`),
    new RegExp(`^\\* 3 FETCH \\(EMAILID \\(${e[2]}\\) THREADID \\((T[0-9a-f]{24})\\)\\)$`),
    new RegExp(`^\\* 4 FETCH \\(EMAILID \\(${e[3]}\\) THREADID \\((T[0-9a-f]{24})\\)\\)$`),
    'o2 OK FETCH completed',
  ]);
  const tid = lines.slice(0, 4).map((l) => /THREADID \((T\w+)\)/.exec(l)![1]!);
  assert.equal(tid[0], tid[1]);
  assert.equal(tid[0], tid[3]);
  assert.notEqual(tid[0], tid[2]);
  assert.equal(new Set(e).size, 4);
  tr.send(`o3 SEARCH THREADID ${tid[0]}`);
  await tr.expect(['* SEARCH 1 2 4', 'o3 OK SEARCH completed']);
  tr.send(`o4 UID SEARCH EMAILID ${e[2]}`);
  await tr.expect([`* SEARCH ${metas[2]!.uid}`, 'o4 OK UID SEARCH completed']);
  tr.send('o5 SEARCH EMAILID Enothing');
  await tr.expect(['* SEARCH', 'o5 OK SEARCH completed']);
  // RFC 8474 §5.1: MOVE keeps the EMAILID, and so does COPY here
  tr.send('o6 COPY 1 Obj2');
  await tr.expect([/^o6 OK \[COPYUID /]);
  tr.send('o7 MOVE 3 Obj2');
  await tr.until(/^o7 OK/);
  tr.send('o8 SELECT Obj2');
  await tr.until(/^o8 OK/);
  tr.send('o9 FETCH 1:2 (EMAILID THREADID)');
  await tr.expect([`* 1 FETCH (EMAILID (${e[0]}) THREADID (${tid[0]}))`, `* 2 FETCH (EMAILID (${e[2]}) THREADID (${tid[2]}))`, 'o9 OK FETCH completed']);
});

test('transcript: SAVEDATE of an APPEND and a COPY, SAVED* searches, NIL for a message without one', async () => {
  const c = await t.connect();
  await c.login();
  await c.cmd('CREATE Saved');
  await c.cmd('CREATE Saved2');
  // the internal date is old; the save date is now
  (await c.cmd(`APPEND Saved "01-Jan-2001 00:00:00 +0000" {${Buffer.byteLength(message('s1'))}+}\r\n${message('s1')}`)).ok();
  const box = (await t.store.getMailbox(t.accountId, 'Saved'))!;
  const [meta] = await t.store.listMessages(box.id);
  const saved = meta!.savedDate!;
  assert.ok(Date.now() - saved.getTime() < 60_000);
  const tr = c.transcript();
  tr.send('s1 SELECT Saved');
  await tr.until(/^s1 OK/);
  tr.send('s2 FETCH 1 (SAVEDATE INTERNALDATE)');
  await tr.expect([`* 1 FETCH (SAVEDATE ${formatInternalDate(saved)} INTERNALDATE "01-Jan-2001 00:00:00 +0000")`, 's2 OK FETCH completed']);
  const day = (d: Date): string => `${d.getUTCDate()}-${['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]}-${d.getUTCFullYear()}`;
  const today = day(saved);
  const tomorrow = day(new Date(saved.getTime() + 86_400_000));
  tr.send(`s3 SEARCH SAVEDON ${today}`);
  await tr.expect(['* SEARCH 1', 's3 OK SEARCH completed']);
  tr.send(`s4 SEARCH SAVEDBEFORE ${today}`);
  await tr.expect(['* SEARCH', 's4 OK SEARCH completed']);
  tr.send(`s5 SEARCH SAVEDBEFORE ${tomorrow} SAVEDSINCE ${today} ON 1-Jan-2001`);
  await tr.expect(['* SEARCH 1', 's5 OK SEARCH completed']);
  tr.send('s6 SEARCH SAVEDATESUPPORTED');
  await tr.expect(['* SEARCH 1', 's6 OK SEARCH completed']);
  tr.send('s7 COPY 1 Saved2');
  await tr.until(/^s7 OK/);
  const box2 = (await t.store.getMailbox(t.accountId, 'Saved2'))!;
  const [copy] = await t.store.listMessages(box2.id);
  assert.ok(copy!.savedDate!.getTime() >= saved.getTime());
  tr.send('s8 EXAMINE Saved2');
  await tr.until(/^s8 OK/);
  tr.send('s9 FETCH 1 SAVEDATE');
  await tr.expect([`* 1 FETCH (SAVEDATE ${formatInternalDate(copy!.savedDate!)})`, 's9 OK FETCH completed']);
  // RFC 8514 §5: NIL when the save date is not known (a message stored before save dates were kept)
  const db = (t.store as unknown as { db: { prepare(s: string): { run(...a: unknown[]): unknown } } }).db;
  db.prepare('UPDATE messages SET saved_at = NULL WHERE mailbox_id = ?').run(box2.id);
  tr.send('s10 FETCH 1 SAVEDATE');
  await tr.expect(['* 1 FETCH (SAVEDATE NIL)', 's10 OK FETCH completed']);
});

test('transcript: PREVIEW made once and kept, (LAZY) answers NIL until then, a copy shares it', async () => {
  const c = await t.connect();
  await c.login();
  await c.cmd('CREATE Prev');
  await c.append('Prev', message('p1', 'Hi Alice,\r\n\r\n  see   you\r\nat noon.'));
  await c.append('Prev', message('p2', 'Second message'));
  const box = (await t.store.getMailbox(t.accountId, 'Prev'))!;
  const metas = await t.store.listMessages(box.id);
  const tr = c.transcript();
  tr.send('p1 SELECT Prev');
  await tr.until(/^p1 OK/);
  // RFC 8970 §3.2: LAZY: NIL while no preview is at hand
  tr.send('p2 FETCH 1:2 (PREVIEW (LAZY))');
  await tr.expect(['* 1 FETCH (PREVIEW NIL)', '* 2 FETCH (PREVIEW NIL)', 'p2 OK FETCH completed']);
  tr.send('p3 FETCH 1 PREVIEW');
  await tr.expect(['* 1 FETCH (PREVIEW "Hi Alice, see you at noon.")', 'p3 OK FETCH completed']);
  assert.deepEqual([...(await t.store.getPreviews(metas.map((m) => m.blobId)))], [[metas[0]!.blobId, 'Hi Alice, see you at noon.']]);
  // kept: a later FETCH reads the kept one (changed here behind the server's back to prove it is not made again)
  const db = (t.store as unknown as { db: { prepare(s: string): { run(...a: unknown[]): unknown } } }).db;
  db.prepare('UPDATE blobs SET preview = ? WHERE id = ?').run('kept one', metas[0]!.blobId);
  tr.send('p4 FETCH 1:2 (UID PREVIEW (LAZY))');
  await tr.expect([`* 1 FETCH (UID ${metas[0]!.uid} PREVIEW "kept one")`, `* 2 FETCH (UID ${metas[1]!.uid} PREVIEW NIL)`, 'p4 OK FETCH completed']);
  tr.send('p5 COPY 1 INBOX');
  await tr.until(/^p5 OK/);
  const inbox = (await t.store.getMailbox(t.accountId, 'INBOX'))!;
  const copies = await t.store.listMessages(inbox.id);
  assert.equal((await t.store.getPreviews([copies.at(-1)!.blobId])).get(copies.at(-1)!.blobId), 'kept one');
});

test('transcript: a non-ASCII PREVIEW is a literal for IMAP4rev1, a quoted string after ENABLE UTF8=ACCEPT', async () => {
  const c = await t.connect();
  await c.login();
  await c.cmd('CREATE Utf');
  const raw = Buffer.from(message('u1', 'Grüße aus Köln', 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n'));
  c.send(Buffer.concat([Buffer.from(`u0 APPEND Utf {${raw.length}+}\r\n`), raw, Buffer.from('\r\n')]));
  (await c.reply('u0')).ok();
  await c.cmd('SELECT Utf');
  (await c.cmd('FETCH 1 PREVIEW')).ok().has(`* 1 FETCH (PREVIEW {${Buffer.byteLength('Grüße aus Köln')}}\r\nGrüße aus Köln)`);
  const d = await t.connect();
  await d.login();
  (await d.cmd('ENABLE UTF8=ACCEPT')).ok();
  await d.cmd('SELECT Utf');
  (await d.cmd('FETCH 1 PREVIEW')).ok().has('* 1 FETCH (PREVIEW "Grüße aus Köln")');
});
