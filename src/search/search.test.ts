// The full-text index against the scan: on the MIME corpus and on random messages, every text
// search key gives the same UIDs with the index as without it (the index only narrows; every
// candidate is checked), while the index does narrow; plus the index's upkeep (expunge, a new
// UIDVALIDITY, a mark behind the mailbox).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../store/index.js';
import type { Store, TextIndex } from '../store/types.js';
import { searchScope, type SearchKey, type SearchScope } from '../imap/search.js';
import { indexMailbox, indexWanted, PAGE, rebuildIndex, TextIndexer } from './indexer.js';
import { htmlToText, messageReader, searchDocument } from './text.js';
import { trigramQuery } from './fts.js';
import { silentLogger } from '../log/logger.js';
import { until } from '../../test/helpers/until.js';

let dir: string;
let store: Store;
let index: TextIndex;
let accountId: number;
let mailboxId: number;
/** Every searchable text of the stored messages, to draw needles from. */
const texts: string[] = [];

const CORPUS_DIRS = [new URL('../message/testdata/mime/eml/', import.meta.url).pathname, '/work/shared/corpus/mime/eml/'];

/** A small deterministic generator (tests never flake). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS = ['hello', 'Straße', 'café', 'naïve', 'ÉCOLE', 'résumé', 'zebra', 'quartz', 'İstanbul', 'ΣΊΣΥΦΟΣ', '日本語', 'x"y', 'a*b', 'AND', 'OR', 'NEAR', '{col}', 'emoji😀ok', 'tab\tsep'];

function randomMessage(r: () => number, i: number): Buffer {
  const pick = () => WORDS[Math.floor(r() * WORDS.length)]!;
  const words = (n: number) => Array.from({ length: n }, pick).join(r() < 0.5 ? ' ' : '');
  const html = r() < 0.3;
  const body = html ? `<html><body><p>${words(8)}</p><b>${words(2)}</b>&amp;${words(2)}&#233;</body></html>` : words(20);
  const encoded = Buffer.from(words(3)).toString('base64');
  const parts = [`From: =?UTF-8?B?${encoded}?= <s${i}@example.net>`, `To: ${words(1).replace(/[^a-z]/gi, '') || 'x'}@example.org`, `Cc: "${words(2).replace(/"/g, '')}" <c${i}@example.org>`, `Subject: =?UTF-8?B?${Buffer.from(words(4)).toString('base64')}?= ${words(2)}`, `X-Tag: ${words(2)}`];
  if (r() < 0.4) {
    const b = `b${i}`;
    parts.push(`MIME-Version: 1.0`, `Content-Type: multipart/mixed; boundary="${b}"`, '', `--${b}`, `Content-Type: text/${html ? 'html' : 'plain'}; charset=utf-8`, 'Content-Transfer-Encoding: base64', '', Buffer.from(body).toString('base64'), `--${b}`, `Content-Type: application/octet-stream; name="${words(1).replace(/["\\]/g, '')}.bin"`, 'Content-Disposition: attachment', '', 'AAAA', `--${b}--`, '');
  } else parts.push('MIME-Version: 1.0', `Content-Type: text/${html ? 'html' : 'plain'}; charset=utf-8`, 'Content-Transfer-Encoding: 8bit', '', body, '');
  return Buffer.from(parts.join('\r\n'));
}

async function deliver(raw: Buffer, mailbox = 'INBOX'): Promise<number> {
  const staged = await store.blobs.stage(raw);
  const [r] = await store.deliver(staged, [{ accountId, mailbox }]);
  await store.blobs.discard(staged);
  assert.ok(r?.ok);
  return r.uid;
}

async function scopeFor(id: number): Promise<SearchScope> {
  const metas = await store.listMessages(id);
  const uids = metas.map((m) => m.uid);
  const mb = (await store.getMailboxById(id))!;
  return {
    store,
    mailboxId: id,
    uidValidity: mb.uidValidity,
    exists: uids.length,
    maxUid: uids[uids.length - 1] ?? 0,
    seqOf: (uid) => uids.indexOf(uid) + 1,
    uidAt: (i) => uids[i],
    recent: null,
    saved: [],
    now: Date.now(),
  };
}

/** The index with its put() replaced by `put`, which is handed the real one. */
function putWrapped(put: (real: TextIndex['put'], ...args: Parameters<TextIndex['put']>) => Promise<void>): TextIndex {
  return new Proxy(index, {
    get(target, prop) {
      if (prop === 'put') return (...args: Parameters<TextIndex['put']>) => put((...a) => target.put(...a), ...args);
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * An index that notes each put of a mailbox `watched` picks, with when it started
 * (performance.now()); with `holdFirst` the first such put waits until release() (firstPut settles
 * when it has started).
 */
function watchedPuts(watched: (mailbox: number) => boolean, opts: { holdFirst?: boolean } = {}) {
  const puts: Array<{ mailbox: number; at: number }> = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const firstPut = new Promise<void>((r) => (started = r));
  const index = putWrapped(async (real, ...args) => {
    if (watched(args[0]) && puts.push({ mailbox: args[0], at: performance.now() }) === 1 && opts.holdFirst) {
      started();
      await gate;
    }
    return real(...args);
  });
  return { index, puts, firstPut, release };
}

/** The search with the index and with the scan; asserts they agree and returns the result. */
async function both(key: SearchKey, id = mailboxId): Promise<number[]> {
  const scope = await scopeFor(id);
  const scan = await searchScope(scope, key, { useIndex: false });
  const indexed = await searchScope(scope, key);
  assert.deepEqual(indexed, scan, `${JSON.stringify(key)}: index ${indexed} scan ${scan}`);
  return scan;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'yubin-search-'));
  store = await openStore(dir);
  assert.ok(store.textIndex, 'the SQLite store has a full-text index');
  index = store.textIndex;
  await store.addDomain('example.org');
  const acct = await store.addAccount('u@example.org', 'x');
  accountId = acct.id;
  mailboxId = (await store.getMailbox(accountId, 'INBOX'))!.id;
  for (const d of CORPUS_DIRS) {
    if (!existsSync(d)) continue;
    for (const f of (await readdir(d)).sort()) if (f.endsWith('.eml')) await deliver(await readFile(join(d, f)));
  }
  const r = rng(13);
  for (let i = 0; i < 120; i++) await deliver(randomMessage(r, i));
  await indexMailbox(store, index, mailboxId);
  for (const m of await store.listMessages(mailboxId)) {
    const st = (await store.getStructure(mailboxId, m.uid))!;
    const doc = await searchDocument(st, messageReader(m.size, (start, end) => store.blobs.read(m.blobId, { start, end })));
    texts.push(...Object.values(doc).filter((t) => t.length > 0));
  }
});

after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

test('html is searched as text: tags dropped, entities decoded, blocks as line breaks', () => {
  assert.equal(htmlToText('<p>hel<b>lo</b> w&ouml;rld &amp; caf&#233; &#x263A;</p><script>var x="tag"</script><!-- hidden -->end'), '\nhello w&ouml;rld & café ☺\nend');
  assert.equal(htmlToText('<a href="x>y">link</a>'), 'link');
});

test('trigram queries: short needles and odd characters are not narrowed', () => {
  assert.equal(trigramQuery('el'), null);
  assert.equal(trigramQuery('a\u0000b'), null);
  assert.equal(trigramQuery('\ud800ab'), null);
  assert.equal(trigramQuery('ell'), '"ell"');
  assert.equal(trigramQuery('a"bc'), '"a""b" AND """bc"');
  assert.equal(trigramQuery('😀ok'), '"😀ok"');
});

test('index and scan agree on the corpus and random messages, for substrings of every field', async () => {
  const r = rng(7);
  const keys: SearchKey[] = [];
  for (let i = 0; i < 150; i++) {
    const t = texts[Math.floor(r() * texts.length)]!;
    const cps = Array.from(t);
    const len = 1 + Math.floor(r() * 12);
    const at = Math.floor(r() * Math.max(1, cps.length - len));
    const needle = cps.slice(at, at + len).join('');
    // Upper case in the needle: SEARCH is case-insensitive
    const value = r() < 0.3 ? needle.toUpperCase() : needle;
    const kind = Math.floor(r() * 8);
    const hdr = ['subject', 'from', 'to', 'cc', 'bcc', 'x-tag', 'content-type'][Math.floor(r() * 7)]!;
    keys.push(kind < 3 ? { op: 'body', value, withHeader: false } : kind < 5 ? { op: 'body', value, withHeader: true } : { op: 'header', name: hdr, value });
  }
  // Needles that are in no message, and across word boundaries
  keys.push({ op: 'body', value: 'zebraquartz', withHeader: false }, { op: 'body', value: 'no such text anywhere', withHeader: true });
  let narrowed = 0;
  for (const k of keys) {
    const hits = await both(k);
    if (hits.length < texts.length) narrowed++;
  }
  assert.ok(narrowed > 0);
});

test('BODY "ell" finds "hello" through the index, and only the index candidates are read', async () => {
  const uid = await deliver(Buffer.from('From: a@b.test\r\nSubject: greeting\r\n\r\nwell, HELLO there\r\n'));
  await indexMailbox(store, index, mailboxId);
  const c = await index.candidates(mailboxId, (await store.getMailboxById(mailboxId))!.uidValidity, ['body'], 'ell');
  assert.ok(c && c.uids.includes(uid));
  assert.ok((await both({ op: 'body', value: 'ell', withHeader: false })).includes(uid));
  // A candidate with every trigram but not the substring is checked out: "abcxbcd" holds "abc" and "bcd", not "abcd"
  const decoy = await deliver(Buffer.from('From: a@b.test\r\nSubject: decoy\r\n\r\nabcxbcd\r\n'));
  await indexMailbox(store, index, mailboxId);
  const d = await index.candidates(mailboxId, (await store.getMailboxById(mailboxId))!.uidValidity, ['body'], 'abcd');
  assert.ok(d && d.uids.includes(decoy), 'the decoy is a candidate');
  assert.ok(!(await both({ op: 'body', value: 'abcd', withHeader: false })).includes(decoy));
});

test('compound keys: AND, OR and NOT over indexed and unindexed keys', async () => {
  await both({ op: 'and', keys: [{ op: 'body', value: 'zebra', withHeader: false }, { op: 'header', name: 'subject', value: 'café' }] });
  await both({ op: 'or', a: { op: 'body', value: 'quartz', withHeader: false }, b: { op: 'header', name: 'from', value: 'ÉCOLE' } });
  await both({ op: 'not', key: { op: 'body', value: 'hello', withHeader: true } });
  await both({ op: 'and', keys: [{ op: 'flag', flag: '\\Seen', set: false }, { op: 'body', value: 'straße', withHeader: false }] });
});

test('messages above the mark are read by the search itself; the indexer catches up', async () => {
  const uid = await deliver(Buffer.from('From: a@b.test\r\nSubject: late arrival\r\n\r\nunindexed marmalade\r\n'));
  const mb = (await store.getMailboxById(mailboxId))!;
  assert.ok((await index.progress(mailboxId, mb.uidValidity)) < uid, 'not indexed yet');
  assert.deepEqual(await both({ op: 'body', value: 'marmalade', withHeader: false }), [uid]);
  await indexMailbox(store, index, mailboxId);
  assert.ok((await index.progress(mailboxId, mb.uidValidity)) >= uid);
  assert.deepEqual((await index.candidates(mailboxId, mb.uidValidity, ['body'], 'marmalade'))!.uids, [uid]);
});

test('the background indexer follows deliveries and expunges, and drops a deleted mailbox', async () => {
  const indexer = new TextIndexer(store, index, silentLogger());
  indexer.start();
  try {
    const other = await store.createMailbox(accountId, 'Other');
    const uid = await deliver(Buffer.from('From: a@b.test\r\nSubject: s\r\n\r\nfollowed pomegranate\r\n'), 'Other');
    await indexer.idle();
    assert.deepEqual((await index.candidates(other.id, other.uidValidity, ['body'], 'pomegranate'))!.uids, [uid]);
    await store.expunge(other.id, [uid]);
    // The removal runs in the background (the writer thread): wait for the index to drop it
    await until('the expunged message to leave the index', async () => (await index.candidates(other.id, other.uidValidity, ['body'], 'pomegranate'))!.uids.length === 0);
    assert.deepEqual((await index.candidates(other.id, other.uidValidity, ['body'], 'pomegranate'))!.uids, []);
    await store.deleteMailbox(accountId, 'Other');
    await until('the deleted mailbox to leave the index', async () => (await index.progress(other.id, other.uidValidity)) === 0);
    assert.equal(await index.progress(other.id, other.uidValidity), 0);
  } finally {
    await indexer.stop();
  }
});

test('a new UIDVALIDITY for the same mailbox id drops the old entries', async () => {
  await index.put(999_999, 1, [{ uid: 5, text: { subject: 'stale words', from: '', to: '', cc: '', bcc: '', headers: '', body: '' } }], 5);
  assert.deepEqual((await index.candidates(999_999, 1, ['subject'], 'stale'))!.uids, [5]);
  assert.equal(await index.progress(999_999, 2), 0, 'another UIDVALIDITY has no progress');
  await index.put(999_999, 2, [], 1);
  assert.deepEqual((await index.candidates(999_999, 2, ['subject'], 'stale'))!.uids, []);
  await index.put(999_999, 2, [{ uid: 1, text: { subject: 'x', from: '', to: '', cc: '', bcc: '', headers: '', body: '' } }], 1);
  assert.deepEqual((await index.candidates(999_999, 2, ['subject'], 'stale'))!.uids, []);
});

test('rebuild indexes everything again and reports its progress', async () => {
  const seen: number[] = [];
  const r = await rebuildIndex(store, index, { accountId, onProgress: (d) => seen.push(d) });
  const total = (await store.mailboxStatus(mailboxId)).messages;
  assert.equal(r.messages, total);
  assert.equal(seen[seen.length - 1], total);
  await both({ op: 'body', value: 'hello', withHeader: false });
});

test('deliveries arriving close together are indexed in one page (the indexer waits before it runs), and found', async () => {
  let burstId = -1;
  const t = watchedPuts((m) => m === burstId);
  const indexer = new TextIndexer(store, t.index, silentLogger(), { delayMs: 1000, quietMs: 0 });
  indexer.start();
  try {
    const mb = await store.createMailbox(accountId, 'Burst');
    burstId = mb.id;
    const uids: number[] = [];
    for (let i = 0; i < 5; i++) uids.push(await deliver(Buffer.from(`From: a@b.test\r\nSubject: burst ${i}\r\n\r\nquince number ${i}\r\n`), 'Burst'));
    await indexer.idle();
    assert.equal(t.puts.length, 1, 'one index transaction for the five messages of the mailbox');
    assert.deepEqual((await index.candidates(mb.id, mb.uidValidity, ['body'], 'quince'))!.uids, uids);
  } finally {
    await indexer.stop();
  }
});

test('a backlog of maxBacklog messages starts the indexer at once, mail flowing or not', { timeout: 30_000 }, async () => {
  // Delay, pause and lag far longer than the test's timeout: only the backlog can start the run.
  const indexer = new TextIndexer(store, index, silentLogger(), { delayMs: 120_000, quietMs: 120_000, maxLagMs: 120_000, maxBacklog: PAGE });
  indexer.start();
  try {
    const mb = await store.createMailbox(accountId, 'Stream');
    const uids: number[] = [];
    for (let i = 0; i < PAGE; i++) uids.push(await deliver(Buffer.from(`From: a@b.test\r\nSubject: stream ${i}\r\n\r\ntamarind number ${i}\r\n`), 'Stream'));
    await indexer.idle();
    assert.deepEqual((await index.candidates(mb.id, mb.uidValidity, ['body'], 'tamarind'))!.uids, uids);
  } finally {
    await indexer.stop();
  }
});


test('while mail keeps arriving the indexer waits for a pause in the flow, then indexes it all in one run', async () => {
  let id = -1;
  const t = watchedPuts((m) => m === id);
  const quietMs = 300;
  const indexer = new TextIndexer(store, t.index, silentLogger(), { delayMs: 0, quietMs, maxLagMs: 120_000 });
  indexer.start();
  try {
    const mb = await store.createMailbox(accountId, 'Flow');
    id = mb.id;
    const uids: number[] = [];
    let last = 0;
    for (let i = 0; i < 4; i++) {
      last = performance.now(); // before the arrival: a lower bound of the indexer's own clock
      uids.push(await deliver(Buffer.from(`From: a@b.test\r\nSubject: flow ${i}\r\n\r\nkumquat number ${i}\r\n`), 'Flow'));
      await new Promise((r) => setTimeout(r, 50)); // mail keeps arriving: far less than quietMs apart
    }
    await indexer.idle();
    assert.equal(t.puts.length, 1, 'one run, after the flow paused');
    // timers never fire early (a millisecond of rounding aside)
    assert.ok(t.puts[0]!.at - last >= quietMs - 2, `indexed ${(t.puts[0]!.at - last).toFixed(0)} ms after the last arrival, before the pause of ${quietMs} ms`);
    assert.deepEqual((await index.candidates(mb.id, mb.uidValidity, ['body'], 'kumquat'))!.uids, uids);
  } finally {
    await indexer.stop();
  }
});

test('a run started in a pause stops between pages when mail arrives again, and goes on in the next pause', { timeout: 60_000 }, async () => {
  let id = -1;
  const t = watchedPuts((m) => m === id, { holdFirst: true });
  const quietMs = 200;
  const indexer = new TextIndexer(store, t.index, silentLogger(), { delayMs: 0, quietMs, maxLagMs: 120_000 });
  indexer.start();
  try {
    const mb = await store.createMailbox(accountId, 'Resume');
    id = mb.id;
    const uids: number[] = [];
    const one = async (i: number) => uids.push(await deliver(Buffer.from(`From: a@b.test\r\nSubject: resume ${i}\r\n\r\nmedlar number ${i}\r\n`), 'Resume'));
    for (let i = 0; i < PAGE + 50; i++) await one(i);
    await t.firstPut; // the pause came: the run's first page is being put
    const again = performance.now(); // before the arrival: a lower bound of the indexer's own clock
    await one(PAGE + 50); // mail again
    t.release();
    await indexer.idle();
    assert.equal(t.puts.length, 2, 'the first page, then the rest in one run after the next pause');
    assert.ok(t.puts[1]!.at - again >= quietMs - 2, `the second page ${(t.puts[1]!.at - again).toFixed(0)} ms after mail arrived again, before a pause of ${quietMs} ms`);
    assert.deepEqual((await index.candidates(mb.id, mb.uidValidity, ['body'], 'medlar'))!.uids, uids);
  } finally {
    t.release();
    await indexer.stop();
  }
});

test('mail flowing without a pause is indexed maxLagMs after the first message waiting', { timeout: 30_000 }, async () => {
  let id = -1;
  const t = watchedPuts((m) => m === id);
  const maxLagMs = 300;
  const indexer = new TextIndexer(store, t.index, silentLogger(), { delayMs: 0, quietMs: 120_000, maxLagMs });
  indexer.start();
  try {
    const mb = await store.createMailbox(accountId, 'Lag');
    id = mb.id;
    const first = performance.now(); // before the arrival: a lower bound of the indexer's own clock
    const uid = await deliver(Buffer.from('From: a@b.test\r\nSubject: lag\r\n\r\npersimmon\r\n'), 'Lag');
    await indexer.idle();
    assert.equal(t.puts.length, 1);
    assert.ok(t.puts[0]!.at - first >= maxLagMs - 2, `indexed ${(t.puts[0]!.at - first).toFixed(0)} ms after arrival, before the lag of ${maxLagMs} ms`);
    assert.deepEqual((await index.candidates(mb.id, mb.uidValidity, ['body'], 'persimmon'))!.uids, [uid]);
  } finally {
    await indexer.stop();
  }
});

test('a run forced by the lag starts the counts again: mail arriving during it waits for its own lag, not indexed at once', { timeout: 30_000 }, async () => {
  const ids: number[] = [];
  const t = watchedPuts((m) => ids.includes(m), { holdFirst: true });
  const maxLagMs = 300;
  const indexer = new TextIndexer(store, t.index, silentLogger(), { delayMs: 0, quietMs: 120_000, maxLagMs });
  indexer.start();
  try {
    const a = await store.createMailbox(accountId, 'ForcedA');
    const b = await store.createMailbox(accountId, 'ForcedB');
    ids.push(a.id, b.id);
    const ua = await deliver(Buffer.from('From: a@b.test\r\nSubject: a\r\n\r\nsoursop\r\n'), 'ForcedA');
    await t.firstPut; // the lag forced a run for ForcedA
    const during = performance.now(); // before the arrival: a lower bound of the indexer's own clock
    const ub = await deliver(Buffer.from('From: a@b.test\r\nSubject: b\r\n\r\nsoursop\r\n'), 'ForcedB');
    t.release();
    await indexer.idle();
    assert.deepEqual(
      t.puts.map((p) => p.mailbox),
      [a.id, b.id],
    );
    assert.ok(t.puts[1]!.at - during >= maxLagMs - 2, `ForcedB indexed ${(t.puts[1]!.at - during).toFixed(0)} ms after its arrival, before its own lag of ${maxLagMs} ms`);
    assert.deepEqual((await index.candidates(a.id, a.uidValidity, ['body'], 'soursop'))!.uids, [ua]);
    assert.deepEqual((await index.candidates(b.id, b.uidValidity, ['body'], 'soursop'))!.uids, [ub]);
  } finally {
    t.release();
    await indexer.stop();
  }
});

test('a search that reads messages above the mark has the indexer catch up at once, mail flowing or not', { timeout: 30_000 }, async () => {
  // Pause and lag far longer than the test's timeout: only the search can start the run.
  const indexer = new TextIndexer(store, index, silentLogger(), { delayMs: 0, quietMs: 120_000, maxLagMs: 120_000 });
  indexer.start();
  try {
    const mb = await store.createMailbox(accountId, 'Wanted');
    const uid = await deliver(Buffer.from('From: a@b.test\r\nSubject: wanted\r\n\r\nloquat\r\n'), 'Wanted');
    assert.equal(await index.progress(mb.id, mb.uidValidity), 0, 'not indexed yet');
    assert.deepEqual(await both({ op: 'body', value: 'loquat', withHeader: false }, mb.id), [uid], 'the search reads it itself');
    await indexer.idle();
    assert.ok((await index.progress(mb.id, mb.uidValidity)) >= uid);
    assert.deepEqual((await index.candidates(mb.id, mb.uidValidity, ['body'], 'loquat'))!.uids, [uid]);
  } finally {
    await indexer.stop();
  }
});

test('a mailbox whose indexing failed waits for its retry: a search does not start another attempt', async () => {
  let id = -1;
  let attempts = 0;
  const failing = putWrapped(async (real, ...args) => {
    if (args[0] !== id) return real(...args);
    attempts++;
    throw new Error('disk full (test)');
  });
  const indexer = new TextIndexer(store, failing, silentLogger(), { delayMs: 0, quietMs: 0 });
  indexer.start();
  try {
    const mb = await store.createMailbox(accountId, 'Failing');
    id = mb.id;
    await deliver(Buffer.from('From: a@b.test\r\nSubject: f\r\n\r\nfailing\r\n'), 'Failing');
    await until('the first attempt', () => attempts === 1);
    await indexer.idle();
    indexWanted(failing, mb.id);
    indexWanted(failing, mb.id);
    await indexer.idle(); // nothing was scheduled: resolves at once
    assert.equal(attempts, 1, 'no attempt before the retry');
  } finally {
    await indexer.stop();
  }
});

test('idle() of a stopped indexer resolves, though work was left pending', { timeout: 10_000 }, async () => {
  const indexer = new TextIndexer(store, index, silentLogger(), { delayMs: 120_000 });
  indexer.start();
  const mb = await store.createMailbox(accountId, 'LeftPending');
  await deliver(Buffer.from('From: a@b.test\r\nSubject: p\r\n\r\npending\r\n'), 'LeftPending');
  await indexer.stop();
  await indexer.idle();
  assert.equal(await index.progress(mb.id, mb.uidValidity), 0, 'left for the next start');
});

test('index writes run in the writer thread: the event loop turns while a large page is indexed', async () => {
  const docs = Array.from({ length: 1500 }, (_, i) => ({ uid: i + 1, text: { subject: `page ${i}`, from: 'a@b.test', to: '', cc: '', bcc: '', headers: '', body: `lorem ipsum dolor sit amet ${i} `.repeat(40) } }));
  let turned = false;
  const put = index.put(888_888, 1, docs, 1500);
  setImmediate(() => (turned = true));
  await put;
  assert.ok(turned, 'put did not hold the main thread for the whole transaction');
  assert.deepEqual((await index.candidates(888_888, 1, ['subject'], 'page 1499'))!.uids, [1500]);
  assert.equal(await index.progress(888_888, 1), 1500);
  await index.dropMailbox(888_888);
  assert.equal(await index.progress(888_888, 1), 0);
});
