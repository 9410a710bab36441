// A blob file shorter than the message's stored size (a damaged store): FETCH must never send a
// literal whose declared size differs from the bytes that follow it (RFC 9051 §4.3: the client
// reads exactly that many octets, so a short literal desynchronises the whole connection). The
// reader thread's assembly leaves such a message out (blob-reader.ts); the batch read path must
// refuse it too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { message, useImapContext } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

for (const [path, items] of [
  ['assembled by the reader thread', 'BODY.PEEK[]'],
  // a decoded part (a Buffer piece) sends the batch through readMany instead of assemble
  ['read in one batch (readMany)', '(BINARY.PEEK[1] BODY.PEEK[])'],
] as const) {
  test(`FETCH of a message whose blob is shorter than its stored size, ${path}: NO, no short literal, the session goes on`, async () => {
    const a = await t.connect();
    await a.login();
    const uid = await a.append('INBOX', message('short blob', 'line of the body\r\n'.repeat(40)));
    (await a.cmd('SELECT INBOX')).ok();
    const mb = (await t.store.getMailbox(t.accountId, 'INBOX'))!;
    const [meta] = await t.store.getMessages(mb.id, [uid]);
    const id = meta!.blobId;
    truncateSync(join(t.ctx.config.data_dir, 'blobs', id.slice(0, 2), id.slice(2, 4), id), Math.floor(meta!.size / 2));
    const r = await a.cmd(`UID FETCH ${uid} ${items}`);
    r.no().lacks(`{${meta!.size}}`).lacks(id);
    (await a.cmd('NOOP')).ok();
    (await a.cmd(`UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`)).ok();
    (await a.cmd('CLOSE')).ok();
  });
}

test('FETCH of a large (streamed) message whose blob is shorter than its stored size: the connection ends, never a short literal followed by more responses', async () => {
  const a = await t.connect();
  await a.login();
  const uid = await a.append('INBOX', message('short large blob', 'y'.repeat(76) + '\r\n'.repeat(1) + ('z'.repeat(76) + '\r\n').repeat(5000)));
  (await a.cmd('SELECT INBOX')).ok();
  const mb = (await t.store.getMailbox(t.accountId, 'INBOX'))!;
  const [meta] = await t.store.getMessages(mb.id, [uid]);
  const id = meta!.blobId;
  truncateSync(join(t.ctx.config.data_dir, 'blobs', id.slice(0, 2), id.slice(2, 4), id), meta!.size - 1000);
  a.send(`f1 UID FETCH ${uid} BODY.PEEK[]\r\nf2 NOOP\r\n`);
  // The literal cannot be taken back once its size is sent: the server closes the connection
  // rather than answer anything more (which the client would read as message data).
  await a.pipe.waitClosed();
  assert.doesNotMatch(a.pipe.peek(), /f1 OK|f2 OK/);
});
