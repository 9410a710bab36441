// POP3 transcripts: the TRANSACTION and UPDATE states (RFC 1939 §5-6): STAT, LIST, UIDL, RETR, TOP, DELE, RSET, QUIT, the maildrop lock and snapshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MSG1, MSG2, MSG3, cmd, createPop3TestContext, multi, type Pop3TestContext } from '../../test/helpers/pop3-context.js';
import { PipeTransport } from '../../test/helpers/pipe.js';
import { createPop3Session } from './session.js';
import type { ChangeEvent } from '../store/types.js';

let c: Pop3TestContext;
before(async () => {
  // Throttling is tested on its own below; here failures must not slow the transcripts down.
  c = await createPop3TestContext({ auth: { throttle_free_failures: 1000, throttle_max_failures: 1000 } });
});
after(async () => {
  await c.close();
});

test('STAT, LIST, UIDL, RETR, TOP on a maildrop of three', async () => {
  const uids = [await c.deliver(c.bob, MSG1), await c.deliver(c.bob, MSG2), await c.deliver(c.bob, MSG3)];
  const sizes = [MSG1, MSG2, MSG3].map((m) => Buffer.byteLength(m));
  const total = sizes.reduce((a, b) => a + b, 0);
  const t = await c.login(c.bob);
  assert.equal(await cmd(t, 'STAT'), `+OK 3 ${total}`);
  t.send('LIST\r\n');
  assert.deepEqual(await multi(t), [`+OK maildrop has 3 messages (${total} octets)`, sizes.map((s, i) => `${i + 1} ${s}`).join('\r\n')]);
  assert.equal(await cmd(t, 'LIST 2'), `+OK 2 ${sizes[1]}`);
  assert.equal(await cmd(t, 'LIST 4'), '-ERR No such message, only 3 messages in maildrop');
  assert.equal(await cmd(t, 'LIST x'), '-ERR Invalid message number');
  t.send('UIDL\r\n');
  const [ustatus, ubody] = await multi(t);
  assert.equal(ustatus, '+OK Unique-ID listing follows');
  const ids = ubody.split('\r\n').map((l) => l.split(' ')[1]!);
  assert.equal(new Set(ids).size, 3);
  for (const id of ids) assert.match(id, /^[\x21-\x7e]{1,70}$/);
  const inbox = (await c.store.getMailbox(c.bob.id, 'INBOX'))!;
  assert.equal(ids[0], `${inbox.uidValidity}.${uids[0]}`);
  assert.equal(await cmd(t, 'UIDL 3'), `+OK 3 ${ids[2]}`);

  // RETR: the bytes as stored, dot-stuffed on the wire.
  t.send('RETR 1\r\n');
  const raw = await t.waitFor(/\r\n\.\r\n$/);
  assert.ok(raw.includes('\r\n..leading dot\r\n...two dots\r\n'), 'stuffed on the wire');
  t.send('RETR 1\r\n');
  assert.deepEqual(await multi(t), [`+OK ${sizes[0]} octets`, MSG1.slice(0, -2)]);
  // A message without a final CRLF gets one before the terminating line.
  t.send('RETR 3\r\n');
  const r3 = await t.waitFor(/\r\n\.\r\n$/);
  assert.equal(r3, `+OK ${sizes[2]} octets\r\n${MSG3}\r\n.\r\n`);

  // TOP: the header, the blank line, then n lines of the body.
  t.send('TOP 2 0\r\n');
  assert.deepEqual(await multi(t), ['+OK Top of message follows', 'From: dave@example.net\r\nSubject: two\r\n']);
  t.send('TOP 2 2\r\n');
  assert.deepEqual(await multi(t), ['+OK Top of message follows', 'From: dave@example.net\r\nSubject: two\r\n\r\nline 1\r\nline 2']);
  t.send('TOP 2 100\r\n');
  assert.deepEqual(await multi(t), ['+OK Top of message follows', MSG2.slice(0, -2)]);
  t.send('TOP 1 1\r\n');
  const [, top1] = await multi(t);
  assert.equal(top1, 'From: carol@example.net\r\nTo: alice@example.test\r\nSubject: one\r\n\r\nHello Alice.');
  assert.equal(await cmd(t, 'TOP 1'), '-ERR TOP takes a message number and a number of lines');
  assert.equal(await cmd(t, 'TOP 1 -1'), '-ERR Invalid number of lines');
  assert.equal(await cmd(t, 'RETR 9'), '-ERR No such message, only 3 messages in maildrop');
  assert.equal(await cmd(t, 'NOOP'), '+OK');
  t.close();
});

test('DELE marks, RSET unmarks, QUIT removes atomically and quota usage drops', async () => {
  const before = (await c.store.getAccount('bob@example.test'))!;
  const inbox = (await c.store.getMailbox(c.bob.id, 'INBOX'))!;
  const listed = await c.store.listMessages(inbox.id);
  assert.equal(listed.length, 3);
  const events: ChangeEvent[] = [];
  const unsubscribe = c.store.changes.subscribe(c.bob.id, (e) => events.push(e));
  const t = await c.login(c.bob);
  assert.equal(await cmd(t, 'DELE 1'), '+OK Message 1 deleted');
  assert.equal(await cmd(t, 'DELE 1'), '-ERR Message already deleted');
  assert.equal(await cmd(t, 'RETR 1'), '-ERR Message already deleted');
  assert.equal(await cmd(t, 'LIST 1'), '-ERR Message already deleted');
  assert.equal(await cmd(t, 'STAT'), `+OK 2 ${listed[1]!.size + listed[2]!.size}`);
  t.send('LIST\r\n');
  assert.equal((await multi(t))[1], `2 ${listed[1]!.size}\r\n3 ${listed[2]!.size}`);
  assert.match(await cmd(t, 'RSET'), /^\+OK maildrop has 3 messages/);
  assert.equal(await cmd(t, 'DELE 2'), '+OK Message 2 deleted');
  assert.equal(await cmd(t, 'DELE 3'), '+OK Message 3 deleted');
  // Nothing is removed before QUIT.
  assert.equal((await c.store.listMessages(inbox.id)).length, 3);
  assert.equal(await cmd(t, 'QUIT'), '+OK Yubin POP3 server signing off (2 messages deleted)');
  assert.ok(t.closed);
  const left = await c.store.listMessages(inbox.id);
  assert.deepEqual(left.map((m) => m.uid), [listed[0]!.uid]);
  const afterAcc = (await c.store.getAccount('bob@example.test'))!;
  assert.equal(afterAcc.usage, before.usage - listed[1]!.size - listed[2]!.size);
  // IMAP sessions learn of it through the change feed, which has it by the time +OK was sent.
  unsubscribe();
  const expunges = events.filter((e) => e.type === 'messages-expunged');
  assert.deepEqual(
    expunges.map((e) => (e.type === 'messages-expunged' ? [e.mailboxId, [...e.uids].sort((a, b) => a - b)] : null)),
    [[inbox.id, [listed[1]!.uid, listed[2]!.uid]]],
  );
});

test('a dropped connection deletes nothing and releases the maildrop', async () => {
  const inbox = (await c.store.getMailbox(c.bob.id, 'INBOX'))!;
  const n = (await c.store.listMessages(inbox.id)).length;
  const t = await c.login(c.bob);
  assert.equal(await cmd(t, 'DELE 1'), '+OK Message 1 deleted');
  t.close();
  assert.equal((await c.store.listMessages(inbox.id)).length, n);
  const again = await c.login(c.bob);
  assert.match(await cmd(again, 'STAT'), new RegExp(`^\\+OK ${n} `));
  await cmd(again, 'QUIT');
});

test('one session per maildrop: a second login gets [IN-USE]', async () => {
  const first = await c.login(c.bob);
  const second = await c.connect({ tls: true });
  await cmd(second, 'USER bob@example.test');
  assert.equal(await cmd(second, 'PASS bobpw'), '-ERR [IN-USE] Maildrop is locked by another POP3 session');
  // Still in AUTHORIZATION: it may try again once the first is gone.
  assert.match(await cmd(first, 'QUIT'), /^\+OK/);
  await cmd(second, 'USER bob@example.test');
  assert.match(await cmd(second, 'PASS bobpw'), /^\+OK Logged in/);
  // Another account is not affected.
  const alice = await c.login(c.alice);
  await cmd(alice, 'QUIT');
  await cmd(second, 'QUIT');
});

test('the message list is a snapshot; UIDL stays the same across sessions', async () => {
  const t = await c.login(c.bob);
  const stat = await cmd(t, 'STAT');
  t.send('UIDL\r\n');
  const [, ids1] = await multi(t);
  await c.deliver(c.bob, MSG2);
  assert.equal(await cmd(t, 'STAT'), stat, 'new mail does not change the session');
  assert.match(await cmd(t, `RETR ${Number(stat.split(' ')[1]) + 1}`), /^-ERR No such message/);
  await cmd(t, 'QUIT');
  const t2 = await c.login(c.bob);
  t2.send('UIDL\r\n');
  const [, ids2] = await multi(t2);
  assert.ok(ids2.startsWith(ids1 + '\r\n'), 'old ids unchanged, new message added after them');
  // Delete the first message; the others keep their ids.
  await cmd(t2, 'DELE 1');
  await cmd(t2, 'QUIT');
  const t3 = await c.login(c.bob);
  t3.send('UIDL\r\n');
  const [, ids3] = await multi(t3);
  const strip = (s: string) => s.split('\r\n').map((l) => l.split(' ')[1]);
  assert.deepEqual(strip(ids3), strip(ids2).slice(1));
  await cmd(t3, 'QUIT');
});

test('a message expunged by another session (IMAP) cannot be retrieved; QUIT still works', async () => {
  const uid = await c.deliver(c.alice, MSG1);
  const t = await c.login(c.alice);
  const inbox = (await c.store.getMailbox(c.alice.id, 'INBOX'))!;
  await c.store.expunge(inbox.id, [uid]);
  assert.equal(await cmd(t, 'RETR 1'), '-ERR Message was deleted by another session');
  assert.equal(await cmd(t, 'TOP 1 0'), '-ERR Message was deleted by another session');
  assert.equal(await cmd(t, 'DELE 1'), '+OK Message 1 deleted');
  assert.match(await cmd(t, 'QUIT'), /^\+OK/);
});

test('RETR of a large message streams with backpressure', async () => {
  class SlowPipe extends PipeTransport {
    buffered = 0;
    maxBuffered = 0;
    drains = 0;
    override write(data: string | Uint8Array): boolean {
      super.write(data);
      this.buffered += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      this.maxBuffered = Math.max(this.maxBuffered, this.buffered);
      return this.buffered < 16 * 1024;
    }
    override async drain(): Promise<void> {
      this.drains++;
      await new Promise((r) => setImmediate(r));
      this.buffered = 0;
    }
  }
  const fat = await createPop3TestContext();
  try {
    const line = '.' + 'y'.repeat(76) + '\r\n';
    const big = 'Subject: big\r\n\r\n' + line.repeat(Math.ceil((4 * 1024 * 1024) / line.length));
    await fat.deliver(fat.alice, big);
    const t = new SlowPipe('pop3s', { tls: true });
    t.attach((tr) => createPop3Session(fat.ctx, tr));
    await t.waitFor(/^\+OK/);
    t.send('USER alice@example.test\r\n');
    await t.waitFor(/\r\n$/);
    t.send('PASS secret pw\r\n');
    await t.waitFor(/^\+OK Logged in/);
    t.send('RETR 1\r\n');
    const raw = await t.waitFor(/\r\n\.\r\n$/, 60_000);
    assert.ok(raw.startsWith(`+OK ${Buffer.byteLength(big)} octets\r\n`));
    const body = raw.slice(raw.indexOf('\r\n') + 2, -3).replace(/(^|\r\n)\./g, '$1');
    assert.equal(body.length, big.length);
    assert.ok(body === big);
    assert.ok(t.drains > 20, `drains ${t.drains}`);
    assert.ok(t.maxBuffered < 16 * 1024 + 200 * 1024, `buffered at most ${t.maxBuffered}`);
    // TOP on a large message streams too, and stops after the lines asked for.
    t.send('TOP 1 2\r\n');
    assert.equal(await t.waitFor(/\r\n\.\r\n$/), `+OK Top of message follows\r\nSubject: big\r\n\r\n.${line}.${line}.\r\n`);
    t.close();
  } finally {
    await fat.close();
  }
});

test('a stored message with bare LF line ends (e.g. an IMAP APPEND) is sent as stored, LIST size exact', async () => {
  const raw = 'Subject: bare\n\nline one\n.\nlast\n';
  const odd = await createPop3TestContext();
  try {
    await odd.deliver(odd.alice, raw);
    const t = await odd.login(odd.alice);
    assert.equal(await cmd(t, 'LIST 1'), `+OK 1 ${raw.length}`);
    t.send('RETR 1\r\n');
    // The "." after a bare LF is stuffed too, and a CRLF goes before the final "." line.
    assert.equal(await t.waitFor(/\r\n\.\r\n$/), `+OK ${raw.length} octets\r\nSubject: bare\n\nline one\n..\nlast\n\r\n.\r\n`);
    await cmd(t, 'QUIT');
  } finally {
    await odd.close();
  }
});
