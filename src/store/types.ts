// The Store: Yubin's mail data at the level of mail, not tables (DESIGN.md "Store").
// Every backend (SQLite now, PostgreSQL later) implements this interface and passes
// store/contract.ts. Every method returns a Promise, even where SQLite is synchronous.
//
// Conventions:
// - Addresses are stored and compared in lower case ("Alice@A.test" finds "alice@a.test").
// - Mailbox names are UTF-8 with "/" as the hierarchy delimiter; "INBOX" is case-insensitive
//   and always spelled "INBOX" in results.
// - Flags are IMAP flag strings: system flags ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
//   "\\Draft") and keywords ("$Junk", "work"); "\\Recent" is never stored.
// - Errors are StoreError with a code the protocol layers map to their replies.
import type { Readable } from 'node:stream';
import type { MessageStructure } from '../message/types.js';

export type SpecialUse = '\\Sent' | '\\Drafts' | '\\Trash' | '\\Junk' | '\\Archive' | '\\All' | '\\Flagged';

/** RFC 6154 §2: the special-use attributes a mailbox may carry (the one list; IMAP and the store use it). */
export const SPECIAL_USES: readonly SpecialUse[] = ['\\Sent', '\\Drafts', '\\Trash', '\\Junk', '\\Archive', '\\All', '\\Flagged'];

/** Mailboxes every new account gets, with their special-use attribute (RFC 6154). */
export const DEFAULT_MAILBOXES: ReadonlyArray<{ name: string; specialUse: SpecialUse | null }> = [
  { name: 'INBOX', specialUse: null },
  { name: 'Sent', specialUse: '\\Sent' },
  { name: 'Drafts', specialUse: '\\Drafts' },
  { name: 'Trash', specialUse: '\\Trash' },
  { name: 'Junk', specialUse: '\\Junk' },
  { name: 'Archive', specialUse: '\\Archive' },
];

export type StoreErrorCode =
  | 'exists' // domain, account, alias or mailbox already exists
  | 'not-found' // domain, account, alias, mailbox or message does not exist
  | 'over-quota' // the change would take the account over its quota
  | 'invalid' // a malformed name or address (message says which)
  | 'alias-loop' // the alias would make a loop
  | 'not-empty' // removing a domain that still has accounts or aliases
  | 'forbidden' // e.g. deleting INBOX
  | 'schema-too-new'; // the database was written by a newer Yubin

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface Domain {
  name: string;
  createdAt: Date;
}

export interface Account {
  id: number;
  address: string;
  domain: string;
  /** PHC string (argon2id). */
  passwordHash: string;
  /** Bytes; 0 = unlimited. */
  quota: number;
  /** Bytes used: the sum of the sizes of every message in every mailbox of the account. */
  usage: number;
  createdAt: Date;
}

export interface Alias {
  /** "sales@a.test", or "@a.test" for a catch-all. */
  address: string;
  /** Local or remote addresses. */
  targets: string[];
}

export interface Mailbox {
  id: number;
  accountId: number;
  /** UTF-8, "/"-delimited. */
  name: string;
  uidValidity: number;
  uidNext: number;
  highestModSeq: number;
  specialUse: SpecialUse | null;
  subscribed: boolean;
}

export interface MailboxStatus {
  messages: number;
  unseen: number;
  /** Number of messages with UID above the mailbox's recent mark (see claimRecent). */
  recent: number;
  uidNext: number;
  uidValidity: number;
  highestModSeq: number;
  /** Sum of message sizes, octets (STATUS SIZE, RFC 8438). */
  size: number;
  /** Number of messages with \Deleted. */
  deleted: number;
}

/** A message in a mailbox, without its parsed structure. */
export interface MessageMeta {
  mailboxId: number;
  uid: number;
  modseq: number;
  flags: string[];
  internalDate: Date;
  /** Octets of the raw message (CRLF line ends as stored). */
  size: number;
  /** Content address of the raw bytes in the BlobStore. */
  blobId: string;
  /**
   * RFC 8514 §4 SAVEDATE: when the message was saved into this mailbox (delivery, APPEND, COPY,
   * MOVE); null for messages stored before the store kept it.
   */
  savedDate?: Date | null;
}

/**
 * One message as the mailbox index loads it (Store.listIndexRows): UID, system flag bits
 * (validate.ts SYSTEM_FLAGS order), mod-sequence, size in octets, internal date in ms since the
 * epoch, and keywords as the store keeps them (a JSON array), null when there are none.
 */
export type IndexRow = [uid: number, sysFlags: number, modseq: number, size: number, internalDate: number, keywords: string | null];

/** A raw message written to a temporary file, fsynced, parsed while it was written, not yet referenced. */
export interface StagedBlob {
  /** sha256 hex of the content: the blob id it will have once committed. */
  id: string;
  size: number;
  /** Parsed once, while it was written (DESIGN.md "Parse once, at delivery"). */
  structure: MessageStructure;
  /** Internal to the BlobStore: the temporary file, or null for a message kept in memory (`bytes`). */
  readonly tempPath: string | null;
  /**
   * Internal to the BlobStore: the whole content of a small message staged in memory (a writer
   * made with `memory`), with no temporary file; its file is written when a commit first needs it.
   */
  readonly bytes?: Buffer;
}

/** Streams a message into a temporary blob as it arrives (DATA, BDAT, APPEND literals). */
export interface BlobWriter {
  /** Resolves when the chunk is accepted; awaiting it gives backpressure. */
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly size: number;
  /** Finishes, fsyncs and parses: the result can be delivered or appended (once or many times). */
  finish(): Promise<StagedBlob>;
  /** Drops the temporary file. Safe to call more than once and after finish(). */
  abort(): Promise<void>;
}

/** How a writer makes its file durable (BlobStore.createWriter). */
export interface BlobWriterOptions {
  /**
   * No fsync at finish(): the file is fsynced together with the rest of the group commit that
   * first references it (deliver, append). Such a staged blob may go to the store only, never to
   * anything that takes its file as it is (the queue). A store may ignore it (and fsync at finish).
   */
  deferSync?: boolean;
  /**
   * A message that ends up no larger than 64 KiB stays in memory: no temporary file is written
   * (one open, write, fsync, close and unlink fewer per message); the content-addressed file is
   * written by the commit that first references it (or the queue keeps the bytes in its row).
   * A larger message is written to a temporary file as without this option.
   */
  memory?: boolean;
}

export interface BlobStore {
  createWriter(options?: BlobWriterOptions): BlobWriter;
  /** Stages a message that is already in memory (small messages: bounces, tests, APPEND of a short literal). */
  stage(bytes: Uint8Array): Promise<StagedBlob>;
  /** Streams the raw bytes of a staged (not yet committed) blob (IMAP CATENATE joins staged parts). */
  openStaged(staged: StagedBlob): Readable;
  /** Streams the raw bytes [start, end) of a committed blob. */
  open(blobId: string, range?: { start?: number; end?: number }): Readable;
  /** Reads a committed blob's bytes [start, end) into memory; for small ranges (headers, parts). */
  read(blobId: string, range?: { start?: number; end?: number }): Promise<Buffer>;
  /**
   * Reads many small ranges [start, end) at once (FETCH of many bodies, POP3 read-ahead): one
   * step for the batch instead of one per blob. null for a blob that no longer exists.
   */
  readMany(ranges: ReadonlyArray<{ blobId: string; start: number; end: number }>): Promise<Array<Buffer | null>>;
  /**
   * Responses made of text and small blob ranges put together off the main thread into one
   * buffer (IMAP FETCH of message data; src/store/blob-reader.ts). A message whose blob is gone is
   * left out ('gone'). Absent when the blobs are not files (PostgreSQL with blobs in the database).
   */
  assemble?(messages: ReadonlyArray<ReadonlyArray<string | { blobId: string; start: number; end: number }>>): Promise<{ data: Buffer; failed: Array<null | 'gone' | string> }>;
  /** Releases a staged blob that was not (or is no longer) needed; committed references are kept. */
  discard(staged: StagedBlob): Promise<void>;
  /**
   * Commits a staged blob with one more reference held outside any mailbox (e.g. by the outbound
   * queue), durable on resolve (group commit). Returns the blob id; readable with open()/read()
   * until release() drops that reference.
   */
  retain(staged: StagedBlob): Promise<string>;
  /** Drops one reference taken with retain(); the file is deleted when no reference is left. */
  release(blobId: string): Promise<void>;
}

export type ChangeEvent =
  | { type: 'message-added'; accountId: number; mailboxId: number; uid: number; modseq: number }
  | { type: 'messages-expunged'; accountId: number; mailboxId: number; uids: number[]; modseq: number }
  | { type: 'flags-changed'; accountId: number; mailboxId: number; changes: Array<{ uid: number; flags: string[]; modseq: number }> }
  | { type: 'mailbox-created'; accountId: number; mailboxId: number; name: string }
  | { type: 'mailbox-deleted'; accountId: number; mailboxId: number; name: string }
  | { type: 'mailbox-renamed'; accountId: number; mailboxId: number; name: string; oldName: string }
  | { type: 'mailbox-subscription'; accountId: number; mailboxId: number; subscribed: boolean }
  /**
   * A copy or move between mailboxes (copyMessages, moveMessages), whoever made it (IMAP COPY and
   * MOVE, or any other caller of the store). Published with the copies' message-added events (and,
   * for a move, before the source's messages-expunged). accountId is the destination's account;
   * uids pairs each source UID with its copy's UID in dstMailboxId, as CopyResult.map does.
   */
  | { type: 'messages-copied'; accountId: number; srcMailboxId: number; dstMailboxId: number; uids: Array<[number, number]>; moved: boolean }
  /**
   * IMAP METADATA entries set or deleted (RFC 5464; Store.metadata.setMetadata). target is the
   * mailbox's id, or null for the server's entries of the account; names are the entry names
   * (lower case) that changed.
   */
  | { type: 'metadata-changed'; accountId: number; target: number | null; names: string[] };

/** In-process now; PostgreSQL LISTEN/NOTIFY later. Events are published after commit, in commit order. */
export interface ChangeFeed {
  subscribe(accountId: number, listener: (event: ChangeEvent) => void): () => void;
  /**
   * Every account's events, for server-wide observers that act once per change (the checks
   * record users' Junk verdicts from messages-copied). Only changes made through this Store
   * object are observed, never another process's, so a change is acted on once. Called after
   * commit, in commit order, like subscribe's listeners. A listener may return a promise:
   * copyMessages and moveMessages resolve only once the observers of their events have settled
   * (what a copy means to the server is done when the caller hears it is done). A listener that
   * throws or rejects is logged and fails nothing.
   */
  observe(listener: (event: ChangeEvent) => void | Promise<void>): () => void;
}

export interface DeliveryTarget {
  accountId: number;
  /** Mailbox name; default "INBOX". A missing mailbox falls back to INBOX. */
  mailbox?: string;
  flags?: string[];
}

export type DeliveryResult =
  | { ok: true; accountId: number; mailboxId: number; uid: number }
  | { ok: false; accountId: number; error: StoreErrorCode; message: string };

export interface FlagUpdate {
  mode: 'set' | 'add' | 'remove';
  flags: string[];
  /** CONDSTORE UNCHANGEDSINCE: messages with a higher modseq are not changed (reported in `failed`). */
  unchangedSince?: number;
}

/** One message of Store.appendMessages. */
export interface AppendItem {
  blob: StagedBlob;
  flags?: string[];
  internalDate?: Date;
}

export interface CopyResult {
  /** UIDVALIDITY of the destination. */
  uidValidity: number;
  /** [source uid, destination uid] for every message copied, in source UID order. */
  map: Array<[number, number]>;
}

/** The texts the full-text index keeps per message (src/search/text.ts SearchDocument), each lower case. */
export type TextField = 'subject' | 'from' | 'to' | 'cc' | 'bcc' | 'headers' | 'body';
export const TEXT_FIELDS: readonly TextField[] = ['subject', 'from', 'to', 'cc', 'bcc', 'headers', 'body'];

/**
 * A full-text index of messages (docs/store.md "Full-text index"), filled after the messages are
 * stored (never on the path that acknowledges them) by src/search/indexer.ts. Per mailbox it keeps
 * a progress mark: every message of the mailbox's current UIDVALIDITY with a UID up to the mark is
 * indexed, so a crash loses no index work and a search knows which messages it must still read.
 * Entries of expunged messages may linger (UIDs are never reused, and every candidate is checked
 * against the message), so the index only ever narrows a search.
 */
export interface TextIndex {
  /** The mark: every message with a UID ≤ it is indexed (0 when none is, or the UIDVALIDITY differs). */
  progress(mailboxId: number, uidValidity: number): Promise<number>;
  /**
   * The UIDs (≤ upTo, the mark) whose text in one of `fields` may contain `needle` (already lower
   * case): a superset of those whose text does contain it. null when the index cannot narrow this
   * needle (shorter than 3 characters).
   */
  candidates(mailboxId: number, uidValidity: number, fields: readonly TextField[], needle: string): Promise<{ uids: number[]; upTo: number } | null>;
  /**
   * Adds the texts of messages (UIDs above the mark; others are skipped, so two indexers may race)
   * and moves the mark to upTo, in one transaction. Another UIDVALIDITY than the one indexed
   * first drops the mailbox's entries.
   */
  put(mailboxId: number, uidValidity: number, docs: ReadonlyArray<{ uid: number; text: Record<TextField, string> }>, upTo: number): Promise<void>;
  /** Drops the entries of expunged messages. */
  remove(mailboxId: number, uids: readonly number[]): Promise<void>;
  /** Drops a mailbox's entries and mark (deleted, or to be indexed again). */
  dropMailbox(mailboxId: number): Promise<void>;
  close(): Promise<void>;
}

export interface Store {
  readonly blobs: BlobStore;
  readonly changes: ChangeFeed;
  /**
   * The read barrier, for a backend whose commits can be visible before they are durable (SQLite
   * with the WAL synced after COMMIT: docs/store.md "Durability"): null when everything committed
   * is on disk, else a promise that resolves when it is. Protocol sessions await it before a
   * command reads, so a client never sees a change a power cut could take back. Absent: commits
   * are durable before they are visible (PostgreSQL).
   */
  durable?(): Promise<void> | null;
  /**
   * The full-text index of messages' searchable text (src/search), or absent: then IMAP SEARCH
   * scans the messages. The SQLite backend has one; the PostgreSQL backend has none yet.
   */
  readonly textIndex?: TextIndex;
  /** Sieve scripts and the memory of Sieve at delivery (see SieveStore below). */
  readonly sieve: SieveStore;
  /** Bearer tokens of the admin API (see ApiTokenStore below). */
  readonly apiTokens: ApiTokenStore;
  /** IMAP METADATA entries of mailboxes and of the server (see MetadataStore below). */
  readonly metadata: MetadataStore;

  // Domains
  addDomain(name: string): Promise<Domain>;
  /** Refuses (not-empty) while the domain has accounts or aliases. */
  removeDomain(name: string): Promise<void>;
  listDomains(): Promise<Domain[]>;
  isLocalDomain(name: string): Promise<boolean>;

  // Accounts
  /** Creates the account and its DEFAULT_MAILBOXES. The domain must exist. */
  addAccount(address: string, passwordHash: string, quota?: number): Promise<Account>;
  /** Removes the account, its mailboxes and messages (blob references released), and aliases targeting only it. */
  removeAccount(address: string): Promise<void>;
  getAccount(address: string): Promise<Account | null>;
  getAccountById(id: number): Promise<Account | null>;
  listAccounts(domain?: string): Promise<Account[]>;
  setPassword(address: string, passwordHash: string): Promise<void>;
  setQuota(address: string, quota: number): Promise<void>;

  // Aliases
  /** Targets are local or remote addresses; an alias loop is refused (alias-loop). */
  addAlias(address: string, targets: string[]): Promise<Alias>;
  removeAlias(address: string): Promise<void>;
  listAliases(domain?: string): Promise<Alias[]>;
  /**
   * Expands an address through aliases (recursively, catch-all last) to local accounts and
   * remote addresses, de-duplicated. postmaster@ and abuse@ of a local domain that are neither
   * an account nor an alias go to the domain's oldest account, before the catch-all
   * (store/recipients.ts; RFC 5321 §4.5.1, RFC 2142 §4). null when the domain is local but
   * nothing matches, or the domain is not local.
   */
  resolveRecipient(address: string): Promise<{ accounts: Account[]; remote: string[] } | null>;
  /**
   * The addresses an account may send as: its own and every alias that expands to it (a
   * catch-all that expands to it appears as "@domain").
   */
  sendableAddresses(accountId: number): Promise<string[]>;

  // Mailboxes
  listMailboxes(accountId: number): Promise<Mailbox[]>;
  /** "inbox" in any case finds INBOX. */
  getMailbox(accountId: number, name: string): Promise<Mailbox | null>;
  getMailboxById(mailboxId: number): Promise<Mailbox | null>;
  /** Missing parents ("a" for "a/b") are created too (RFC 9051 §6.3.4); one trailing "/" is ignored. Bad names: 'invalid'. */
  createMailbox(accountId: number, name: string, opts?: { specialUse?: SpecialUse }): Promise<Mailbox>;
  /** Deletes the mailbox and its messages. INBOX is forbidden. Children are left alone (the IMAP layer decides per RFC 9051 §6.3.5). */
  deleteMailbox(accountId: number, name: string): Promise<void>;
  /**
   * Renames the mailbox and its children. Renaming INBOX moves all its messages into a new
   * mailbox with the new name and leaves INBOX empty (RFC 9051 §6.3.6).
   * Missing parents of the new name are created; renaming a mailbox below itself is 'invalid'.
   */
  renameMailbox(accountId: number, oldName: string, newName: string): Promise<void>;
  /** Unsubscribing a name whose mailbox was deleted (see listLostSubscriptions) is allowed; subscribing needs the mailbox. */
  setSubscribed(accountId: number, name: string, subscribed: boolean): Promise<void>;
  /**
   * Names that stay subscribed after their mailbox was deleted (RFC 9051 §6.3.7: the server
   * never drops a subscription by itself), until unsubscribed. A name may exist again as a
   * mailbox (created or renamed to): it is then subscribed.
   */
  listLostSubscriptions(accountId: number): Promise<string[]>;
  mailboxStatus(mailboxId: number): Promise<MailboxStatus>;
  /**
   * \Recent for IMAP4rev1 (RFC 3501 §2.3.2): returns the UID up to which messages are no longer
   * recent for this caller (messages with a higher UID are \Recent to it) and moves the mailbox's
   * mark to uidNext-1, so only one session sees each message as recent.
   */
  claimRecent(mailboxId: number): Promise<number>;

  // Messages
  /** Messages in UID order; uids in [fromUid, toUid], at most `limit` (page large mailboxes). */
  listMessages(mailboxId: number, opts?: { fromUid?: number; toUid?: number; limit?: number }): Promise<MessageMeta[]>;
  getMessages(mailboxId: number, uids: number[]): Promise<MessageMeta[]>;
  /**
   * The mailbox index's columns (src/imap/index) of the messages with a UID above `afterUid`, in
   * UID order, at most `limit`: compact rows, no message objects (one short query per page, keyed
   * by UID, not OFFSET).
   */
  listIndexRows(mailboxId: number, afterUid: number, limit: number): Promise<IndexRow[]>;
  /** The parsed structure kept with the message (never re-parsed). */
  getStructure(mailboxId: number, uid: number): Promise<MessageStructure | null>;
  /** The parsed structures of several messages in one query per page (IMAP SORT/THREAD over a whole mailbox); expunged ones are missing. */
  getStructures(mailboxId: number, uids: number[]): Promise<Map<number, MessageStructure>>;
  /**
   * RFC 8970 PREVIEW: the previews kept for these blobs (each computed once, from the message's
   * text, and kept with setPreview; every copy of a message shares its blob's). Blobs without
   * one are missing from the map.
   */
  getPreviews(blobIds: string[]): Promise<Map<string, string>>;
  /** Keeps a blob's preview; the first one kept stays (two sessions may compute it at once). Durable on resolve. */
  setPreview(blobId: string, preview: string): Promise<void>;
  /**
   * Local delivery: one staged blob into several accounts, each atomically under its quota.
   * Durable when the promise resolves (group commit); one result per target, in order.
   */
  deliver(blob: StagedBlob, targets: DeliveryTarget[]): Promise<DeliveryResult[]>;
  /** IMAP APPEND: durable on resolve; over-quota and not-found as StoreError. */
  appendMessage(accountId: number, mailbox: string, blob: StagedBlob, opts?: { flags?: string[]; internalDate?: Date }): Promise<{ uid: number; uidValidity: number; mailboxId: number }>;
  /**
   * IMAP MULTIAPPEND (RFC 3502 §6.3.11: all the messages or none) and REPLACE (RFC 8508 §3.3:
   * the new message appended and the old one expunged together): appends every item to one
   * mailbox in one transaction, in order (consecutive UIDs); with `expunge`, those UIDs of a
   * mailbox of the same account are removed in the same transaction, before the quota is charged.
   * Durable on resolve; over-quota and not-found as StoreError, and then nothing has changed.
   */
  appendMessages(accountId: number, mailbox: string, items: AppendItem[], opts?: { expunge?: { mailboxId: number; uids: number[] } }): Promise<{ uids: number[]; uidValidity: number; mailboxId: number }>;
  updateFlags(mailboxId: number, uids: number[], update: FlagUpdate): Promise<{ changed: Array<{ uid: number; flags: string[]; modseq: number }>; failed: number[] }>;
  /**
   * Removes the messages (quota usage drops, blob references released). Returns the UIDs removed.
   * Every removal (expunge, the source side of a move) is remembered with its mod-sequence for
   * expungedSince.
   */
  expunge(mailboxId: number, uids: number[]): Promise<number[]>;
  /**
   * RFC 7162 §3.2.5.2 (QRESYNC's VANISHED (EARLIER)): the UIDs removed from the mailbox in a change
   * whose mod-sequence is above `modseq`, ascending. The history is kept as long as the mailbox
   * exists (deleting the mailbox drops it; its UIDVALIDITY is never reused).
   */
  expungedSince(mailboxId: number, modseq: number): Promise<number[]>;
  /** Copies under the destination account's quota (over-quota: nothing copied). */
  copyMessages(srcMailboxId: number, uids: number[], dstMailboxId: number): Promise<CopyResult>;
  /** Atomic move: copy + expunge in one transaction. */
  moveMessages(srcMailboxId: number, uids: number[], dstMailboxId: number): Promise<CopyResult>;

  /**
   * Consistency check (maintenance, the contract suite): one line per problem found (a message
   * whose blob is missing, a reference count or quota usage that does not add up, an orphan file);
   * tempFiles counts temporary files present right now (in-flight writes, or a crash's leftovers).
   */
  verify?(): Promise<{ problems: string[]; tempFiles: number }>;

  /**
   * RFC 1939 §4: the exclusive-access lock on an account's maildrop (one POP3 session per
   * maildrop). Held for every process sharing the store: in-process with SQLite (one server per
   * data directory), a database lock with PostgreSQL (every node). null when held elsewhere; the
   * release function is idempotent.
   */
  lockMaildrop(accountId: number): Promise<(() => Promise<void>) | null>;

  close(): Promise<void>;
}

// ---------------------------------------------------------------- Sieve (docs/managesieve.md)

/** A user's Sieve script as listed (RFC 5804 §2.7 LISTSCRIPTS). */
export interface SieveScriptInfo {
  name: string;
  /** At most one script of an account is active (RFC 5804 §2.8). */
  active: boolean;
  /** Octets of the script text (UTF-8). */
  size: number;
  updatedAt: Date;
}

export interface SieveScript extends SieveScriptInfo {
  text: string;
}

/**
 * Sieve scripts per account (named, one active), global scripts for `include :global`
 * (RFC 6609 §3.2), and what delivery must remember durably: vacation replies sent (RFC 5230
 * §4.2), duplicate tracking (RFC 7352) and redirects per day. Script names are compared exactly
 * (RFC 5804 §1.6: names are case-sensitive). Writes are durable when the promise resolves.
 * Errors: not-found (no such account or script), exists (RENAMESCRIPT to a taken name),
 * forbidden (deleting the active script, RFC 5804 §2.10), over-quota (maxScripts or maxBytes),
 * invalid (a bad name).
 */
export interface SieveStore {
  listScripts(accountId: number): Promise<SieveScriptInfo[]>;
  getScript(accountId: number, name: string): Promise<SieveScript | null>;
  /** The active script, or null when none is. */
  getActiveScript(accountId: number): Promise<SieveScript | null>;
  /**
   * Creates or replaces a script (its active state is kept). Refused with over-quota when the text
   * is longer than maxBytes octets or a new name would make more than maxScripts scripts (0 = no limit).
   */
  putScript(accountId: number, name: string, text: string, quota: { maxScripts: number; maxBytes: number }): Promise<void>;
  /** RFC 5804 §2.10: the active script cannot be deleted (forbidden). */
  deleteScript(accountId: number, name: string): Promise<void>;
  /** RFC 5804 §2.11: the active script stays active under its new name. */
  renameScript(accountId: number, oldName: string, newName: string): Promise<void>;
  /** Makes `name` the only active script; null deactivates every script (RFC 5804 §2.8). */
  setActive(accountId: number, name: string | null): Promise<void>;

  listGlobalScripts(): Promise<SieveScriptInfo[]>;
  getGlobalScript(name: string): Promise<SieveScript | null>;
  putGlobalScript(name: string, text: string): Promise<void>;
  deleteGlobalScript(name: string): Promise<void>;

  /**
   * RFC 5230 §4.2: may a vacation reply go to `sender` for `handle` now? True when none was
   * remembered or the memory expired; then it is remembered until `until` (durable on resolve).
   */
  vacationReserve(accountId: number, sender: string, handle: string, now: Date, until: Date): Promise<boolean>;
  /** RFC 7352 §3: true when `id` was seen (and has not expired); otherwise remembers it until `until`. */
  duplicateSeen(accountId: number, id: string, now: Date, until: Date): Promise<boolean>;
  /** Counts `n` redirects on the account's `day` ("YYYY-MM-DD") if that stays within `max`; false (nothing counted) otherwise. */
  reserveRedirects(accountId: number, day: string, n: number, max: number): Promise<boolean>;
  /** Forgets vacation and duplicate memories that expired before `now`, and old redirect counts. */
  pruneSieveMemory(now: Date): Promise<void>;
}

// ---------------------------------------------------------------- Admin API tokens (docs/api.md)

/** An admin API token as listed (the secret is never stored, only its SHA-256). */
export interface ApiToken {
  name: string;
  createdAt: Date;
  /** Null until first used. */
  lastUsedAt: Date | null;
}

/** Bearer tokens of the admin API, kept by the SHA-256 of their secret (hex). */
export interface ApiTokenStore {
  /** Stores a new token; StoreError('exists') when the name is taken. */
  createApiToken(name: string, secretHash: string, now: Date): Promise<ApiToken>;
  /** Every token, by name. */
  listApiTokens(): Promise<ApiToken[]>;
  /** The token whose secret has this hash (with the stored hash, for a constant-time compare); null for unknown or revoked ones. */
  findApiToken(secretHash: string): Promise<(ApiToken & { secretHash: string }) | null>;
  /** Records a use: last used becomes `now` (never moves back). */
  touchApiToken(name: string, now: Date): Promise<void>;
  /** Deletes the token, so its secret matches nothing; StoreError('not-found') when there is none by that name. */
  revokeApiToken(name: string): Promise<void>;
}

// ---------------------------------------------------------------- IMAP METADATA (docs/imap.md "METADATA")

/** One METADATA entry (RFC 5464 §3.2): its name, lower case ("/private/comment"), and its value's octets. */
export interface MetadataEntry {
  name: string;
  value: Buffer;
}

/** What one account may keep (0 = no limit). */
export interface MetadataLimits {
  /** Entries per mailbox, and entries of the server (RFC 5464 §4.3 TOOMANY). */
  maxEntries: number;
  /** Octets of every entry's name and value over the whole account. */
  maxTotalBytes: number;
}

/**
 * IMAP METADATA (RFC 5464) entries of an account: per mailbox (its id) and of the server (null),
 * private and shared alike (the name says which). A mailbox's entries go with it when it is
 * deleted and stay with it when it is renamed (they are kept by mailbox id); an account's go
 * with the account. Names are stored as given: callers validate and lower-case them
 * (src/imap/commands/metadata.ts). Writes are durable when the promise resolves.
 */
export interface MetadataStore {
  /**
   * The entries of the target named in `names`, and with depth 1 those one level below each name,
   * with 'infinity' every level below (RFC 5464 §4.2.2), by name (code point order), each once.
   * StoreError not-found when the mailbox is not the account's.
   */
  getMetadata(accountId: number, mailboxId: number | null, names: readonly string[], depth: 0 | 1 | 'infinity'): Promise<MetadataEntry[]>;
  /**
   * Sets (value) or deletes (null) entries of the target, all or none (RFC 5464 §4.3), and
   * publishes a metadata-changed event. StoreError over-quota when the target would have more
   * than limits.maxEntries entries or the account more than limits.maxTotalBytes; not-found when
   * the mailbox (or account) does not exist.
   */
  setMetadata(accountId: number, mailboxId: number | null, entries: ReadonlyArray<{ name: string; value: Buffer | null }>, limits: MetadataLimits): Promise<void>;
}
