// IMAP on the session core: what a command opens is released however the command ends (issue 10
// item 3: APPEND's temporary blob), and the pre-login deadline counts from connect (issue 10 item 7).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createImapTestContext, message, type ImapTestClient, type ImapTestContext } from '../../../test/helpers/imap-context.js';
import { Transcript } from '../../../test/helpers/transcript.js';
import type { ImapSession } from './session.js';

let t: ImapTestContext;
before(async () => {
  t = await createImapTestContext({ config: { imap: { append_limit: 1_000_000 } } });
});
after(async () => {
  await t.close();
});

/** Files in data_dir/tmp (where BlobWriter keeps what it is writing and what it staged). */
async function tmpFiles(ctx: ImapTestContext = t): Promise<string[]> {
  return readdir(join(ctx.ctx.config.data_dir, 'tmp'));
}

/** Waits until data_dir/tmp is empty (the releases after a session's end run asynchronously). */
async function tmpEmpty(ctx: ImapTestContext = t): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const left = await tmpFiles(ctx);
    if (left.length === 0) return;
    if (Date.now() > deadline) assert.deepEqual(left, [], 'data_dir/tmp is not empty');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function session(c: ImapTestClient): ImapSession {
  return c.pipe.session as ImapSession;
}

async function loggedIn(ctx: ImapTestContext = t): Promise<{ c: ImapTestClient; s: Transcript }> {
  const c = await ctx.connect();
  await c.login();
  return { c, s: new Transcript(c.pipe) };
}

/** Starts an APPEND whose literal is only partly sent; resolves once the server holds its blob (past the writer's 64K buffer, on disk). */
async function halfAppend(c: ImapTestClient, s: Transcript, ctx: ImapTestContext = t): Promise<void> {
  s.send('A APPEND INBOX {300000}');
  await s.expect(['+ Ready for literal data']);
  c.send('x'.repeat(200_000));
  const deadline = Date.now() + 5000;
  while ((await tmpFiles(ctx)).length === 0) {
    assert.ok(Date.now() < deadline, 'the literal never reached a temporary file');
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(session(c).heldCount, 1);
}

test('APPEND OK: the staged file is gone once the command is answered', async () => {
  const { c, s } = await loggedIn();
  const m = message('ok path');
  s.send(`A APPEND INBOX {${m.length}}`);
  await s.expect(['+ Ready for literal data']);
  c.send(m + '\r\n');
  await s.expect([/^A OK \[APPENDUID \d+ \d+\] APPEND completed$/]);
  assert.deepEqual(await tmpFiles(), []);
  assert.equal(session(c).heldCount, 0);
});

test('APPEND NO (no such mailbox): nothing is left in tmp', async () => {
  const { c, s } = await loggedIn();
  // past the writer's 64K buffer, so the literal is in a temporary file when the command ends
  s.send('A APPEND Nowhere {200000}');
  await s.expect(['+ Ready for literal data']);
  c.send('x'.repeat(200_000) + '\r\n');
  await s.expect(['A NO [TRYCREATE] No such mailbox']);
  // released when the command ends, just after its answer is sent
  await tmpEmpty();
  assert.equal(session(c).heldCount, 0);
});

test('APPEND BAD (arguments after the literal): nothing is left in tmp', async () => {
  const { c, s } = await loggedIn();
  // past the writer's 64K buffer, so the literal is in a temporary file when the command ends
  s.send('A APPEND INBOX {200000}');
  await s.expect(['+ Ready for literal data']);
  c.send('x'.repeat(200_000) + ' extra\r\n');
  await s.expect(['A BAD Too many arguments']);
  // released when the command ends, just after its answer is sent
  await tmpEmpty();
  assert.equal(session(c).heldCount, 0);
});

test('APPEND refused by the framer (a second message over APPENDLIMIT): the first literal\'s blob is released at once', async () => {
  const { c, s } = await loggedIn();
  s.send('A APPEND INBOX {100000}');
  await s.expect(['+ Ready for literal data']);
  c.send('y'.repeat(100000) + ' {2000000}\r\n');
  await s.expect(['A NO [TOOBIG] Message larger than APPENDLIMIT 1000000']);
  // Issue 10 item 3: before, the blob writer stayed open (a file and a descriptor) until the session ended.
  assert.deepEqual(await tmpFiles(), []);
  assert.equal(session(c).heldCount, 0);
  (await c.cmd('NOOP')).ok();
  assert.ok(!c.pipe.closed);
});

test('APPEND refused by the framer (command too long mid-literal command): closed, nothing left', async () => {
  const { c, s } = await loggedIn();
  s.send('A APPEND INBOX {10}');
  await s.expect(['+ Ready for literal data']);
  c.send('0123456789 ' + 'z'.repeat(70_000));
  await s.expect(['* BAD [TOOBIG] Command line too long', '* BYE Command line too long']);
  await s.expectClosed();
  await tmpEmpty();
  assert.equal(session(c).heldCount, 0);
});

test('APPEND cut by a disconnect mid-literal: the blob is dropped', async () => {
  const { c, s } = await loggedIn();
  await halfAppend(c, s);
  c.pipe.close();
  assert.equal(session(c).heldCount, 0);
  await tmpEmpty();
});

test('APPEND cut by a half-close (FIN) mid-literal: the session ends, the blob is dropped', async () => {
  const { c, s } = await loggedIn();
  await halfAppend(c, s);
  c.pipe.end();
  await s.expectClosed();
  assert.equal(session(c).heldCount, 0);
  await tmpEmpty();
});

test('APPEND cut by shutdown mid-literal: BYE, the blob is dropped', async () => {
  const { c, s } = await loggedIn();
  await halfAppend(c, s);
  await session(c).shutdown();
  await s.expect(['* BYE Server shutting down']);
  await s.expectClosed();
  assert.equal(session(c).heldCount, 0);
  await tmpEmpty();
});

test('APPEND cut by the autologout timer mid-literal: BYE, the blob is dropped', async () => {
  const fast = await createImapTestContext({ config: { imap: { autologout: 1 } } });
  try {
    const { c, s } = await loggedIn(fast);
    await halfAppend(c, s, fast);
    await s.expect(['* BYE Autologout; idle for too long']);
    await s.expectClosed();
    assert.equal(session(c).heldCount, 0);
    await tmpEmpty(fast);
  } finally {
    await fast.close();
  }
});

test('preauth_timeout is a deadline from connect: NOOPs do not keep an unauthenticated client in', async () => {
  const fast = await createImapTestContext({ config: { imap: { preauth_timeout: 0.5 } } });
  try {
    const started = Date.now();
    const lazy = await fast.connect();
    const user = await fast.connect();
    await user.login();
    const s = new Transcript(lazy.pipe);
    let answered = 0;
    // A NOOP every 25 ms: the old idle-timer reading of preauth_timeout served this forever.
    for (let i = 0; !lazy.pipe.closed; i++) {
      s.send(`n${i} NOOP`);
      const [line] = await s.expect([/^(n\d+ OK NOOP completed|\* BYE Autologout; not logged in in time)$/]);
      if (line!.startsWith('* BYE')) break;
      answered++;
      assert.ok(Date.now() - started < 5000, 'still served 5 s after connect');
      await new Promise((r) => setTimeout(r, 25));
    }
    await s.expectClosed();
    assert.ok(answered >= 3, `${answered} NOOPs answered before the deadline`);
    // The deadline is only for logging in: the client that did is still served.
    (await user.cmd('NOOP')).ok();
    assert.ok(!user.pipe.closed);
  } finally {
    await fast.close();
  }
});
