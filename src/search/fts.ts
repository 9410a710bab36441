// The full-text index in SQLite FTS5 (the TextIndex of src/store/types.ts), in its own file
// <dataDir>/search.sqlite beside the store's database: the indexer's transactions never hold the
// store's write lock, and the file can be deleted at any time (`yubin index rebuild` refills it).
//
// IMAP SEARCH is a case-insensitive substring match (RFC 9051 §6.4.4), so words are the wrong
// unit: SEARCH BODY "ell" must find "hello". The table uses the trigram tokenizer over the very
// strings the scan compares (src/search/text.ts: decoded, lower case), case-sensitively: every
// substring of three characters or more of a text is a run of its trigrams, and a message whose
// text contains the needle contains all of the needle's trigrams. A query asks for some of them
// (AND), which can only return more messages than match, never fewer; the caller checks each
// candidate. (unicode61 with remove_diacritics would make "resume" find "résumé", which SEARCH
// does not do, and cannot find the inside of a word; the trigram table answers both exactly.)
//
// Row ids are mailbox id × 2^32 + UID, so one mailbox is one rowid range. The table is
// contentless (the texts are not stored twice) with contentless_delete for expunges, and
// detail=column (which column a trigram is in, not where: enough for AND of trigrams).
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { ThreadClient } from '../workers/thread-client.js';
import type { Migration } from '../db/sqlite/migrate.js';
import { openDatabase } from '../db/sqlite/open.js';
import { StatementCache } from '../db/sqlite/statements.js';
import type { TextField, TextIndex } from '../store/types.js';

const COLUMNS: Record<TextField, string> = {
  subject: 'subject',
  from: 'addr_from',
  to: 'addr_to',
  cc: 'addr_cc',
  bcc: 'addr_bcc',
  headers: 'headers',
  body: 'body',
};
const FIELDS = Object.keys(COLUMNS) as TextField[];

export const SEARCH_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'trigram full-text table and per-mailbox progress',
    // SQLite's own (FTS5): a dialect step with no PostgreSQL side.
    steps: [
      {
        sqlite: `
        CREATE VIRTUAL TABLE fts USING fts5(${FIELDS.map((f) => COLUMNS[f]).join(', ')},
          tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1, detail = column);
        -- Every message of the mailbox (of this UIDVALIDITY) with a UID <= up_to is in fts.
        CREATE TABLE progress (
          mailbox_id INTEGER PRIMARY KEY,
          uid_validity INTEGER NOT NULL,
          up_to INTEGER NOT NULL
        );
      `,
      },
    ],
  },
];

/** Trigrams asked for per needle at most (any subset still gives a superset of the matches). */
const MAX_TRIGRAMS = 12;

function rowid(mailboxId: number, uid: number): bigint {
  return (BigInt(mailboxId) << 32n) | BigInt(uid);
}

/**
 * The FTS5 query for a needle: some of its trigrams, each a quoted string, joined by AND, or null
 * when the needle has fewer than 3 characters (code points, as the tokenizer counts them) or
 * characters SQLite would not keep as they are (lone surrogates, NUL).
 */
export function trigramQuery(needle: string): string | null {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(needle)) return null;
  const cps = Array.from(needle);
  const n = cps.length;
  if (n < 3) return null;
  const starts = new Set<number>();
  // Non-overlapping trigrams cover the needle; the last one ends it.
  for (let i = 0; i + 3 <= n && starts.size < MAX_TRIGRAMS - 1; i += 3) starts.add(i);
  starts.add(n - 3);
  const grams = new Set<string>();
  for (const i of starts) grams.add(cps.slice(i, i + 3).join(''));
  return [...grams].map((g) => `"${g.replace(/"/g, '""')}"`).join(' AND ');
}

/** The index's writes, one SQL text each for both connections (this thread's and the writer thread's). */
const SQL = {
  mark: 'SELECT uid_validity, up_to FROM progress WHERE mailbox_id = ?',
  insert: `INSERT INTO fts (rowid, ${FIELDS.map((f) => COLUMNS[f]).join(', ')}) VALUES (?, ${FIELDS.map(() => '?').join(', ')})`,
  setMark: 'INSERT INTO progress (mailbox_id, uid_validity, up_to) VALUES (?, ?, ?) ON CONFLICT (mailbox_id) DO UPDATE SET uid_validity = excluded.uid_validity, up_to = excluded.up_to',
  dropRows: 'DELETE FROM fts WHERE rowid BETWEEN ? AND ?',
  deleteRow: 'DELETE FROM fts WHERE rowid = ?',
  deleteMark: 'DELETE FROM progress WHERE mailbox_id = ?',
};

// The writer thread: every write of the index (put, remove, dropMailbox) runs there, in order, on
// its own connection, so the trigram tokenizing of new messages (FTS5 inserts) never takes the
// main thread's time; the main thread's connection only reads (progress, candidates), which WAL
// lets it do while the thread writes. Plain JavaScript evaluated from this string (runs the same
// compiled and from source); better-sqlite3 is loaded from the path the main thread resolved.
const WRITER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const SQL = workerData.sql;
const db = new Database(workerData.path, { timeout: 10000 });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const stmts = new Map();
const q = (sql) => { let s = stmts.get(sql); if (!s) stmts.set(sql, (s = db.prepare(sql))); return s; };
const rowid = (m, u) => (BigInt(m) << 32n) | BigInt(u);
const dropRows = (m) => q(SQL.dropRows).run(rowid(m, 0), rowid(m, 0xffffffff));
const ops = {
  put: db.transaction((m) => {
    const mark = q(SQL.mark).get(m.mailboxId);
    let from = 0;
    if (mark && mark.uid_validity === m.uidValidity) from = mark.up_to;
    else if (mark) dropRows(m.mailboxId);
    for (const d of m.docs) if (d.uid > from) q(SQL.insert).run(rowid(m.mailboxId, d.uid), ...d.values);
    q(SQL.setMark).run(m.mailboxId, m.uidValidity, Math.max(from, m.upTo));
  }),
  remove: db.transaction((m) => { for (const uid of m.uids) q(SQL.deleteRow).run(rowid(m.mailboxId, uid)); }),
  drop: db.transaction((m) => { dropRows(m.mailboxId); q(SQL.deleteMark).run(m.mailboxId); }),
};
parentPort.on('message', (m) => {
  try {
    ops[m.op].immediate(m);
    parentPort.postMessage({ id: m.id, error: null });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
  }
});
`;

type WriterOp = { op: 'put'; mailboxId: number; uidValidity: number; upTo: number; docs: Array<{ uid: number; values: string[] }> } | { op: 'remove'; mailboxId: number; uids: number[] } | { op: 'drop'; mailboxId: number };

/** The writer thread (WRITER_CODE): the index's writes, answered in order. */
class WriterThread {
  private readonly thread: ThreadClient<{ id: number; error: string | null }>;

  constructor(path: string) {
    this.thread = new ThreadClient(WRITER_CODE, { path, sql: SQL, sqlite: createRequire(import.meta.url).resolve('better-sqlite3') }, 'full-text index writer');
  }

  async run(op: WriterOp): Promise<void> {
    const r = await this.thread.request(op);
    if (r.error !== null) throw new Error(`full-text index: ${r.error}`);
  }

  /** Stops the thread once the writes already sent are done. */
  close(): Promise<void> {
    return this.thread.close();
  }
}

export class SqliteTextIndex implements TextIndex {
  private handle: Database.Database | null = null;
  /** Made with the connection (opened on first use). */
  private stmts: StatementCache | null = null;
  private closed = false;
  /** Every write goes through it (see WRITER_CODE). */
  private writer: WriterThread | null = null;

  constructor(private readonly path: string) {}

  /** The writer thread, once this thread's connection has made (migrated) the database. */
  private write(op: WriterOp): Promise<void> {
    void this.db;
    return (this.writer ??= new WriterThread(this.path)).run(op);
  }

  /** Opened on first use (a CLI command that never searches never creates the file). */
  private get db(): Database.Database {
    if (this.closed) throw new Error('the full-text index is closed');
    // NORMAL: a power failure may undo the last index transactions, marks and entries together;
    // the indexer redoes them.
    this.handle ??= openDatabase(this.path, { synchronous: 'NORMAL', busyTimeoutMs: 10_000, migrations: [{ module: 'search', migrations: SEARCH_MIGRATIONS }] });
    return this.handle;
  }

  private q(sql: string): Database.Statement {
    return (this.stmts ??= new StatementCache(this.db)).get(sql);
  }

  private mark(mailboxId: number): { uid_validity: number; up_to: number } | undefined {
    return this.q(SQL.mark).get(mailboxId) as { uid_validity: number; up_to: number } | undefined;
  }

  async progress(mailboxId: number, uidValidity: number): Promise<number> {
    const m = this.mark(mailboxId);
    return m && m.uid_validity === uidValidity ? m.up_to : 0;
  }

  async candidates(mailboxId: number, uidValidity: number, fields: readonly TextField[], needle: string): Promise<{ uids: number[]; upTo: number } | null> {
    const query = trigramQuery(needle);
    if (query === null) return null;
    const upTo = await this.progress(mailboxId, uidValidity);
    if (upTo === 0) return { uids: [], upTo };
    const cols = fields.map((f) => COLUMNS[f]).join(' ');
    const rows = this.q('SELECT rowid FROM fts WHERE fts MATCH ? AND rowid BETWEEN ? AND ?')
      .safeIntegers(true)
      .all(`{${cols}} : (${query})`, rowid(mailboxId, 1), rowid(mailboxId, upTo)) as Array<{ rowid: bigint }>;
    return { uids: rows.map((r) => Number(r.rowid & 0xffffffffn)), upTo };
  }

  async put(mailboxId: number, uidValidity: number, docs: ReadonlyArray<{ uid: number; text: Record<TextField, string> }>, upTo: number): Promise<void> {
    await this.write({ op: 'put', mailboxId, uidValidity, upTo, docs: docs.map((d) => ({ uid: d.uid, values: FIELDS.map((f) => d.text[f]) })) });
  }

  async remove(mailboxId: number, uids: readonly number[]): Promise<void> {
    await this.write({ op: 'remove', mailboxId, uids: [...uids] });
  }

  async dropMailbox(mailboxId: number): Promise<void> {
    await this.write({ op: 'drop', mailboxId });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writer?.close();
    this.writer = null;
    this.stmts = null;
    this.handle?.close();
    this.handle = null;
  }
}
