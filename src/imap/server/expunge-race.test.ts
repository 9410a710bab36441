// Issue 13 "Bugs seen under load": a FETCH that races another session's EXPUNGE. The message's
// metadata is read, then the other session expunges it and its blob goes; the FETCH must answer
// as RFC 9051 §7.1 allows (no data for that message, [EXPUNGEISSUED]), never with a storage
// error that names the blob.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { message, useImapContext } from '../../../test/helpers/imap-context.js';
import { StoreError, type Store } from '../../store/types.js';

const t = useImapContext();

/** Makes the blob look removed (as the committer's collection does once no message references it). */
function hideBlob(store: Store, blobId: string): () => void {
  const blobs = store.blobs as { read: Store['blobs']['read']; open: Store['blobs']['open']; readMany: Store['blobs']['readMany'] };
  const read = blobs.read;
  const open = blobs.open;
  const readMany = blobs.readMany;
  const assemble = (blobs as { assemble?: Store['blobs']['assemble'] }).assemble;
  if (assemble) {
    // as the reader thread answers for a blob file that is gone: those messages left out, 'gone'
    (blobs as { assemble?: Store['blobs']['assemble'] }).assemble = async (messages) => {
      const hit = messages.map((parts) => parts.some((p) => typeof p !== 'string' && p.blobId === blobId));
      const r = await assemble(messages.filter((_, i) => !hit[i]));
      let k = 0;
      return { data: r.data, failed: hit.map((h) => (h ? 'gone' : r.failed[k++]!)) };
    };
  }
  blobs.readMany = async (ranges) => {
    const got = await readMany(ranges);
    return got.map((b, i) => (ranges[i]!.blobId === blobId ? null : b));
  };
  blobs.read = async (id, range) => {
    if (id === blobId) throw new StoreError('not-found', `blob ${id} does not exist`);
    return read(id, range);
  };
  blobs.open = (id, range) => {
    if (id !== blobId) return open(id, range);
    const r = new Readable({ read() {} });
    process.nextTick(() => r.destroy(Object.assign(new Error(`ENOENT: no such file, open '${id}'`), { code: 'ENOENT' })));
    return r;
  };
  return () => {
    blobs.read = read;
    blobs.open = open;
    blobs.readMany = readMany;
    if (assemble) (blobs as { assemble?: Store['blobs']['assemble'] }).assemble = assemble;
  };
}

for (const size of ['small', 'large'] as const) {
  test(`FETCH BODY[] of a ${size} message another session expunges meanwhile: [EXPUNGEISSUED], no storage error`, async () => {
    const store = t.store;
    const a = await t.connect();
    const b = await t.connect();
    await a.login();
    await b.login();
    const mb = (await store.getMailbox(t.accountId, 'INBOX'))!;
    const body = size === 'large' ? 'y'.repeat(76) + '\r\n' : 'short';
    const uid = await a.append('INBOX', message(`race ${size}`, size === 'large' ? body.repeat(5000) : body));
    (await a.cmd('SELECT INBOX')).ok();
    (await b.cmd('SELECT INBOX')).ok();
    const seq = (await a.cmd(`UID FETCH ${uid} (UID)`)).ok().text.match(/\* (\d+) FETCH/)![1];
    (await b.cmd(`UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`)).ok();
    const [meta] = await store.getMessages(mb.id, [uid]);
    // A's FETCH reads the metadata; B's EXPUNGE commits right after, and the blob goes.
    const listMessages = store.listMessages.bind(store);
    const getMessages = store.getMessages.bind(store);
    let restoreBlob = (): void => {};
    let fired = false;
    const race = async <T>(r: T): Promise<T> => {
      if (fired) return r;
      fired = true;
      (await b.cmd('EXPUNGE')).ok().has(`* ${seq} EXPUNGE`);
      restoreBlob = hideBlob(store, meta!.blobId);
      return r;
    };
    store.listMessages = async (id, opts) => race(await listMessages(id, opts));
    store.getMessages = async (id, uids) => (fired ? getMessages(id, uids) : race(await getMessages(id, uids)));
    try {
      const r = await a.cmd(`FETCH ${seq} BODY.PEEK[]`);
      r.ok().has('[EXPUNGEISSUED]').lacks('blob').lacks('NONEXISTENT').lacks('BODY[]');
      assert.ok(fired);
    } finally {
      store.listMessages = listMessages;
      store.getMessages = getMessages;
      restoreBlob();
    }
    // A is told of the expunge at the next command that allows it.
    (await a.cmd('NOOP')).ok().has(`* ${seq} EXPUNGE`);
    (await a.cmd('CLOSE')).ok();
    (await b.cmd('CLOSE')).ok();
  });
}
