// The store's tables (yubin.sqlite, or the PostgreSQL database of [store] url), one description
// for both engines (schema.ts; docs/store.md "Migrations"): modules "store", "sieve",
// "api_tokens", "metadata" and SQLite's "changes". Columns keep one meaning and unit in both
// (ms since the epoch, bytes, flag bits, keywords as a JSON array), so one row reads the same
// through both backends. To change a schema: append a migration with the next version to its
// module's list; never edit or renumber one that has shipped.
import type Database from 'better-sqlite3';
import { addColumn, bigint, blob, index, integer, table, text, type Migration, type ModuleMigrations } from './schema.js';

/** Bytes per blob_chunks row (PostgreSQL, blobs = "database"): a 50 MB message is 200 rows, streamed one at a time. */
export const CHUNK_SIZE = 256 * 1024;

const account = (onDelete?: 'cascade') => integer('account_id', { references: { table: 'accounts', column: 'id', onDelete } });

export const STORE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'domains, accounts, aliases, mailboxes, messages, blobs',
    // RFC 7162 CONDSTORE: mailboxes.highest_modseq and messages.modseq; QRESYNC's history of
    // removed UIDs is version 3 (expunged).
    steps: [
      // Small settings and counters (e.g. the last UIDVALIDITY handed out).
      table('meta', [text('key', { primaryKey: true }), bigint('value')], { withoutRowid: true }),
      table('domains', [
        integer('id', { identity: 'by-default' }),
        text('name', { unique: true }), // lower case
        bigint('created_at'), // ms since the epoch
      ]),
      table('accounts', [
        integer('id', { identity: 'by-default' }),
        text('address', { unique: true }), // lower case local@domain
        integer('domain_id', { references: { table: 'domains', column: 'id' } }),
        text('password_hash'), // PHC string (argon2id)
        bigint('quota', { default: 0 }), // bytes, 0 = unlimited
        bigint('usage', { default: 0 }), // bytes: sum of messages.size over the account
        bigint('created_at'),
      ]),
      index('accounts_domain', 'accounts', ['domain_id']),
      table('aliases', [
        integer('id', { identity: 'by-default' }),
        text('address', { unique: true }), // lower case local@domain, or @domain (catch-all)
        integer('domain_id', { references: { table: 'domains', column: 'id' } }),
        bigint('created_at'),
      ]),
      index('aliases_domain', 'aliases', ['domain_id']),
      table(
        'alias_targets',
        [
          integer('alias_id', { references: { table: 'aliases', column: 'id', onDelete: 'cascade' } }),
          integer('position'),
          text('target'), // lower case local@domain (local or remote)
        ],
        { primaryKey: ['alias_id', 'position'], withoutRowid: true },
      ),
      index('alias_targets_target', 'alias_targets', ['target']),
      table(
        'mailboxes',
        [
          integer('id', { identity: 'by-default' }),
          account('cascade'),
          text('name'), // UTF-8, "/"-delimited, "INBOX" canonical
          bigint('uid_validity'), // unique per name incarnation
          bigint('uid_next', { default: 1 }), // never decreases: UIDs are never reused
          bigint('highest_modseq', { default: 1 }),
          text('special_use', { nullable: true }),
          integer('subscribed', { default: 0 }),
          bigint('recent_uid', { default: 0 }), // messages with a higher UID are \Recent to the next claimant
        ],
        { unique: [['account_id', 'name']] },
      ),
      // Content-addressed raw messages. SQLite, or PostgreSQL with blobs = "files": the file
      // blobs/ab/cd/<id>; PostgreSQL with blobs = "database": the blob's blob_chunks rows.
      // A row with refs = 0 is garbage waiting for its bytes to be deleted.
      table(
        'blobs',
        [
          text('id', { primaryKey: true }), // sha256 hex
          bigint('size'),
          integer('refs'), // references: messages + held
          integer('held', { default: 0 }), // references from outside mailboxes (blobs.retain)
          text('structure'), // MessageStructure JSON, parsed once
        ],
        { withoutRowid: true },
      ),
      table(
        'blob_chunks',
        [
          text('blob_id', { references: { table: 'blobs', column: 'id', onDelete: 'cascade' } }),
          integer('seq'), // chunk number: bytes [seq * CHUNK_SIZE, ...)
          blob('data'),
        ],
        { primaryKey: ['blob_id', 'seq'], only: 'postgresql' },
      ),
      table(
        'messages',
        [
          integer('mailbox_id', { references: { table: 'mailboxes', column: 'id' } }),
          bigint('uid'),
          bigint('modseq'),
          integer('sys_flags', { default: 0 }), // bits: 1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted, 16 \Draft
          text('keywords', { default: '[]' }), // JSON array of keyword strings
          bigint('internal_date'), // ms since the epoch
          bigint('size'),
          text('blob_id', { references: { table: 'blobs', column: 'id' } }),
        ],
        { primaryKey: ['mailbox_id', 'uid'], withoutRowid: true },
      ),
      index('messages_modseq', 'messages', ['mailbox_id', 'modseq']),
      index('messages_blob', 'messages', ['blob_id']),
      // PostgreSQL's change feed: events too big for a NOTIFY payload (8000 bytes); the
      // notification carries the id. (SQLite's feed across processes is the "changes" module.)
      table('change_events', [bigint('id', { identity: 'always' }), text('payload'), bigint('created_at')], { only: 'postgresql' }),
    ],
  },
  {
    version: 2,
    name: 'mailbox counters for STATUS',
    // Kept up to date by every change of messages, so STATUS costs no scan of the mailbox.
    steps: [
      addColumn('mailboxes', bigint('message_count', { default: 0 })),
      addColumn('mailboxes', bigint('unseen_count', { default: 0 })),
      addColumn('mailboxes', bigint('deleted_count', { default: 0 })),
      addColumn('mailboxes', bigint('total_size', { default: 0 })),
      {
        sql: `UPDATE mailboxes SET
          message_count = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id),
          unseen_count = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND (m.sys_flags & 1) = 0),
          deleted_count = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND (m.sys_flags & 8) != 0),
          total_size = (SELECT COALESCE(SUM(m.size), 0) FROM messages m WHERE m.mailbox_id = mailboxes.id)`,
      },
    ],
  },
  {
    version: 3,
    name: 'expunged UIDs with their modseq (QRESYNC)',
    // RFC 7162 §3.2.5.2: VANISHED (EARLIER) needs the UIDs removed since a client's mod-sequence.
    // Kept for the mailbox's lifetime (one small row per removed message; gone with the mailbox).
    steps: [
      table(
        'expunged',
        [integer('mailbox_id', { references: { table: 'mailboxes', column: 'id', onDelete: 'cascade' } }), bigint('uid'), bigint('modseq')],
        { primaryKey: ['mailbox_id', 'uid'], withoutRowid: true },
      ),
      index('expunged_modseq', 'expunged', ['mailbox_id', 'modseq']),
    ],
  },
  {
    version: 4,
    name: 'save dates (SAVEDATE) and message previews (PREVIEW)',
    // RFC 8514 §4: the date a message was saved into its mailbox (APPEND, delivery, COPY, MOVE);
    // NULL for messages stored before this version (FETCH SAVEDATE answers NIL for them).
    // RFC 8970 §3: the preview of a blob's text, computed once when first asked for (blobs are
    // content-addressed, so every copy of a message shares it); NULL until then.
    steps: [addColumn('messages', bigint('saved_at', { nullable: true })), addColumn('blobs', text('preview', { nullable: true }))],
  },
  {
    version: 5,
    name: 'subscriptions that outlive their mailbox',
    // RFC 9051 §6.3.7: the server MUST NOT remove a name from the subscription list because
    // its mailbox is gone. A subscribed mailbox's name moves here when it is deleted (LIST
    // (SUBSCRIBED) shows it \NonExistent, RFC 5258 §3.1) until it is unsubscribed.
    steps: [table('lost_subscriptions', [account('cascade'), text('name')], { primaryKey: ['account_id', 'name'], withoutRowid: true })],
  },
  {
    version: 6,
    name: 'small messages kept in their blob row',
    // SQLite: a message under 64 KiB staged in memory is stored in its blobs row (content), with
    // no file: the WAL's one fdatasync per group commit covers it (docs/store.md "Small
    // messages in the database"). NULL for a blob kept as a file. SQLite only: PostgreSQL keeps
    // blobs in blob_chunks or files (store copy moves such bytes there).
    steps: [addColumn('blobs', blob('content', { nullable: true, only: 'sqlite' }))],
  },
  {
    version: 7,
    name: 'small messages beside their blob row',
    // SQLite: the bytes of version 6 move to a table of their own. In the blobs row they made
    // every row longer than a b-tree cell holds, so its other columns (structure, preview)
    // spilled to overflow pages, which SQLite reads from the file on each access (direct overflow
    // reads bypass its page cache and the memory map): about 8 reads per message for the
    // full-text indexer's BODYSTRUCTUREs. blobs.content stays, always NULL.
    steps: [
      table('blob_content', [text('id', { primaryKey: true }), blob('content')], { withoutRowid: true, only: 'sqlite' }),
      { sqlite: 'INSERT INTO blob_content (id, content) SELECT id, content FROM blobs WHERE content IS NOT NULL; UPDATE blobs SET content = NULL WHERE content IS NOT NULL' },
    ],
  },
  {
    version: 8,
    name: 'blobs and their bytes in rowid tables',
    // SQLite: blobs and blob_content were WITHOUT ROWID tables keyed by the sha256 id, so every
    // new blob went to a random leaf of two b-trees of large rows, which split often: 7.1 of the
    // 12.7 pages a delivered message wrote to the WAL (bench/wal-pages.ts). As rowid tables their
    // rows are appended (one leaf shared by a group commit), and the id's own index holds small
    // entries: 10.5 pages a message. The rows, columns and queries are the same.
    // And bytes left without their blob row go: the start-up sweep of version 7 deleted a dead
    // blob's row but not its bytes (yubin verify: "bytes kept in blob_content without a blob row").
    // It rewrites both tables in one transaction: the database needs free space for a second
    // copy of them (and the WAL as much again until the next checkpoint), and the store is
    // locked while it runs (about 0.4 s per 90 MB of small messages; docs/store.md).
    steps: [
      { sqlite: 'DELETE FROM blob_content WHERE id NOT IN (SELECT id FROM blobs)' },
      { sqlite: (db) => ['blobs', 'blob_content'].forEach((t) => rebuildWithRowid(db, t)) },
    ],
  },
];

/**
 * Makes a WITHOUT ROWID table keyed by `id TEXT PRIMARY KEY` a rowid table with the same columns
 * and rows (SQLite's own procedure, https://www.sqlite.org/lang_altertable.html §7: the migration
 * runner has foreign keys off and checks them before the COMMIT). A WITHOUT ROWID table refuses a
 * NULL key by itself; a rowid table accepts one unless the column says NOT NULL, so the new one
 * does. Refused, with the reason, when an index, trigger or view uses the table (the rename would
 * break it).
 */
function rebuildWithRowid(db: Database.Database, name: string): void {
  const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) as { sql: string } | undefined;
  if (!row) throw new Error(`store migration 8: no table ${name} to rebuild`);
  const head = new RegExp(`^CREATE TABLE\\s+("?)${name}\\1\\s*\\(`, 'i');
  const key = /(\(\s*"?id"?\s+TEXT)\s+PRIMARY KEY\s*,/i;
  const tail = /\)\s*WITHOUT\s+ROWID\s*$/i;
  if (!head.test(row.sql) || !key.test(row.sql) || !tail.test(row.sql)) throw new Error(`store migration 8: table ${name} is not the WITHOUT ROWID table keyed by id it rebuilds: ${row.sql}`);
  const users = (db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('index', 'trigger', 'view') AND sql IS NOT NULL").all() as Array<{ type: string; name: string; tbl_name: string; sql: string }>).filter(
    (o) => o.tbl_name === name || new RegExp(`\\b${name}\\b`, 'i').test(o.sql),
  );
  if (users.length > 0) throw new Error(`store migration 8: ${users.map((o) => `${o.type} ${o.name}`).join(', ')} use${users.length === 1 ? 's' : ''} table ${name}, which this migration rebuilds: drop ${users.length === 1 ? 'it' : 'them'} first`);
  const tmp = `${name}_rowid`;
  db.exec(row.sql.replace(head, `CREATE TABLE ${tmp} (`).replace(key, '$1 NOT NULL PRIMARY KEY,').replace(tail, ')'));
  db.exec(`INSERT INTO ${tmp} SELECT * FROM ${name}; DROP TABLE ${name}; ALTER TABLE ${tmp} RENAME TO ${name}`);
}

// Sieve: users' scripts (one active per account), global scripts for `include :global`
// (RFC 6609 §3.2), and what delivery remembers durably: vacation replies sent (RFC 5230 §4.2),
// duplicate tracking ids (RFC 7352 §3) and redirects per day. Rows of an account go with it.
export const SIEVE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'sieve scripts, global scripts, vacation and duplicate memory, redirect counts',
    steps: [
      table(
        'sieve_scripts',
        [
          account('cascade'),
          text('name'), // case-sensitive (RFC 5804 §1.6)
          text('text'),
          integer('active', { default: 0 }), // at most one per account
          bigint('updated_at'), // ms since the epoch
        ],
        { primaryKey: ['account_id', 'name'], withoutRowid: true },
      ),
      index('sieve_scripts_active', 'sieve_scripts', ['account_id'], { unique: true, where: 'active = 1' }),
      table('sieve_global_scripts', [text('name', { primaryKey: true }), text('text'), bigint('updated_at')], { withoutRowid: true }),
      // RFC 5230 §4.2: one reply per sender per handle within :days/:seconds.
      table(
        'sieve_vacation',
        [account('cascade'), text('sender') /* lower case */, text('handle'), bigint('expires_at')],
        { primaryKey: ['account_id', 'sender', 'handle'], withoutRowid: true },
      ),
      index('sieve_vacation_expiry', 'sieve_vacation', ['expires_at']),
      // RFC 7352 §3: tracking ids seen, each until its expiry.
      table('sieve_duplicates', [account('cascade'), text('id'), bigint('expires_at')], { primaryKey: ['account_id', 'id'], withoutRowid: true }),
      index('sieve_duplicates_expiry', 'sieve_duplicates', ['expires_at']),
      table(
        'sieve_redirects',
        [account('cascade'), text('day') /* YYYY-MM-DD (UTC) */, integer('count')],
        { primaryKey: ['account_id', 'day'], withoutRowid: true },
      ),
    ],
  },
];

// Admin API bearer tokens: the token's name and the SHA-256 of its secret (never the secret).
export const API_TOKEN_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'admin API tokens',
    steps: [
      table(
        'api_tokens',
        [
          text('name', { primaryKey: true }),
          text('secret_hash', { unique: true }), // SHA-256 of the secret, hex
          bigint('created_at'), // ms since the epoch
          bigint('last_used_at', { nullable: true }), // ms since the epoch, NULL until first use
        ],
        { withoutRowid: true },
      ),
    ],
  },
];

// IMAP METADATA entries (RFC 5464), by mailbox id (RENAME keeps them, DELETE drops them);
// mailbox_id NULL holds the server's entries of the account.
export const METADATA_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'IMAP METADATA entries',
    steps: [
      table('metadata', [
        account('cascade'),
        integer('mailbox_id', { nullable: true, references: { table: 'mailboxes', column: 'id', onDelete: 'cascade' } }),
        text('name'), // lower case, "/private/..." or "/shared/..."
        blob('value'),
      ]),
      // The SQLite store's queries name the expression as the index does (ifnull).
      index('metadata_key', 'metadata', ['account_id', { sqlite: 'ifnull(mailbox_id, 0)', postgresql: 'COALESCE(mailbox_id, 0)' }, 'name'], { unique: true }),
      index('metadata_mailbox', 'metadata', ['mailbox_id']),
    ],
  },
];

// SQLite's change feed across processes (src/store/sqlite/change-log.ts); PostgreSQL's is
// LISTEN/NOTIFY with change_events.
export const CHANGE_LOG_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'change log across processes',
    steps: [table('change_log', [bigint('id', { identity: 'always' }), text('origin'), text('events'), bigint('at')], { only: 'sqlite' })],
  },
];

export const STORE_MODULE: ModuleMigrations = { module: 'store', migrations: STORE_MIGRATIONS };
export const SIEVE_MODULE: ModuleMigrations = { module: 'sieve', migrations: SIEVE_MIGRATIONS };
export const API_TOKEN_MODULE: ModuleMigrations = { module: 'api_tokens', migrations: API_TOKEN_MIGRATIONS };
export const METADATA_MODULE: ModuleMigrations = { module: 'metadata', migrations: METADATA_MIGRATIONS };
export const CHANGE_LOG_MODULE: ModuleMigrations = { module: 'changes', migrations: CHANGE_LOG_MIGRATIONS };
