// POP3 read-ahead (docs/pop3.md "Download speed"): a client reading in order gets every message
// byte for byte, dot-stuffed, from messages read ahead; a message expunged elsewhere after it was
// read ahead is refused as gone; the bytes held count against one process-wide budget, given back
// when taken or when the session ends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cmd, createPop3TestContext, multi, type Pop3TestContext } from '../../test/helpers/pop3-context.js';
import { READ_AHEAD_BUDGET, readAheadRoom } from './maildrop.js';
import { until as untilShared } from '../../test/helpers/until.js';

let c: Pop3TestContext;
before(async () => {
  c = await createPop3TestContext();
});
after(async () => {
  await c.close();
});

function message(i: number): string {
  // every fifth line starts with a dot: the stuffing is done when the message is read ahead
  const lines = Array.from({ length: 40 }, (_, k) => `${k % 5 === 0 ? '.' : ''}line ${k} of message ${i}`);
  return `From: a@example.test\r\nTo: bob@example.test\r\nSubject: read ahead ${i}\r\n\r\n${lines.join('\r\n')}\r\n`;
}

test('RETR in order: every message byte for byte from the read-ahead; budget held, then given back', async () => {
  const uids: number[] = [];
  for (let i = 1; i <= 40; i++) uids.push(await c.deliver(c.bob, message(i)));
  const t = await c.login(c.bob);
  const until = (cond: () => boolean) => untilShared('the read-ahead budget', cond, { everyMs: 0, timeoutMs: 10_000 });
  for (let i = 1; i <= 3; i++) {
    t.send(`RETR ${i}\r\n`);
    const [status, body] = await multi(t);
    assert.equal(status, `+OK ${Buffer.byteLength(message(i))} octets`);
    assert.equal(body + '\r\n', message(i));
  }
  await until(() => readAheadRoom() < READ_AHEAD_BUDGET);
  assert.ok(readAheadRoom() < READ_AHEAD_BUDGET, 'the following messages are read ahead and held');
  // Message 5, read ahead, is expunged by another session (IMAP): RETR refuses it as gone.
  const inbox = (await c.store.getMailbox(c.bob.id, 'INBOX'))!;
  assert.deepEqual(await c.store.expunge(inbox.id, [uids[4]!]), [uids[4]]);
  t.send('RETR 4\r\n');
  assert.equal((await multi(t))[1] + '\r\n', message(4));
  assert.match(await cmd(t, 'RETR 5'), /^-ERR .*deleted by another session/);
  for (let i = 6; i <= 40; i++) {
    t.send(`RETR ${i}\r\n`);
    assert.equal((await multi(t))[1] + '\r\n', message(i), `message ${i}`);
  }
  assert.match(await cmd(t, 'QUIT'), /^\+OK /);
  await until(() => readAheadRoom() === READ_AHEAD_BUDGET);
  assert.equal(readAheadRoom(), READ_AHEAD_BUDGET, 'nothing held once the session is over');
});
