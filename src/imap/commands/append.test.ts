// APPEND (RFC 9051 §6.3.12): APPENDLIMIT (RFC 7889), flags, INTERNALDATE, literals; MULTIAPPEND
// (RFC 3502), CATENATE (RFC 4469), REPLACE (RFC 8508).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { useImapContext, createImapTestContext, message, type ImapTestClient } from '../../../test/helpers/imap-context.js';
import { ArgReader, ImapParseError, tokenizeArgs } from '../wire/tokenizer.js';
import type { CommandPart } from '../wire/framer.js';
import type { ParseContext } from '../server/conn.js';
import {
  appendLiteralRole,
  appendSizeRefusal,
  parseAppend,
  parseCatenateUrl,
  parseReplace,
  MAX_APPEND_MESSAGES,
  MAX_APPEND_TOTAL,
  MAX_CATENATE_PARTS,
  type AppendMessage,
  type AppendSource,
} from './append.js';

const t = useImapContext();

test('APPENDLIMIT: NO [TOOBIG] before "+", {N+} over the limit closes', async () => {
  const small = await createImapTestContext({ config: { imap: { append_limit: 1000 } } });
  try {
    const c = await small.connect();
    await c.login();
    c.send('a1 APPEND INBOX {5000}\r\n');
    const r = await c.reply('a1');
    r.no('TOOBIG').lacks('+ ');
    (await c.cmd('NOOP')).ok();
    c.send('a2 APPEND INBOX {5000+}\r\n' + 'x'.repeat(100));
    await c.pipe.waitClosed();
    assert.match(c.pipe.take(), /a2 NO \[TOOBIG\][\s\S]*\* BYE/);
  } finally {
    await small.close();
  }
});

test('APPEND with flags and INTERNALDATE; TRYCREATE; empty message refused', async () => {
  const c = await t.connect();
  await c.login();
  c.send('d1 APPEND Drafts (\\Draft $Label) "05-Mar-2024 14:15:16 +0200" {' + message('dated').length + '+}\r\n' + message('dated') + '\r\n');
  (await c.reply('d1')).ok().has(/\[APPENDUID \d+ \d+\]/);
  (await c.cmd('EXAMINE Drafts')).ok();
  (await c.cmd('FETCH * (FLAGS INTERNALDATE)')).ok().has('FLAGS (\\Draft $Label').has('INTERNALDATE "05-Mar-2024 12:15:16 +0000"');
  c.send('d2 APPEND NoSuchBox {5+}\r\nhello\r\n');
  (await c.reply('d2')).no('TRYCREATE');
  c.send('d4 APPEND {6+}\r\nDrafts (\\Seen) {5+}\r\nhello\r\n');
  (await c.reply('d4')).ok().has('APPENDUID');
  c.send('d3 APPEND Drafts {0+}\r\n\r\n');
  (await c.reply('d3')).no();
  (await c.cmd('APPEND Drafts "bad date" {1+}\r\nx')).bad();
});

// ---- MULTIAPPEND (RFC 3502), CATENATE (RFC 4469), REPLACE (RFC 8508) ----

/** A logged-in IMAP4rev2 client (no \Recent in the responses). */
async function rev2Client(): Promise<ImapTestClient> {
  const c = await t.connect();
  await c.login();
  (await c.cmd('ENABLE IMAP4rev2')).ok();
  return c;
}

/** Runs a parse step on argument pieces: text as on the wire, `{ lit }` as a literal between them. */
function parsePieces<P>(fn: (a: ArgReader, c: ParseContext) => P, pieces: Array<string | { lit: string }>, ctx: Partial<ParseContext> = {}): P | 'BAD' {
  const parts: CommandPart[] = pieces.map((p) => (typeof p === 'string' ? { kind: 'text', bytes: Buffer.from(p) } : { kind: 'literal', bytes: Buffer.from(p.lit), binary: false }));
  try {
    return fn(new ArgReader(tokenizeArgs(parts, 'T'), 'T'), { utf8: false, uid: false, ...ctx });
  } catch (e) {
    if (e instanceof ImapParseError) return 'BAD';
    throw e;
  }
}

/** What a parsed message looks like, for the tables. */
function shape(m: AppendMessage): unknown {
  const src = (s: AppendSource): string => (s.kind === 'bytes' ? s.bytes.toString() : 'stream');
  return {
    flags: m.flags,
    date: m.date?.toISOString() ?? null,
    data: m.data.kind === 'literal' ? src(m.data.source) : m.data.parts.map((p) => (p.kind === 'url' ? `URL ${p.url}` : `TEXT ${src(p.source)}`)),
  };
}

test('grammar: APPEND with several messages and CATENATE (RFC 3502 §6.3.11, RFC 4469 §5)', () => {
  const rows: Array<[Array<string | { lit: string }>, unknown]> = [
    [[' INBOX ', { lit: 'one' }, ''], [{ flags: [], date: null, data: 'one' }]],
    [[' INBOX (\\Seen) ', { lit: 'one' }, ' "05-Mar-2024 14:15:16 +0200" ', { lit: 'two' }, ' ', { lit: 'three' }, ''], [
      { flags: ['\\Seen'], date: null, data: 'one' },
      { flags: [], date: '2024-03-05T12:15:16.000Z', data: 'two' },
      { flags: [], date: null, data: 'three' },
    ]],
    [[' INBOX CATENATE (URL "/INBOX;UIDVALIDITY=1/;UID=2" TEXT ', { lit: 'hi' }, ' URL /Drafts/;UID=3)'], [{ flags: [], date: null, data: ['URL /INBOX;UIDVALIDITY=1/;UID=2', 'TEXT hi', 'URL /Drafts/;UID=3'] }]],
    [[' INBOX (\\Draft) CATENATE (TEXT ', { lit: 'a' }, ') ', { lit: 'b' }, ''], [
      { flags: ['\\Draft'], date: null, data: ['TEXT a'] },
      { flags: [], date: null, data: 'b' },
    ]],
    [[' INBOX'], 'BAD'],
    [[' INBOX ', { lit: 'one' }, ' extra'], 'BAD'],
    [[' INBOX ', { lit: 'one' }, ' (\\Seen)'], 'BAD'],
    [[' INBOX CATENATE ()'], 'BAD'],
    [[' INBOX CATENATE (TEXT "quoted")'], 'BAD'],
    [[' INBOX CATENATE (URL)'], 'BAD'],
    [[' INBOX CATENATE (BODY "x")'], 'BAD'],
    [[' INBOX CATENATE (URL (x))'], 'BAD'],
    [[' INBOX CATENATE TEXT'], 'BAD'],
    [[` INBOX CATENATE (${'URL /x/;UID=1 '.repeat(MAX_CATENATE_PARTS + 1)})`], 'BAD'],
  ];
  for (const [pieces, want] of rows) {
    const got = parsePieces(parseAppend, pieces);
    assert.deepEqual(got === 'BAD' ? got : got.messages.map(shape), want, JSON.stringify(pieces));
  }
});

test('grammar: REPLACE and UID REPLACE (RFC 8508 §6)', () => {
  const ok = parsePieces(parseReplace, [' 4 Drafts (\\Seen) ', { lit: 'new' }, '']);
  assert.notEqual(ok, 'BAD');
  assert.deepEqual(ok !== 'BAD' && { target: ok.target, mailbox: ok.mailbox, m: shape(ok.message) }, { target: '4', mailbox: 'Drafts', m: { flags: ['\\Seen'], date: null, data: 'new' } });
  assert.notEqual(parsePieces(parseReplace, [' * INBOX CATENATE (TEXT ', { lit: 'x' }, ')']), 'BAD');
  for (const pieces of [[' 1:2 INBOX ', { lit: 'x' }, ''], [' 0 INBOX ', { lit: 'x' }, ''], [' $ INBOX ', { lit: 'x' }, ''], [' 1 INBOX ', { lit: 'x' }, ' ', { lit: 'y' }, ''], [' 1 INBOX']] as Array<Array<string | { lit: string }>>) {
    assert.equal(parsePieces(parseReplace, pieces), 'BAD', JSON.stringify(pieces));
  }
  assert.equal(parsePieces(parseReplace, [' * INBOX ', { lit: 'x' }, ''], { uid: true }), 'BAD');
});

test('which APPEND/REPLACE literals are message data (streamed) and which are arguments', () => {
  const t = (s: string): CommandPart => ({ kind: 'text', bytes: Buffer.from(s) });
  const stream: CommandPart = { kind: 'stream', size: 5, binary: false, handle: null };
  const rows: Array<[CommandPart[], string | null]> = [
    [[t('a APPEND ')], 'argument'],
    [[t('a APPEND INBOX ')], 'message'],
    [[t('a APPEND INBOX (\\Seen) ')], 'message'],
    [[t('a append INBOX'), stream, t(' ')], 'message'],
    [[t('a APPEND INBOX CATENATE (TEXT ')], 'message'],
    [[t('a APPEND INBOX CATENATE (URL ')], 'argument'],
    [[t('a APPEND INBOX CATENATE (TEXT'), stream, t(' URL ')], 'argument'],
    [[t('a REPLACE 3 ')], 'argument'],
    [[t('a UID REPLACE 3 INBOX ')], 'message'],
    [[t('a LOGIN ')], null],
    [[t('a APPENDX INBOX ')], null],
  ];
  for (const [parts, want] of rows) assert.equal(appendLiteralRole(parts), want, parts.map((p) => (p.kind === 'text' ? p.bytes.toString() : '<lit>')).join(''));
  assert.match(appendSizeRefusal({ size: 11, parts: [] }, 10)!, /APPENDLIMIT 10/);
  assert.equal(appendSizeRefusal({ size: 10, parts: [stream] }, 10), null);
  assert.match(appendSizeRefusal({ size: 10, parts: Array(MAX_APPEND_MESSAGES).fill(stream) }, 10)!, /At most/);
  assert.match(appendSizeRefusal({ size: MAX_APPEND_TOTAL, parts: [stream] }, MAX_APPEND_TOTAL)!, /At most/);
});

test('CATENATE URLs: this account on this server only (RFC 4469 §5, RFC 5092 §6)', () => {
  const p = (u: string): unknown => parseCatenateUrl(u, 'alice@a.test', 'mail.a.test');
  assert.deepEqual(p('/INBOX;UIDVALIDITY=7/;UID=20/;SECTION=1.MIME/;PARTIAL=5.10'), { mailbox: 'INBOX', uidValidity: 7, uid: 20, section: '1.MIME', partial: { start: 5, length: 10 } });
  assert.deepEqual(p('/a%20b/c/;UID=1'), { mailbox: 'a b/c', uidValidity: null, uid: 1, section: null, partial: null });
  assert.deepEqual(p('imap://alice%40a.test@MAIL.a.test:143/Drafts/;UID=3/;PARTIAL=0'), { mailbox: 'Drafts', uidValidity: null, uid: 3, section: null, partial: { start: 0, length: null } });
  for (const bad of [
    'imap://bob%40a.test@mail.a.test/INBOX/;UID=1',
    'imap://alice%40a.test@other.test/INBOX/;UID=1',
    'imap://mail.a.test/INBOX/;UID=1',
    '/INBOX/;UID=1;URLAUTH=anonymous:internal:91354a473744909de610943775f92038',
    '/INBOX?SUBJECT%20x',
    '/INBOX/;UID=0',
    '/INBOX',
    ';UID=1',
    '/%E0%A4%A/;UID=1',
  ]) {
    assert.equal(p(bad), null, bad);
  }
});

test('MULTIAPPEND: several messages, one APPENDUID with a uid-set; synchronising literals', async () => {
  const c = await rev2Client();
  (await c.cmd('CAPABILITY')).has(/ MULTIAPPEND /).has(/ CATENATE /).has(/ REPLACE /);
  const m1 = message('multi one');
  const m2 = message('multi two');
  const m3 = message('multi three');
  const before = await t.store.getMailbox(t.accountId, 'Archive');
  c.send(`m1 APPEND Archive (\\Seen) {${m1.length}+}\r\n${m1} (\\Flagged) "05-Mar-2024 14:15:16 +0200" {${m2.length}+}\r\n${m2} {${m3.length}+}\r\n${m3}\r\n`);
  (await c.reply('m1')).ok().has(`[APPENDUID ${before!.uidValidity} ${before!.uidNext}:${before!.uidNext + 2}]`);
  (await c.cmd('EXAMINE Archive')).ok().has('* 3 EXISTS');
  (await c.cmd('FETCH 1:3 (FLAGS INTERNALDATE BODY[HEADER.FIELDS (SUBJECT)])')).ok()
    .has(/\* 1 FETCH \(FLAGS \(\\Seen\)[\s\S]*?Subject: multi one/)
    .has(/\* 2 FETCH \(FLAGS \(\\Flagged\) INTERNALDATE "05-Mar-2024 12:15:16 \+0000"[\s\S]*?Subject: multi two/)
    .has(/\* 3 FETCH \(FLAGS \(\)[\s\S]*?Subject: multi three/);
  // Synchronising literals: a "+" for each message.
  const s = c.transcript();
  s.send(`m2 APPEND Archive {${m1.length}}`);
  await s.expect(['+ Ready for literal data']);
  s.sendRaw(`${m1} {${m2.length}}\r\n`);
  await s.expect(['+ Ready for literal data']);
  s.sendRaw(`${m2}\r\n`);
  await s.expectTagged('m2', ['* 5 EXISTS'], new RegExp(`^m2 OK \\[APPENDUID ${before!.uidValidity} ${before!.uidNext + 3}:${before!.uidNext + 4}\\] APPEND completed$`));
});

test('MULTIAPPEND is atomic: over quota, an empty message or a bad one and nothing is appended', async () => {
  const q = await createImapTestContext({ quota: 3000 });
  try {
    const c = await q.connect();
    await c.login();
    const small = message('fits', 'x'.repeat(500));
    const big = message('does not fit', 'y'.repeat(2500));
    c.send(`q1 APPEND INBOX {${small.length}+}\r\n${small} {${big.length}+}\r\n${big}\r\n`);
    (await c.reply('q1')).no('OVERQUOTA');
    (await c.cmd('STATUS INBOX (MESSAGES)')).ok().has('(MESSAGES 0)');
    c.send(`q2 APPEND INBOX {${small.length}+}\r\n${small} {0+}\r\n\r\n`);
    (await c.reply('q2')).no('CANNOT');
    c.send(`q3 APPEND INBOX {${small.length}+}\r\n${small} (\\Bogus) {${small.length}+}\r\n${small}\r\n`);
    (await c.reply('q3')).bad();
    (await c.cmd('STATUS INBOX (MESSAGES)')).ok().has('(MESSAGES 0)');
    c.send(`q4 APPEND INBOX {${small.length}+}\r\n${small} {${small.length}+}\r\n${small}\r\n`);
    (await c.reply('q4')).ok().has(/APPENDUID \d+ 1:2\]/);
  } finally {
    await q.close();
  }
});

test('CATENATE: TEXT and URL parts (whole message, section, partial) joined into one message', async () => {
  const c = await rev2Client();
  const src = message('catenate source', 'The body line\r\nsecond line');
  const uid = await c.append('INBOX', src);
  const inbox = (await t.store.getMailbox(t.accountId, 'INBOX'))!;
  const head = 'Subject: joined\r\n\r\n';
  const tail = '\r\n-- end\r\n';
  c.send(
    `k1 APPEND Drafts (\\Draft) CATENATE (TEXT {${head.length}+}\r\n${head} URL "/INBOX;UIDVALIDITY=${inbox.uidValidity}/;UID=${uid}/;SECTION=TEXT" ` +
      `URL "/INBOX/;UID=${uid}/;SECTION=HEADER.FIELDS%20(SUBJECT)/;PARTIAL=0.8" URL "imap://alice%40a.test@${t.ctx.config.hostname}/INBOX/;UID=${uid}/;PARTIAL=6.4" TEXT {${tail.length}+}\r\n${tail})\r\n`,
  );
  (await c.reply('k1')).ok().has(/\[APPENDUID \d+ \d+\]/);
  (await c.cmd('EXAMINE Drafts')).ok();
  const want = head + 'The body line\r\nsecond line\r\n' + 'Subject:' + src.slice(6, 10) + tail;
  (await c.cmd('FETCH * (FLAGS BODY[])')).ok().has('FLAGS (\\Draft)').has(`BODY[] {${want.length}}\r\n${want})`);
  // A TEXT part sent with a synchronising literal, and a URL given as a literal.
  const s = c.transcript();
  const url = `/INBOX/;UID=${uid}`;
  s.send(`k2 APPEND Drafts CATENATE (URL {${url.length}}`);
  await s.expect(['+ Ready for literal data']);
  s.sendRaw(`${url} TEXT {2}\r\n`);
  await s.expect(['+ Ready for literal data']);
  s.sendRaw('!!)\r\n');
  await s.expectTagged('k2', ['* 4 EXISTS'], /^k2 OK \[APPENDUID \d+ \d+\]/);
  (await c.cmd('FETCH * (RFC822.SIZE)')).ok().has(`RFC822.SIZE ${src.length + 2}`);
});

test('CATENATE: BADURL for what is not this account\'s, TOOBIG for a result over APPENDLIMIT; nothing appended', async () => {
  const small = await createImapTestContext({ config: { imap: { append_limit: 300 } } });
  try {
    const c = await small.connect();
    await c.login();
    const uid = await c.append('INBOX', message('src', 'z'.repeat(150)));
    const inbox = (await small.store.getMailbox(small.accountId, 'INBOX'))!;
    const bob = await small.store.getAccount('bob@a.test');
    const bobInbox = (await small.store.getMailbox(bob!.id, 'INBOX'))!;
    const bobMsg = await small.store.blobs.stage(Buffer.from(message('bob only')));
    const bobUid = (await small.store.appendMessage(bob!.id, 'INBOX', bobMsg)).uid;
    await small.store.blobs.discard(bobMsg);
    for (const url of [
      `/INBOX;UIDVALIDITY=${inbox.uidValidity + 1}/;UID=${uid}`,
      `/INBOX/;UID=${uid + 100}`,
      `/Nope/;UID=${uid}`,
      `/INBOX/;UID=${uid}/;SECTION=7`,
      `imap://bob%40a.test@${small.ctx.config.hostname}/INBOX/;UID=${bobUid}`,
      `/INBOX/;UID=${uid};URLAUTH=anonymous`,
    ]) {
      const r = await c.cmd(`APPEND Drafts CATENATE (TEXT {2+}\r\nhi URL "${url}")`);
      r.no(`BADURL ${url}`);
    }
    assert.notEqual(bobInbox.id, inbox.id);
    (await c.cmd(`APPEND Drafts CATENATE (URL "/INBOX/;UID=${uid}" URL "/INBOX/;UID=${uid}")`)).no('TOOBIG');
    (await c.cmd('STATUS Drafts (MESSAGES)')).ok().has('(MESSAGES 0)');
    // Nothing of the command is left open.
    assert.deepEqual(await readdir(join(small.ctx.config.data_dir, 'tmp')), []);
  } finally {
    await small.close();
  }
});

test('REPLACE and UID REPLACE: APPENDUID, then the EXPUNGE of the original (RFC 8508 §3.3)', async () => {
  const c = await rev2Client();
  await t.store.createMailbox(t.accountId, 'Replace');
  const u1 = await c.append('Replace', message('draft v1'));
  const u2 = await c.append('Replace', message('other'));
  const box = (await t.store.getMailbox(t.accountId, 'Replace'))!;
  const drafts = (await t.store.getMailbox(t.accountId, 'Drafts'))!;
  (await c.cmd('SELECT Replace')).ok().has('* 2 EXISTS');
  const s = c.transcript();
  const v2 = message('draft v2');
  // Into another mailbox: the original goes, the new version is there.
  s.sendRaw(`r1 REPLACE 1 Drafts (\\Draft) {${v2.length}+}\r\n${v2}\r\n`);
  await s.expectTagged('r1', [`* OK [APPENDUID ${drafts.uidValidity} ${drafts.uidNext}] Replacement message ready`, '* 1 EXPUNGE'], 'r1 OK REPLACE completed');
  assert.deepEqual((await t.store.listMessages(box.id)).map((m) => m.uid), [u2]);
  // Into the selected mailbox by UID: EXISTS for the new one, EXPUNGE for the old.
  const v3 = message('other v3');
  s.sendRaw(`r2 UID REPLACE ${u2} Replace {${v3.length}+}\r\n${v3}\r\n`);
  await s.expectTagged('r2', [`* OK [APPENDUID ${box.uidValidity} ${u2 + 1}] Replacement message ready`, '* 1 EXPUNGE', '* 1 EXISTS'], 'r2 OK UID REPLACE completed');
  (await c.cmd('FETCH 1 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])')).ok().has(`UID ${u2 + 1}`).has('Subject: other v3');
  // A UID that is not there, a missing mailbox: nothing changes.
  (await c.cmd(`UID REPLACE ${u1} Replace {3+}\r\nabc`)).no('NONEXISTENT');
  (await c.cmd('REPLACE 1 Nowhere {3+}\r\nabc')).no('TRYCREATE');
  (await c.cmd('REPLACE 2 Replace {3+}\r\nabc')).bad();
  assert.equal((await t.store.listMessages(box.id)).length, 1);
  // RFC 8508 §3.3: not in a mailbox opened read-only.
  (await c.cmd('EXAMINE Replace')).ok();
  (await c.cmd('REPLACE 1 Replace {3+}\r\nabc')).no('READ-ONLY');
  (await c.cmd('UNSELECT')).ok();
  (await c.cmd('REPLACE 1 Replace {3+}\r\nabc')).bad();
});
