// The mailbox index (issue 13): load in pages, events applied in order (and idempotently), the
// memory budget's LRU eviction, and a randomized comparison with the store after appends, flag
// changes and expunges from two writers at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { MailboxIndex, MailboxIndexes } from './mailbox-index.js';
import { indexSearch } from './query.js';
import { searchScope, type SearchKey } from '../search.js';

async function withStore(fn: (store: Store, accountId: number) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'yubin-mbindex-'));
  const store = await openStore(dir);
  try {
    await store.addDomain('a.test');
    const acct = await store.addAccount('alice@a.test', 'x');
    await fn(store, acct.id);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const raw = (i: number): Buffer => Buffer.from(`From: a@b.test\r\nSubject: m${i}\r\n\r\n${'body '.repeat(i % 7)}${i}\r\n`);

async function append(store: Store, i: number, flags: string[] = []): Promise<number> {
  return (await store.appendMessage((await store.getMailboxById(1))!.accountId, 'INBOX', await store.blobs.stage(raw(i)), { flags, internalDate: new Date(Date.UTC(2024, 0, 1 + (i % 20))) })).uid;
}

/** The index's view of every message, as the store lists it. */
function dump(index: MailboxIndex): Array<{ uid: number; flags: string[]; modseq: number; size: number; date: number }> {
  const out = [];
  for (let s = 0; s < index.slots; s++) {
    if (!index.isLive(s)) continue;
    const e = index.entry(s);
    out.push({ uid: e.uid, flags: e.flags, modseq: e.modseq, size: e.size, date: e.internalDate.getTime() });
  }
  return out;
}

async function storeDump(store: Store, mailboxId: number): Promise<ReturnType<typeof dump>> {
  return (await store.listMessages(mailboxId)).map((m) => ({ uid: m.uid, flags: m.flags, modseq: m.modseq, size: m.size, date: m.internalDate.getTime() }));
}

test('loads a mailbox in pages and matches the store', async () => {
  await withStore(async (store, accountId) => {
    const inbox = (await store.getMailbox(accountId, 'INBOX'))!;
    for (let i = 1; i <= 23; i++) await append(store, i, i % 3 ? ['\\Seen'] : ['$Work', 'later']);
    const calls: Array<[number, number]> = [];
    const list = store.listIndexRows.bind(store);
    store.listIndexRows = async (id, after, limit) => {
      calls.push([after, limit]);
      return list(id, after, limit);
    };
    const old = MailboxIndex.loadPage;
    MailboxIndex.loadPage = 5;
    try {
      const r = new MailboxIndexes(store, 1 << 20);
      const index = await r.acquire(accountId, inbox.id, inbox.uidValidity);
      assert.deepEqual(dump(index), await storeDump(store, inbox.id));
      // 23 messages in pages of 5: five pages, each limited (never one query for the whole mailbox),
      // each keyed by the last UID of the one before (no OFFSET)
      const uids = dump(index).map((e) => e.uid);
      assert.deepEqual(calls, [[0, 5], [uids[4]!, 5], [uids[9]!, 5], [uids[14]!, 5], [uids[19]!, 5]]);
      assert.equal(index.highestModSeq, (await store.mailboxStatus(inbox.id)).highestModSeq);
      assert.deepEqual(index.keywordsInUse(), ['$Work', 'later']);
    } finally {
      MailboxIndex.loadPage = old;
    }
  });
});

test('applies the change feed in order; an event older than the entry changes nothing', async () => {
  await withStore(async (store, accountId) => {
    const inbox = (await store.getMailbox(accountId, 'INBOX'))!;
    for (let i = 1; i <= 5; i++) await append(store, i);
    const r = new MailboxIndexes(store, 1 << 20);
    const index = await r.acquire(accountId, inbox.id, inbox.uidValidity);
    const u6 = await append(store, 6, ['$Junk']);
    await store.updateFlags(inbox.id, [2, u6], { mode: 'add', flags: ['\\Flagged'] });
    await store.expunge(inbox.id, [3]);
    await index.settle();
    assert.deepEqual(dump(index), await storeDump(store, inbox.id));
    const before = index.get(2)!;
    // a late delivery of an older flags change (e.g. what a page already saw) is skipped
    index.apply({ type: 'flags-changed', accountId, mailboxId: inbox.id, changes: [{ uid: 2, flags: [], modseq: before.modseq - 1 }] });
    await index.settle();
    assert.deepEqual(index.get(2)!.flags, ['\\Flagged']);
    // the same expunge twice, and an addition of a message already there, change nothing
    index.apply({ type: 'messages-expunged', accountId, mailboxId: inbox.id, uids: [3], modseq: 1 });
    index.apply({ type: 'message-added', accountId, mailboxId: inbox.id, uid: u6, modseq: 1 });
    await index.settle();
    assert.deepEqual(dump(index), await storeDump(store, inbox.id));
    assert.equal(index.highestModSeq, (await store.mailboxStatus(inbox.id)).highestModSeq);
  });
});

test('changes committed while the index loads are applied after the load', async () => {
  await withStore(async (store, accountId) => {
    const inbox = (await store.getMailbox(accountId, 'INBOX'))!;
    for (let i = 1; i <= 12; i++) await append(store, i);
    const list = store.listMessages.bind(store);
    let pages = 0;
    store.listMessages = async (id, o) => {
      // between the first and the second page, another session changes pages already read and to come
      if (pages++ === 1) {
        await store.updateFlags(inbox.id, [1, 9], { mode: 'add', flags: ['\\Seen'] });
        await store.expunge(inbox.id, [2, 10]);
        await append(store, 13);
      }
      return list(id, o);
    };
    const old = MailboxIndex.loadPage;
    MailboxIndex.loadPage = 4;
    try {
      const index = await new MailboxIndexes(store, 1 << 20).acquire(accountId, inbox.id, inbox.uidValidity);
      assert.deepEqual(dump(index), await storeDump(store, inbox.id));
    } finally {
      MailboxIndex.loadPage = old;
    }
  });
});

test('memory budget: unselected indexes are evicted least recently used first, selected ones never', async () => {
  await withStore(async (store, accountId) => {
    const names = ['A', 'B', 'C'];
    const boxes = [];
    for (const n of names) boxes.push(await store.createMailbox(accountId, n));
    for (const b of boxes) for (let i = 0; i < 3; i++) await store.appendMessage(accountId, b.name, await store.blobs.stage(raw(i)));
    const r = new MailboxIndexes(store, 0);
    const [a, b, c] = boxes as [typeof boxes[0], typeof boxes[0], typeof boxes[0]];
    const ia = await r.acquire(accountId, a.id, a.uidValidity);
    const one = ia.bytes;
    r.budget = one * 2;
    const ib = await r.acquire(accountId, b.id, b.uidValidity);
    r.release(ia);
    r.release(ib);
    assert.deepEqual(r.cached, [a.id, b.id], 'within budget: both kept');
    // A used again: B is now the least recently used
    r.release(await r.acquire(accountId, a.id, a.uidValidity));
    const ic = await r.acquire(accountId, c.id, c.uidValidity);
    assert.deepEqual(r.cached, [a.id, c.id], 'over budget: B (LRU, unselected) evicted');
    assert.ok(r.bytes <= r.budget);
    r.budget = 0;
    r.evict();
    assert.deepEqual(r.cached, [c.id], 'the selected one stays whatever the budget');
    r.release(ic);
    assert.deepEqual(r.cached, []);
    // an evicted index no longer follows the feed; a new acquire loads the current state
    await store.updateFlags(c.id, [1], { mode: 'add', flags: ['\\Deleted'] });
    const again = await r.acquire(accountId, c.id, c.uidValidity);
    assert.deepEqual(again.get(1)!.flags, ['\\Deleted']);
  });
});

test('randomized: two writers append, store and expunge; the index answers as the store does', async () => {
  await withStore(async (store, accountId) => {
    const inbox = (await store.getMailbox(accountId, 'INBOX'))!;
    let seed = 13;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 30; i++) await append(store, i, rnd(2) ? ['\\Seen'] : []);
    const r = new MailboxIndexes(store, 1 << 20);
    const index = await r.acquire(accountId, inbox.id, inbox.uidValidity);
    const flagsPool = ['\\Seen', '\\Flagged', '\\Deleted', '\\Answered', '$Junk', 'Work', 'work', '$Later'];
    let n = 100;
    const writer = async (): Promise<void> => {
      for (let step = 0; step < 60; step++) {
        const uids = (await store.listMessages(inbox.id)).map((m) => m.uid);
        const some = uids.filter(() => rnd(4) === 0);
        const op = rnd(10);
        if (op < 4 || !uids.length) await append(store, n++, rnd(2) ? [flagsPool[rnd(flagsPool.length)]!] : []);
        else if (op < 8) await store.updateFlags(inbox.id, some.length ? some : [uids[0]!], { mode: (['set', 'add', 'remove'] as const)[rnd(3)]!, flags: [flagsPool[rnd(flagsPool.length)]!, flagsPool[rnd(flagsPool.length)]!] });
        else await store.expunge(inbox.id, some.slice(0, 3));
      }
    };
    await Promise.all([writer(), writer()]);
    await index.settle();
    assert.deepEqual(dump(index), await storeDump(store, inbox.id));
    assert.equal(index.highestModSeq, (await store.mailboxStatus(inbox.id)).highestModSeq);
    // flag-only SEARCH: the index's answer equals the scan of the store's messages
    const uids = (await store.listMessages(inbox.id)).map((m) => m.uid);
    const scope = {
      store,
      mailboxId: inbox.id,
      uidValidity: inbox.uidValidity,
      exists: uids.length,
      maxUid: uids[uids.length - 1] ?? 0,
      seqOf: (u: number) => uids.indexOf(u) + 1,
      uidAt: (i: number) => uids[i],
      recent: new Set(uids.slice(-3)),
      saved: uids.slice(0, 5),
      now: Date.UTC(2024, 0, 10),
    };
    const keys: SearchKey[] = [
      { op: 'flag', flag: '\\Seen', set: false },
      { op: 'flag', flag: 'WORK', set: true },
      { op: 'or', a: { op: 'flag', flag: '\\Deleted', set: true }, b: { op: 'not', key: { op: 'flag', flag: '$junk', set: true } } },
      { op: 'and', keys: [{ op: 'seq', set: '2:*' }, { op: 'uid', set: '1:40,90:*' }, { op: 'size', larger: true, n: 45 }] },
      { op: 'modseq', modseq: Math.floor(index.highestModSeq / 2) },
      { op: 'date', sent: false, cmp: 'since', day: Math.floor(Date.UTC(2024, 0, 8) / 86_400_000) },
      { op: 'within', older: true, seconds: 86_400 * 3 },
      { op: 'new' },
      { op: 'saved' },
    ];
    for (const key of keys) {
      const scan = await searchScope(scope, key, { useIndex: false });
      assert.deepEqual(await indexSearch(index, scope, key), scan, JSON.stringify(key));
    }
    assert.equal(await indexSearch(index, scope, { op: 'body', value: 'x', withHeader: false }), null, 'a body key is not answered from the index');
  });
});
