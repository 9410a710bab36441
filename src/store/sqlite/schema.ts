// The store's tables in SQLite, as numbered migrations (see migrate.ts for how to add one), and
// how the store opens its database.
import type Database from 'better-sqlite3';
import { SchemaTooNewError, type Migration } from '../../db/sqlite/migrate.js';
import { openDatabase } from '../../db/sqlite/open.js';
import { StoreError } from '../types.js';
import { registeredMigrations } from './migrate.js';

export const STORE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'domains, accounts, aliases, mailboxes, messages, blobs',
    up(db) {
      // RFC 7162 CONDSTORE: mailboxes.highest_modseq and messages.modseq; QRESYNC's history of
      // removed UIDs is version 3 (expunged).
      db.exec(`
        -- Small settings and counters (e.g. the last UIDVALIDITY handed out).
        CREATE TABLE meta (
          key TEXT PRIMARY KEY,
          value INTEGER NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE domains (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,            -- lower case
          created_at INTEGER NOT NULL           -- ms since the epoch
        );

        CREATE TABLE accounts (
          id INTEGER PRIMARY KEY,
          address TEXT NOT NULL UNIQUE,         -- lower case local@domain
          domain_id INTEGER NOT NULL REFERENCES domains(id),
          password_hash TEXT NOT NULL,          -- PHC string (argon2id)
          quota INTEGER NOT NULL DEFAULT 0,     -- bytes, 0 = unlimited
          usage INTEGER NOT NULL DEFAULT 0,     -- bytes: sum of messages.size over the account
          created_at INTEGER NOT NULL
        );
        CREATE INDEX accounts_domain ON accounts(domain_id);

        CREATE TABLE aliases (
          id INTEGER PRIMARY KEY,
          address TEXT NOT NULL UNIQUE,         -- lower case local@domain, or @domain (catch-all)
          domain_id INTEGER NOT NULL REFERENCES domains(id),
          created_at INTEGER NOT NULL
        );
        CREATE INDEX aliases_domain ON aliases(domain_id);

        CREATE TABLE alias_targets (
          alias_id INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
          position INTEGER NOT NULL,
          target TEXT NOT NULL,                 -- lower case local@domain (local or remote)
          PRIMARY KEY (alias_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX alias_targets_target ON alias_targets(target);

        CREATE TABLE mailboxes (
          id INTEGER PRIMARY KEY,
          account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
          name TEXT NOT NULL,                   -- UTF-8, "/"-delimited, "INBOX" canonical
          uid_validity INTEGER NOT NULL,        -- unique per name incarnation
          uid_next INTEGER NOT NULL DEFAULT 1,  -- never decreases: UIDs are never reused
          highest_modseq INTEGER NOT NULL DEFAULT 1,
          special_use TEXT,
          subscribed INTEGER NOT NULL DEFAULT 0,
          recent_uid INTEGER NOT NULL DEFAULT 0, -- messages with a higher UID are \\Recent to the next claimant
          UNIQUE (account_id, name)
        );

        -- Content-addressed raw messages; the file is blobs/ab/cd/<id>.
        -- A row with refs = 0 is garbage waiting for its file to be deleted.
        CREATE TABLE blobs (
          id TEXT PRIMARY KEY,                  -- sha256 hex
          size INTEGER NOT NULL,
          refs INTEGER NOT NULL,                -- references: messages + held
          held INTEGER NOT NULL DEFAULT 0,      -- references from outside mailboxes (blobs.retain)
          structure TEXT NOT NULL               -- MessageStructure JSON, parsed once
        ) WITHOUT ROWID;

        CREATE TABLE messages (
          mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
          uid INTEGER NOT NULL,
          modseq INTEGER NOT NULL,
          sys_flags INTEGER NOT NULL DEFAULT 0, -- bits: 1 \\Seen, 2 \\Answered, 4 \\Flagged, 8 \\Deleted, 16 \\Draft
          keywords TEXT NOT NULL DEFAULT '[]',  -- JSON array of keyword strings
          internal_date INTEGER NOT NULL,       -- ms since the epoch
          size INTEGER NOT NULL,
          blob_id TEXT NOT NULL REFERENCES blobs(id),
          PRIMARY KEY (mailbox_id, uid)
        ) WITHOUT ROWID;
        CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
        CREATE INDEX messages_blob ON messages(blob_id);
      `);
    },
  },
  {
    version: 2,
    name: 'mailbox counters for STATUS',
    up(db) {
      // Kept up to date by every change of messages, so STATUS costs no scan of the mailbox.
      db.exec(`
        ALTER TABLE mailboxes ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE mailboxes ADD COLUMN unseen_count INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE mailboxes ADD COLUMN deleted_count INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE mailboxes ADD COLUMN total_size INTEGER NOT NULL DEFAULT 0;
        UPDATE mailboxes SET
          message_count = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id),
          unseen_count = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND (m.sys_flags & 1) = 0),
          deleted_count = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND (m.sys_flags & 8) != 0),
          total_size = (SELECT COALESCE(SUM(m.size), 0) FROM messages m WHERE m.mailbox_id = mailboxes.id);
      `);
    },
  },
  {
    version: 3,
    name: 'expunged UIDs with their modseq (QRESYNC)',
    up(db) {
      // RFC 7162 §3.2.5.2: VANISHED (EARLIER) needs the UIDs removed since a client's mod-sequence.
      // Kept for the mailbox's lifetime (one small row per removed message; gone with the mailbox).
      db.exec(`
        CREATE TABLE expunged (
          mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
          uid INTEGER NOT NULL,
          modseq INTEGER NOT NULL,
          PRIMARY KEY (mailbox_id, uid)
        ) WITHOUT ROWID;
        CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
      `);
    },
  },
  {
    version: 4,
    name: 'save dates (SAVEDATE) and message previews (PREVIEW)',
    up(db) {
      // RFC 8514 §4: the date a message was saved into its mailbox (APPEND, delivery, COPY, MOVE);
      // NULL for messages stored before this version (FETCH SAVEDATE answers NIL for them).
      // RFC 8970 §3: the preview of a blob's text, computed once when first asked for (blobs are
      // content-addressed, so every copy of a message shares it); NULL until then.
      db.exec(`
        ALTER TABLE messages ADD COLUMN saved_at INTEGER;
        ALTER TABLE blobs ADD COLUMN preview TEXT;
      `);
    },
  },
  {
    version: 5,
    name: 'subscriptions that outlive their mailbox',
    up(db) {
      // RFC 9051 §6.3.7: the server MUST NOT remove a name from the subscription list because
      // its mailbox is gone. A subscribed mailbox's name moves here when it is deleted (LIST
      // (SUBSCRIBED) shows it \NonExistent, RFC 5258 §3.1) until it is unsubscribed.
      db.exec(`
        CREATE TABLE lost_subscriptions (
          account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
          name TEXT NOT NULL,
          PRIMARY KEY (account_id, name)
        ) WITHOUT ROWID;
      `);
    },
  },
];

/**
 * Opens (creating) yubin.sqlite and runs the store's migrations, then those of the modules that
 * registered theirs. Durable at COMMIT: the WAL is fsynced on every commit (group commit shares it).
 */
export function openStoreDatabase(path: string): Database.Database {
  try {
    return openDatabase(path, {
      synchronous: 'FULL',
      busyTimeoutMs: 10_000,
      foreignKeys: true,
      migrations: [{ module: 'store', migrations: STORE_MIGRATIONS }, ...registeredMigrations()],
    });
  } catch (err) {
    if (err instanceof SchemaTooNewError) throw new StoreError('schema-too-new', err.message);
    throw err;
  }
}
