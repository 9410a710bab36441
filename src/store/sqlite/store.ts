// The embedded Store: metadata in SQLite (better-sqlite3, WAL, synchronous=FULL, foreign keys),
// raw messages as content-addressed files (blobs.ts). Every write goes through the group
// committer (commit.ts); reads are short synchronous queries, paged where results can be big.
import Database from 'better-sqlite3';
import { dirname, join } from 'node:path';
import type { Logger } from '../../log/logger.js';
import type { MessageStructure } from '../../message/types.js';
import { BlobFiles } from '../blobs.js';
import { SHORT_BLOB, type Assembled, type AssemblyPart } from '../blob-reader.js';
import { Readable } from 'node:stream';
import { SqliteChangeFeed } from './change-log.js';
import { isRoleAddress } from '../recipients.js';
import {
  DEFAULT_MAILBOXES,
  StoreError,
  type Account,
  type Alias,
  type BlobStore,
  type AppendItem,
  type CopyResult,
  type DeliveryResult,
  type DeliveryTarget,
  type Domain,
  type FlagUpdate,
  type IndexRow,
  type Mailbox,
  type MailboxStatus,
  type MessageMeta,
  type SpecialUse,
  type StagedBlob,
  type Store,
  type TextIndex,
} from '../types.js';
import {
  applyFlagUpdate,
  DELIMITER,
  domainOf,
  FLAG_DELETED,
  FLAG_SEEN,
  formatFlags,
  normalizeAddress,
  normalizeDomain,
  normalizeMailboxName,
  parentNames,
  parseFlags,
  sameFlags,
  type FlagSet,
} from '../validate.js';
import { StoreCommitter, type TxContext } from './commit.js';
import { openStoreDatabase } from './schema.js';
import { SqliteSieveStore } from './sieve.js';
import { SqliteMetadataStore } from './metadata.js';
import { SqliteApiTokenStore } from './tokens.js';
import { SqliteTextIndex } from '../../search/fts.js';
import { StatementCache } from '../../db/sqlite/statements.js';
import { BackgroundCheckpointer } from '../../db/sqlite/checkpoint.js';
import { ACCOUNT_SELECT, MESSAGE_COLUMNS, PAGE, SPECIAL_USES, checkQuota, chunks, toAccount, toMailbox, toMetaFromArray, type AccountRow, type MessageRowArray, type Counts, type MailboxRow } from '../rows.js';


export class SqliteStore implements Store {
  readonly blobs: BlobStore;
  /** In-process, plus other processes' changes for subscribers (change-log.ts). */
  readonly changes: SqliteChangeFeed;
  readonly files: BlobFiles;
  readonly committer: StoreCommitter;
  /** Sieve scripts and delivery memory (sieve.ts). */
  readonly sieve: SqliteSieveStore;
  /** Admin API tokens (tokens.ts). */
  readonly apiTokens: SqliteApiTokenStore;
  /** IMAP METADATA entries (metadata.ts). */
  readonly metadata: SqliteMetadataStore;
  /** The full-text index, <dataDir>/search.sqlite (src/search/fts.ts); none for an in-memory database. */
  readonly textIndex: TextIndex | undefined;
  /** Runs the WAL's checkpoints (null for an in-memory database). */
  readonly checkpointer: BackgroundCheckpointer | null;
  private readonly statements: StatementCache;

  constructor(
    /** The database handle, for modules that keep their own tables here (see migrate.ts). */
    readonly db: Database.Database,
    files: BlobFiles,
    private readonly logger: Logger,
    /** Runs after the last write, before the database closes. */
    private readonly onClose: (db: Database.Database) => Promise<void>,
  ) {
    this.statements = new StatementCache(db);
    this.files = files;
    this.changes = new SqliteChangeFeed(db, logger);
    // WAL checkpoints in a thread of their own (src/db/sqlite/checkpoint.ts), not inside a COMMIT on the main thread.
    this.checkpointer = db.memory ? null : new BackgroundCheckpointer(db);
    this.committer = new StoreCommitter(db, files, this.changes, logger, (events) => this.changes.record(events), () => this.checkpointer?.noteCommit());
    this.sieve = new SqliteSieveStore(db, (fn) => this.committer.run(() => fn()));
    this.apiTokens = new SqliteApiTokenStore(db, (fn) => this.committer.run(() => fn()));
    this.metadata = new SqliteMetadataStore(db, (fn) => this.committer.run((ctx) => fn(ctx.events)));
    this.textIndex = db.memory ? undefined : new SqliteTextIndex(join(dirname(db.name), 'search.sqlite'));
    this.blobs = {
      createWriter: (options) => files.createWriter(options),
      stage: (bytes) => files.stage(bytes),
      openStaged: (staged) => files.openStaged(staged),
      open: (id, range) => {
        const inline = this.inlineBlobs([id]).get(id);
        return inline ? Readable.from([slice(inline, range)]) : files.open(id, range);
      },
      read: async (id, range) => {
        const inline = this.inlineBlobs([id]).get(id);
        return inline ? Buffer.from(slice(inline, range)) : files.read(id, range);
      },
      readMany: (ranges) => this.readMany(ranges),
      assemble: (messages) => this.assemble(messages),
      discard: (staged) => files.discard(staged),
      retain: (staged) =>
        this.committer.run((ctx) => {
          this.addBlobRef(ctx, staged, true);
          return staged.id;
        }, [staged]),
      release: (blobId) =>
        this.committer.run((ctx) => {
          const row = this.q('SELECT held FROM blobs WHERE id = ?').get(blobId) as { held: number } | undefined;
          if (!row || row.held <= 0) throw new StoreError('not-found', `blob ${blobId} holds no retained reference`);
          this.q('UPDATE blobs SET held = held - 1 WHERE id = ?').run(blobId);
          this.releaseBlobRef(ctx, blobId);
        }),
    };
  }

  /**
   * Whether any blob is kept in its row (docs/store.md "Small messages in the database"): a store
   * with none (all files, e.g. made before version 6) never looks for one.
   */
  private hasInline: boolean | undefined;

  /** The bytes of the given blobs that are kept in their rows (small messages); files are absent. */
  private inlineBlobs(ids: readonly string[]): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    this.hasInline ??= this.q('SELECT 1 FROM blob_content LIMIT 1').get() !== undefined;
    if (!this.hasInline || !ids.length) return out;
    if (ids.length === 1) {
      const row = this.q('SELECT content FROM blob_content WHERE id = ?').get(ids[0]) as { content: Buffer } | undefined;
      if (row) out.set(ids[0]!, row.content);
      return out;
    }
    const rows = this.q('SELECT id, content FROM blob_content WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify([...new Set(ids)])) as Array<{ id: string; content: Buffer }>;
    for (const r of rows) out.set(r.id, r.content);
    return out;
  }

  /** BlobStore.readMany: ranges of blobs kept in their rows from there, the rest from the files. */
  private async readMany(ranges: ReadonlyArray<{ blobId: string; start: number; end: number }>): Promise<Array<Buffer | null>> {
    const inline = this.inlineBlobs(ranges.map((r) => r.blobId));
    if (!inline.size) return this.files.readMany(ranges);
    return readSplit(
      ranges,
      (r) => {
        const bytes = inline.get(r.blobId);
        return bytes && slice(bytes, r);
      },
      (rest) => this.files.readMany(rest),
    );
  }

  /**
   * BlobStore.assemble: the ranges of blobs kept in their rows become bytes of the response here;
   * when no file range is left the response is put together on this thread (a copy of bytes
   * already in memory), else the reader thread reads the files' ranges.
   */
  private async assemble(messages: ReadonlyArray<ReadonlyArray<AssemblyPart>>): Promise<Assembled> {
    const ids: string[] = [];
    for (const parts of messages) for (const p of parts) if (typeof p === 'object' && !Buffer.isBuffer(p)) ids.push(p.blobId);
    const inline = this.inlineBlobs(ids);
    if (!inline.size) return this.files.assemble(messages);
    // A range past the end of a row's bytes: the message is reported as the reader thread reports
    // a short file, and its parts are left out.
    const short = new Set<number>();
    let files = false;
    const resolved = messages.map((parts, i): AssemblyPart[] => {
      const out: AssemblyPart[] = [];
      for (const p of parts) {
        if (typeof p === 'string' || Buffer.isBuffer(p)) out.push(p);
        else {
          const bytes = inline.get(p.blobId);
          if (!bytes) {
            files = true;
            out.push(p);
          } else if (p.end > bytes.length) {
            short.add(i);
            return [];
          } else out.push(slice(bytes, p));
        }
      }
      return out;
    });
    // without a file range every part is text or bytes: put together here, no thread needed
    const r = files ? await this.files.assemble(resolved) : { data: joinParts(resolved as Array<Array<string | Buffer>>), failed: resolved.map((): null | 'gone' | string => null) };
    for (const i of short) r.failed[i] = SHORT_BLOB;
    return r;
  }

  /** The read barrier (Store.durable): the group committer's WAL sync. */
  durable(): Promise<void> | null {
    return this.committer.durable();
  }

  /** Opens (creating) the database file and runs migrations. */
  static openDatabase(path: string): Database.Database {
    return openStoreDatabase(path);
  }

  /** A cached prepared statement. */
  private q(sql: string): Database.Statement {
    return this.statements.get(sql);
  }

  // ---------------------------------------------------------------- domains

  async addDomain(name: string): Promise<Domain> {
    const domain = normalizeDomain(name);
    return this.committer.run(() => {
      if (this.q('SELECT 1 FROM domains WHERE name = ?').get(domain)) throw new StoreError('exists', `domain ${domain} already exists`);
      const now = Date.now();
      this.q('INSERT INTO domains (name, created_at) VALUES (?, ?)').run(domain, now);
      return { name: domain, createdAt: new Date(now) };
    });
  }

  async removeDomain(name: string): Promise<void> {
    const domain = normalizeDomain(name);
    return this.committer.run(() => {
      const row = this.q('SELECT id FROM domains WHERE name = ?').get(domain) as { id: number } | undefined;
      if (!row) throw new StoreError('not-found', `domain ${domain} does not exist`);
      const accounts = (this.q('SELECT COUNT(*) AS n FROM accounts WHERE domain_id = ?').get(row.id) as { n: number }).n;
      const aliases = (this.q('SELECT COUNT(*) AS n FROM aliases WHERE domain_id = ?').get(row.id) as { n: number }).n;
      if (accounts + aliases > 0) {
        throw new StoreError('not-empty', `domain ${domain} still has ${accounts} account(s) and ${aliases} alias(es); remove them first`);
      }
      this.q('DELETE FROM domains WHERE id = ?').run(row.id);
    });
  }

  async listDomains(): Promise<Domain[]> {
    const rows = this.q('SELECT name, created_at FROM domains ORDER BY name').all() as Array<{ name: string; created_at: number }>;
    return rows.map((r) => ({ name: r.name, createdAt: new Date(r.created_at) }));
  }

  async isLocalDomain(name: string): Promise<boolean> {
    let domain: string;
    try {
      domain = normalizeDomain(name);
    } catch {
      return false;
    }
    return this.domainId(domain) !== null;
  }

  private domainId(domain: string): number | null {
    const row = this.q('SELECT id FROM domains WHERE name = ?').get(domain) as { id: number } | undefined;
    return row ? row.id : null;
  }

  // ---------------------------------------------------------------- accounts

  async addAccount(address: string, passwordHash: string, quota = 0): Promise<Account> {
    const addr = normalizeAddress(address);
    checkQuota(quota);
    if (typeof passwordHash !== 'string' || passwordHash.length === 0) throw new StoreError('invalid', 'empty password hash');
    return this.committer.run(() => {
      const domainId = this.domainId(domainOf(addr));
      if (domainId === null) throw new StoreError('not-found', `domain ${domainOf(addr)} is not a local domain (add it first)`);
      if (this.accountRow(addr)) throw new StoreError('exists', `account ${addr} already exists`);
      if (this.q('SELECT 1 FROM aliases WHERE address = ?').get(addr)) throw new StoreError('exists', `${addr} already exists as an alias`);
      const now = Date.now();
      const id = Number(
        this.q('INSERT INTO accounts (address, domain_id, password_hash, quota, usage, created_at) VALUES (?, ?, ?, ?, 0, ?)').run(addr, domainId, passwordHash, quota, now)
          .lastInsertRowid,
      );
      for (const m of DEFAULT_MAILBOXES) this.insertMailbox(id, m.name, m.specialUse, true);
      return toAccount(this.accountRowById(id)!);
    });
  }

  async removeAccount(address: string): Promise<void> {
    const addr = normalizeAddress(address);
    return this.committer.run((ctx) => {
      const acc = this.accountRow(addr);
      if (!acc) throw new StoreError('not-found', `account ${addr} does not exist`);
      const boxes = this.q('SELECT id, name FROM mailboxes WHERE account_id = ?').all(acc.id) as Array<{ id: number; name: string }>;
      for (const b of boxes) {
        this.dropMessages(ctx, b.id);
        this.q('DELETE FROM mailboxes WHERE id = ?').run(b.id);
        // Sessions with one of them selected (IMAP) end: the account is gone.
        ctx.events.push({ type: 'mailbox-deleted', accountId: acc.id, mailboxId: b.id, name: b.name });
      }
      // Aliases pointing at the account lose that target; an alias left with none goes.
      const aliasIds = this.q('SELECT DISTINCT alias_id FROM alias_targets WHERE target = ?').all(addr) as Array<{ alias_id: number }>;
      this.q('DELETE FROM alias_targets WHERE target = ?').run(addr);
      for (const { alias_id } of aliasIds) {
        const left = (this.q('SELECT COUNT(*) AS n FROM alias_targets WHERE alias_id = ?').get(alias_id) as { n: number }).n;
        if (left === 0) this.q('DELETE FROM aliases WHERE id = ?').run(alias_id);
      }
      this.q('DELETE FROM accounts WHERE id = ?').run(acc.id);
    });
  }

  async getAccount(address: string): Promise<Account | null> {
    let addr: string;
    try {
      addr = normalizeAddress(address);
    } catch {
      return null;
    }
    const row = this.accountRow(addr);
    return row ? toAccount(row) : null;
  }

  async getAccountById(id: number): Promise<Account | null> {
    const row = this.accountRowById(id);
    return row ? toAccount(row) : null;
  }

  async listAccounts(domain?: string): Promise<Account[]> {
    const rows =
      domain === undefined
        ? (this.q(`${ACCOUNT_SELECT} ORDER BY a.address`).all() as AccountRow[])
        : (this.q(`${ACCOUNT_SELECT} WHERE d.name = ? ORDER BY a.address`).all(normalizeDomain(domain)) as AccountRow[]);
    return rows.map(toAccount);
  }

  async setPassword(address: string, passwordHash: string): Promise<void> {
    const addr = normalizeAddress(address);
    if (typeof passwordHash !== 'string' || passwordHash.length === 0) throw new StoreError('invalid', 'empty password hash');
    return this.committer.run(() => {
      if (this.q('UPDATE accounts SET password_hash = ? WHERE address = ?').run(passwordHash, addr).changes === 0) {
        throw new StoreError('not-found', `account ${addr} does not exist`);
      }
    });
  }

  async setQuota(address: string, quota: number): Promise<void> {
    const addr = normalizeAddress(address);
    checkQuota(quota);
    return this.committer.run(() => {
      if (this.q('UPDATE accounts SET quota = ? WHERE address = ?').run(quota, addr).changes === 0) {
        throw new StoreError('not-found', `account ${addr} does not exist`);
      }
    });
  }

  private accountRow(address: string): AccountRow | undefined {
    return this.q(`${ACCOUNT_SELECT} WHERE a.address = ?`).get(address) as AccountRow | undefined;
  }

  private accountRowById(id: number): AccountRow | undefined {
    return this.q(`${ACCOUNT_SELECT} WHERE a.id = ?`).get(id) as AccountRow | undefined;
  }

  // ---------------------------------------------------------------- aliases

  async addAlias(address: string, targets: string[]): Promise<Alias> {
    const addr = normalizeAddress(address, { allowCatchAll: true });
    if (!Array.isArray(targets) || targets.length === 0) throw new StoreError('invalid', `alias ${addr} needs at least one target`);
    const list = [...new Set(targets.map((t) => normalizeAddress(t)))];
    return this.committer.run(() => {
      const domainId = this.domainId(domainOf(addr));
      if (domainId === null) throw new StoreError('not-found', `domain ${domainOf(addr)} is not a local domain (add it first)`);
      if (this.q('SELECT 1 FROM aliases WHERE address = ?').get(addr)) throw new StoreError('exists', `alias ${addr} already exists`);
      if (this.accountRow(addr)) throw new StoreError('exists', `${addr} already exists as an account`);
      const id = Number(this.q('INSERT INTO aliases (address, domain_id, created_at) VALUES (?, ?, ?)').run(addr, domainId, Date.now()).lastInsertRowid);
      list.forEach((t, i) => this.q('INSERT INTO alias_targets (alias_id, position, target) VALUES (?, ?, ?)').run(id, i, t));
      const loop = this.findLoop(addr);
      if (loop) throw new StoreError('alias-loop', `alias ${addr} would make a loop: ${loop.join(' → ')}`);
      return { address: addr, targets: list };
    });
  }

  async removeAlias(address: string): Promise<void> {
    const addr = normalizeAddress(address, { allowCatchAll: true });
    return this.committer.run(() => {
      if (this.q('DELETE FROM aliases WHERE address = ?').run(addr).changes === 0) throw new StoreError('not-found', `alias ${addr} does not exist`);
    });
  }

  async listAliases(domain?: string): Promise<Alias[]> {
    const rows = (
      domain === undefined
        ? this.q('SELECT a.address, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id ORDER BY a.address, t.position').all()
        : this.q('SELECT a.address, t.target FROM aliases a JOIN domains d ON d.id = a.domain_id JOIN alias_targets t ON t.alias_id = a.id WHERE d.name = ? ORDER BY a.address, t.position').all(
            normalizeDomain(domain),
          )
    ) as Array<{ address: string; target: string }>;
    const out: Alias[] = [];
    for (const r of rows) {
      const last = out[out.length - 1];
      if (last && last.address === r.address) last.targets.push(r.target);
      else out.push({ address: r.address, targets: [r.target] });
    }
    return out;
  }

  private aliasTargets(address: string): string[] | null {
    const rows = this.q('SELECT t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id WHERE a.address = ? ORDER BY t.position').all(address) as Array<{ target: string }>;
    return rows.length ? rows.map((r) => r.target) : null;
  }

  /**
   * One step of expansion. An account is final; an alias leads to its targets; postmaster@ and
   * abuse@ of a local domain that are neither lead to the domain's oldest account (see
   * store/recipients.ts); any other address of a local domain leads to the domain's catch-all
   * ("@domain") if there is one.
   */
  private expandStep(address: string): { account?: AccountRow; next?: string[]; remote?: boolean } {
    if (address.startsWith('@')) return { next: this.aliasTargets(address) ?? [] };
    const acc = this.accountRow(address);
    if (acc) return { account: acc };
    const targets = this.aliasTargets(address);
    if (targets) return { next: targets };
    const domain = domainOf(address);
    const domainId = this.domainId(domain);
    if (domainId === null) return { remote: true };
    // RFC 5321 §4.5.1 (postmaster MUST be accepted at every domain we serve), RFC 2142 §4 (abuse).
    if (isRoleAddress(address)) {
      const first = this.q('SELECT address FROM accounts WHERE domain_id = ? ORDER BY created_at, id LIMIT 1').get(domainId) as { address: string } | undefined;
      if (first) return { next: [first.address] };
    }
    return { next: this.aliasTargets('@' + domain) ? ['@' + domain] : [] };
  }

  /** The cycle reachable from `start`, if any (depth-first search). */
  private findLoop(start: string): string[] | null {
    const done = new Set<string>();
    const path: string[] = [];
    const onPath = new Set<string>();
    const visit = (addr: string): string[] | null => {
      if (onPath.has(addr)) return [...path.slice(path.indexOf(addr)), addr];
      if (done.has(addr)) return null;
      onPath.add(addr);
      path.push(addr);
      for (const n of this.expandStep(addr).next ?? []) {
        const loop = visit(n);
        if (loop) return loop;
      }
      path.pop();
      onPath.delete(addr);
      done.add(addr);
      return null;
    };
    return visit(start);
  }

  private expand(address: string): { accounts: Account[]; remote: string[] } {
    const accounts = new Map<number, Account>();
    const remote = new Set<string>();
    const seen = new Set<string>();
    const stack = [address];
    while (stack.length) {
      const addr = stack.pop()!;
      if (seen.has(addr)) continue;
      seen.add(addr);
      const step = this.expandStep(addr);
      if (step.account) accounts.set(step.account.id, toAccount(step.account));
      else if (step.remote) remote.add(addr);
      else if (step.next) for (const n of [...step.next].reverse()) stack.push(n);
    }
    return { accounts: [...accounts.values()], remote: [...remote] };
  }

  async resolveRecipient(address: string): Promise<{ accounts: Account[]; remote: string[] } | null> {
    const addr = normalizeAddress(address);
    if (this.domainId(domainOf(addr)) === null) return null;
    const r = this.expand(addr);
    return r.accounts.length + r.remote.length > 0 ? r : null;
  }

  async sendableAddresses(accountId: number): Promise<string[]> {
    const acc = this.accountRowById(accountId);
    if (!acc) throw new StoreError('not-found', `account ${accountId} does not exist`);
    // Walk the alias graph backwards from the account (indexed by target), then confirm each
    // candidate forwards: only aliases that really expand to the account count.
    const candidates = new Set<string>();
    const queue = [acc.address];
    const byTarget = this.q('SELECT a.address FROM alias_targets t JOIN aliases a ON a.id = t.alias_id WHERE t.target = ?');
    // Targets in a domain that are neither accounts nor aliases fall through to its catch-all.
    const fallThrough = this.q(
      `SELECT DISTINCT a.address FROM alias_targets t JOIN aliases a ON a.id = t.alias_id
        WHERE t.target LIKE '%' || ? ESCAPE '\\'
          AND t.target NOT IN (SELECT address FROM accounts) AND t.target NOT IN (SELECT address FROM aliases)`,
    );
    while (queue.length > 0) {
      const node = queue.pop()!;
      const parents = (byTarget.all(node) as Array<{ address: string }>).map((r) => r.address);
      if (node.startsWith('@')) parents.push(...(fallThrough.all(node.replace(/[\\%_]/g, (c) => '\\' + c)) as Array<{ address: string }>).map((r) => r.address));
      for (const p of parents) {
        if (!candidates.has(p)) {
          candidates.add(p);
          queue.push(p);
        }
      }
    }
    const out = [acc.address];
    for (const address of [...candidates].sort()) {
      if (this.expand(address).accounts.some((a) => a.id === accountId)) out.push(address);
    }
    return out;
  }

  // ---------------------------------------------------------------- mailboxes

  async listMailboxes(accountId: number): Promise<Mailbox[]> {
    const rows = this.q("SELECT * FROM mailboxes WHERE account_id = ? ORDER BY name != 'INBOX', name").all(accountId) as MailboxRow[];
    return rows.map(toMailbox);
  }

  async getMailbox(accountId: number, name: string): Promise<Mailbox | null> {
    let n: string;
    try {
      n = normalizeMailboxName(name);
    } catch {
      return null;
    }
    const row = this.mailboxRow(accountId, n);
    return row ? toMailbox(row) : null;
  }

  async getMailboxById(mailboxId: number): Promise<Mailbox | null> {
    const row = this.mailboxRowById(mailboxId);
    return row ? toMailbox(row) : null;
  }

  async createMailbox(accountId: number, name: string, opts?: { specialUse?: SpecialUse }): Promise<Mailbox> {
    // RFC 9051 §6.3.4: a trailing hierarchy delimiter means the name without it.
    const n = normalizeMailboxName(name.endsWith(DELIMITER) && name.length > 1 ? name.slice(0, -1) : name);
    const specialUse = opts?.specialUse ?? null;
    if (specialUse !== null && !SPECIAL_USES.has(specialUse)) throw new StoreError('invalid', `unknown special-use ${specialUse}`);
    return this.committer.run((ctx) => {
      this.requireAccount(accountId);
      if (this.mailboxRow(accountId, n)) throw new StoreError('exists', `mailbox ${n} already exists`);
      // RFC 9051 §6.3.4: the server SHOULD create any superior hierarchical names that are needed.
      for (const parent of parentNames(n)) {
        if (!this.mailboxRow(accountId, parent)) {
          const id = this.insertMailbox(accountId, parent, null, false);
          ctx.events.push({ type: 'mailbox-created', accountId, mailboxId: id, name: parent });
        }
      }
      const id = this.insertMailbox(accountId, n, specialUse, false);
      ctx.events.push({ type: 'mailbox-created', accountId, mailboxId: id, name: n });
      return toMailbox(this.mailboxRowById(id)!);
    });
  }

  async deleteMailbox(accountId: number, name: string): Promise<void> {
    const n = normalizeMailboxName(name);
    if (n === 'INBOX') throw new StoreError('forbidden', 'INBOX cannot be deleted');
    return this.committer.run((ctx) => {
      const box = this.mailboxRow(accountId, n);
      if (!box) throw new StoreError('not-found', `mailbox ${n} does not exist`);
      this.dropMessages(ctx, box.id);
      this.q('DELETE FROM mailboxes WHERE id = ?').run(box.id);
      // RFC 9051 §6.3.7: the subscription outlives the mailbox.
      if (box.subscribed) this.q('INSERT OR IGNORE INTO lost_subscriptions (account_id, name) VALUES (?, ?)').run(accountId, n);
      ctx.events.push({ type: 'mailbox-deleted', accountId, mailboxId: box.id, name: n });
    });
  }

  async renameMailbox(accountId: number, oldName: string, newName: string): Promise<void> {
    const from = normalizeMailboxName(oldName);
    const to = normalizeMailboxName(newName);
    return this.committer.run((ctx) => {
      const box = this.mailboxRow(accountId, from);
      if (!box) throw new StoreError('not-found', `mailbox ${from} does not exist`);
      if (this.mailboxRow(accountId, to)) throw new StoreError('exists', `mailbox ${to} already exists`);
      if (from === 'INBOX') {
        this.renameInbox(ctx, box, to);
        return;
      }
      if (to.startsWith(from + DELIMITER)) throw new StoreError('invalid', `cannot rename ${from} into itself (${to})`);
      // RFC 9051 §6.3.6: inferior hierarchical names are renamed too.
      const children = (this.q("SELECT * FROM mailboxes WHERE account_id = ? AND substr(name, 1, ?) = ? ORDER BY name").all(accountId, from.length + 1, from + DELIMITER) as MailboxRow[]);
      const moves: Array<[MailboxRow, string]> = [[box, to], ...children.map((c): [MailboxRow, string] => [c, to + c.name.slice(from.length)])];
      for (const [, target] of moves.slice(1)) {
        if (this.mailboxRow(accountId, target)) throw new StoreError('exists', `mailbox ${target} already exists`);
      }
      // RFC 9051 §6.3.6: superior hierarchical names of the new name are created if needed.
      this.createParents(ctx, accountId, to);
      for (const [row, target] of moves) {
        this.q('UPDATE mailboxes SET name = ? WHERE id = ?').run(target, row.id);
        ctx.events.push({ type: 'mailbox-renamed', accountId, mailboxId: row.id, name: target, oldName: row.name });
      }
    });
  }

  /**
   * RFC 9051 §6.3.6: renaming INBOX moves all its messages into a new mailbox with the new name
   * and leaves INBOX empty; mailboxes below INBOX are not renamed.
   */
  private renameInbox(ctx: TxContext, inbox: MailboxRow, to: string): void {
    const accountId = inbox.account_id;
    this.createParents(ctx, accountId, to);
    const newId = this.insertMailbox(accountId, to, null, false);
    ctx.events.push({ type: 'mailbox-created', accountId, mailboxId: newId, name: to });
    const uids = (this.q('SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid').all(inbox.id) as Array<{ uid: number }>).map((r) => r.uid);
    if (uids.length > 0) this.copyInTx(ctx, inbox.id, uids, newId, true);
  }

  private createParents(ctx: TxContext, accountId: number, name: string): void {
    for (const parent of parentNames(name)) {
      if (!this.mailboxRow(accountId, parent)) {
        const id = this.insertMailbox(accountId, parent, null, false);
        ctx.events.push({ type: 'mailbox-created', accountId, mailboxId: id, name: parent });
      }
    }
  }

  async setSubscribed(accountId: number, name: string, subscribed: boolean): Promise<void> {
    const n = normalizeMailboxName(name);
    return this.committer.run((ctx) => {
      const box = this.mailboxRow(accountId, n);
      if (!subscribed) this.q('DELETE FROM lost_subscriptions WHERE account_id = ? AND name = ?').run(accountId, n);
      if (!box && !subscribed) return; // RFC 9051 §6.3.8: a name whose mailbox is gone can be unsubscribed
      if (!box) throw new StoreError('not-found', `mailbox ${n} does not exist`);
      this.q('UPDATE mailboxes SET subscribed = ? WHERE id = ?').run(subscribed ? 1 : 0, box.id);
      ctx.events.push({ type: 'mailbox-subscription', accountId, mailboxId: box.id, subscribed });
    });
  }

  async listLostSubscriptions(accountId: number): Promise<string[]> {
    return (this.q('SELECT name FROM lost_subscriptions WHERE account_id = ? ORDER BY name').all(accountId) as Array<{ name: string }>).map((r) => r.name);
  }

  async mailboxStatus(mailboxId: number): Promise<MailboxStatus> {
    const box = this.mailboxRowById(mailboxId);
    if (!box) throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
    const recent = (this.q('SELECT COUNT(*) AS n FROM messages WHERE mailbox_id = ? AND uid > ?').get(mailboxId, box.recent_uid) as { n: number }).n;
    return {
      messages: box.message_count,
      unseen: box.unseen_count,
      recent,
      uidNext: box.uid_next,
      uidValidity: box.uid_validity,
      highestModSeq: box.highest_modseq,
      size: box.total_size,
      deleted: box.deleted_count,
    };
  }

  /** Inside a transaction: moves a mailbox's STATUS counters by a delta. */
  private adjustCounts(mailboxId: number, d: Counts): void {
    this.q('UPDATE mailboxes SET message_count = message_count + ?, unseen_count = unseen_count + ?, deleted_count = deleted_count + ?, total_size = total_size + ? WHERE id = ?').run(
      d.messages,
      d.unseen,
      d.deleted,
      d.size,
      mailboxId,
    );
  }

  /** Inside a transaction: the counters of a set of messages of a mailbox. */
  private countsOf(mailboxId: number, uidList: string): Counts {
    return this.q(
      `SELECT COUNT(*) AS messages, COALESCE(SUM((sys_flags & ${FLAG_SEEN}) = 0), 0) AS unseen,
              COALESCE(SUM((sys_flags & ${FLAG_DELETED}) != 0), 0) AS deleted, COALESCE(SUM(size), 0) AS size
         FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?))`,
    ).get(mailboxId, uidList) as Counts;
  }

  async claimRecent(mailboxId: number): Promise<number> {
    return this.committer.run(() => {
      const box = this.mailboxRowById(mailboxId);
      if (!box) throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
      this.q('UPDATE mailboxes SET recent_uid = ? WHERE id = ?').run(box.uid_next - 1, mailboxId);
      return box.recent_uid;
    });
  }

  private mailboxRow(accountId: number, name: string): MailboxRow | undefined {
    return this.q('SELECT * FROM mailboxes WHERE account_id = ? AND name = ?').get(accountId, name) as MailboxRow | undefined;
  }

  private mailboxRowById(id: number): MailboxRow | undefined {
    return this.q('SELECT * FROM mailboxes WHERE id = ?').get(id) as MailboxRow | undefined;
  }

  private insertMailbox(accountId: number, name: string, specialUse: SpecialUse | null, subscribed: boolean): number {
    return Number(
      this.q('INSERT INTO mailboxes (account_id, name, uid_validity, special_use, subscribed) VALUES (?, ?, ?, ?, ?)').run(
        accountId,
        name,
        this.nextUidValidity(),
        specialUse,
        subscribed ? 1 : 0,
      ).lastInsertRowid,
    );
  }

  /**
   * RFC 9051 §2.3.1.1: a mailbox name that is deleted and created again must get a new
   * UIDVALIDITY. Values are the current time in seconds, or one more than the last one handed
   * out if that is later: unique for every mailbox incarnation, and a 32-bit nz-number until 2106.
   */
  private nextUidValidity(): number {
    const last = (this.q("SELECT value FROM meta WHERE key = 'uidvalidity'").get() as { value: number } | undefined)?.value ?? 0;
    const next = Math.max(Math.floor(Date.now() / 1000), last + 1);
    this.q("INSERT INTO meta (key, value) VALUES ('uidvalidity', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(next);
    return next;
  }

  private requireAccount(accountId: number): AccountRow {
    const acc = this.accountRowById(accountId);
    if (!acc) throw new StoreError('not-found', `account ${accountId} does not exist`);
    return acc;
  }

  // ---------------------------------------------------------------- messages

  async listMessages(mailboxId: number, opts?: { fromUid?: number; toUid?: number; limit?: number }): Promise<MessageMeta[]> {
    let from = Math.max(1, opts?.fromUid ?? 1);
    const to = opts?.toUid ?? Number.MAX_SAFE_INTEGER;
    const limit = opts?.limit ?? Infinity;
    const out: MessageMeta[] = [];
    // Rows as arrays (raw mode; this SQL is used nowhere else, so its cached statement stays raw).
    const st = this.q(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = ? AND uid >= ? AND uid <= ? ORDER BY uid LIMIT ?`).raw(true);
    // Paged, so no single synchronous query holds the event loop for long.
    while (out.length < limit) {
      const n = Math.min(PAGE, limit - out.length);
      const rows = st.all(mailboxId, from, to, n) as MessageRowArray[];
      for (const r of rows) out.push(toMetaFromArray(r));
      if (rows.length < n) break;
      from = rows[rows.length - 1]![1] + 1;
      await new Promise<void>((r) => setImmediate(r));
    }
    return out;
  }

  async listIndexRows(mailboxId: number, afterUid: number, limit: number): Promise<IndexRow[]> {
    // Array rows (.raw()), the index's columns only: no per-row object or JSON parse.
    // (This SQL is used nowhere else, so its cached statement stays in raw mode.)
    const st = this.q("SELECT uid, sys_flags, modseq, size, internal_date, CASE keywords WHEN '[]' THEN NULL ELSE keywords END FROM messages WHERE mailbox_id = ? AND uid > ? ORDER BY uid LIMIT ?").raw(true);
    return st.all(mailboxId, Math.max(0, afterUid), Math.max(0, limit)) as IndexRow[];
  }

  async getMessages(mailboxId: number, uids: number[]): Promise<MessageMeta[]> {
    const sorted = [...new Set(uids)].sort((a, b) => a - b);
    const out: MessageMeta[] = [];
    const st = this.q(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid`).raw(true);
    for (let i = 0; i < sorted.length; i += PAGE) {
      if (i > 0) await new Promise<void>((r) => setImmediate(r));
      for (const r of st.all(mailboxId, JSON.stringify(sorted.slice(i, i + PAGE))) as MessageRowArray[]) out.push(toMetaFromArray(r));
    }
    return out;
  }

  async getStructure(mailboxId: number, uid: number): Promise<MessageStructure | null> {
    const row = this.q('SELECT b.structure FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.mailbox_id = ? AND m.uid = ?').get(mailboxId, uid) as
      | { structure: string }
      | undefined;
    return row ? (JSON.parse(row.structure) as MessageStructure) : null;
  }

  async getStructures(mailboxId: number, uids: number[]): Promise<Map<number, MessageStructure>> {
    const sorted = [...new Set(uids)].sort((a, b) => a - b);
    const out = new Map<number, MessageStructure>();
    const st = this.q('SELECT m.uid, b.structure FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.mailbox_id = ? AND m.uid IN (SELECT value FROM json_each(?))');
    for (let i = 0; i < sorted.length; i += PAGE) {
      if (i > 0) await new Promise<void>((r) => setImmediate(r));
      for (const r of st.all(mailboxId, JSON.stringify(sorted.slice(i, i + PAGE))) as Array<{ uid: number; structure: string }>) out.set(r.uid, JSON.parse(r.structure) as MessageStructure);
    }
    return out;
  }

  async getPreviews(blobIds: string[]): Promise<Map<string, string>> {
    const ids = [...new Set(blobIds)];
    const out = new Map<string, string>();
    const st = this.q('SELECT id, preview FROM blobs WHERE id IN (SELECT value FROM json_each(?)) AND preview IS NOT NULL');
    for (let i = 0; i < ids.length; i += PAGE) {
      for (const r of st.all(JSON.stringify(ids.slice(i, i + PAGE))) as Array<{ id: string; preview: string }>) out.set(r.id, r.preview);
    }
    return out;
  }

  async setPreview(blobId: string, preview: string): Promise<void> {
    await this.committer.run(() => {
      this.q('UPDATE blobs SET preview = ? WHERE id = ? AND preview IS NULL').run(preview, blobId);
    });
  }

  async deliver(blob: StagedBlob, targets: DeliveryTarget[]): Promise<DeliveryResult[]> {
    if (targets.length === 0) return [];
    const flags = targets.map((t) => {
      try {
        return parseFlags(t.flags);
      } catch (err) {
        return err as StoreError;
      }
    });
    return this.committer.run(
      (ctx) =>
        targets.map((t, i): DeliveryResult => {
          const f = flags[i]!;
          if (f instanceof StoreError) return { ok: false, accountId: t.accountId, error: f.code, message: f.message };
          // Each target in its own savepoint: one account over quota does not undo the others.
          this.db.exec('SAVEPOINT target');
          const local: TxContext = { events: [], released: new Set() };
          try {
            const r = this.addMessage(local, blob, t.accountId, t.mailbox ?? 'INBOX', true, f, new Date());
            this.db.exec('RELEASE target');
            ctx.events.push(...local.events);
            return { ok: true, accountId: t.accountId, mailboxId: r.mailboxId, uid: r.uid };
          } catch (err) {
            this.db.exec('ROLLBACK TO target');
            this.db.exec('RELEASE target');
            if (err instanceof StoreError) return { ok: false, accountId: t.accountId, error: err.code, message: err.message };
            throw err;
          }
        }),
      [blob],
    );
  }

  async appendMessage(
    accountId: number,
    mailbox: string,
    blob: StagedBlob,
    opts?: { flags?: string[]; internalDate?: Date },
  ): Promise<{ uid: number; uidValidity: number; mailboxId: number }> {
    const flags = parseFlags(opts?.flags);
    const date = opts?.internalDate ?? new Date();
    if (Number.isNaN(date.getTime())) throw new StoreError('invalid', 'invalid internal date');
    return this.committer.run((ctx) => this.addMessage(ctx, blob, accountId, mailbox, false, flags, date), [blob]);
  }

  async appendMessages(
    accountId: number,
    mailbox: string,
    items: AppendItem[],
    opts?: { expunge?: { mailboxId: number; uids: number[] } },
  ): Promise<{ uids: number[]; uidValidity: number; mailboxId: number }> {
    if (items.length === 0) throw new StoreError('invalid', 'nothing to append');
    const prepared = items.map((it) => {
      const date = it.internalDate ?? new Date();
      if (Number.isNaN(date.getTime())) throw new StoreError('invalid', 'invalid internal date');
      return { blob: it.blob, flags: parseFlags(it.flags), date };
    });
    const expunge = opts?.expunge;
    // One job: it commits or rolls back (its savepoint) as a whole.
    return this.committer.run((ctx) => {
      if (expunge && expunge.uids.length) {
        const box = this.mailboxRowById(expunge.mailboxId);
        if (!box || box.account_id !== accountId) throw new StoreError('not-found', `mailbox ${expunge.mailboxId} does not exist`);
        this.removeMessages(ctx, box, [...new Set(expunge.uids)].sort((a, b) => a - b));
      }
      const uids: number[] = [];
      let last: { uidValidity: number; mailboxId: number } | null = null;
      for (const p of prepared) {
        const r = this.addMessage(ctx, p.blob, accountId, mailbox, false, p.flags, p.date);
        uids.push(r.uid);
        last = r;
      }
      return { uids, uidValidity: last!.uidValidity, mailboxId: last!.mailboxId };
    }, prepared.map((p) => p.blob));
  }

  /** Inside a transaction: one new message, under the account's quota. */
  private addMessage(
    ctx: TxContext,
    blob: StagedBlob,
    accountId: number,
    mailbox: string,
    fallbackToInbox: boolean,
    flags: FlagSet,
    date: Date,
  ): { uid: number; uidValidity: number; mailboxId: number } {
    const acc = this.requireAccount(accountId);
    let box: MailboxRow | undefined;
    try {
      box = this.mailboxRow(accountId, normalizeMailboxName(mailbox));
    } catch (err) {
      if (!fallbackToInbox) throw err;
    }
    if (!box && fallbackToInbox) box = this.mailboxRow(accountId, 'INBOX');
    if (!box) throw new StoreError('not-found', `mailbox ${mailbox} does not exist`);
    this.chargeQuota(acc, blob.size);
    this.addBlobRef(ctx, blob, false);
    const uid = box.uid_next;
    const modseq = box.highest_modseq + 1;
    this.q('UPDATE mailboxes SET uid_next = ?, highest_modseq = ? WHERE id = ?').run(uid + 1, modseq, box.id);
    // RFC 8514 §4: saved now
    this.q('INSERT INTO messages (mailbox_id, uid, modseq, sys_flags, keywords, internal_date, size, blob_id, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      box.id,
      uid,
      modseq,
      flags.bits,
      JSON.stringify(flags.keywords),
      date.getTime(),
      blob.size,
      blob.id,
      Date.now(),
    );
    this.adjustCounts(box.id, { messages: 1, unseen: flags.bits & FLAG_SEEN ? 0 : 1, deleted: flags.bits & FLAG_DELETED ? 1 : 0, size: blob.size });
    ctx.events.push({ type: 'message-added', accountId, mailboxId: box.id, uid, modseq });
    return { uid, uidValidity: box.uid_validity, mailboxId: box.id };
  }

  /** Inside a transaction: adds `bytes` to the account's usage, refusing to go over its quota. */
  private chargeQuota(acc: AccountRow, bytes: number): void {
    // Read again inside the transaction: earlier jobs of the same batch may have added usage.
    const { usage, quota } = this.q('SELECT usage, quota FROM accounts WHERE id = ?').get(acc.id) as { usage: number; quota: number };
    if (quota > 0 && usage + bytes > quota) {
      throw new StoreError('over-quota', `${acc.address} is over quota (${usage} of ${quota} bytes used, ${bytes} more needed)`);
    }
    this.q('UPDATE accounts SET usage = usage + ? WHERE id = ?').run(bytes, acc.id);
  }

  /** Inside a transaction: one more reference to a staged blob (the row is created on first use). */
  private addBlobRef(_ctx: TxContext, blob: StagedBlob, held: boolean): void {
    const row = this.q('SELECT refs, EXISTS (SELECT 1 FROM blob_content c WHERE c.id = blobs.id) AS inline FROM blobs WHERE id = ?').get(blob.id) as { refs: number; inline: number } | undefined;
    if (blob.bytes) {
      // A small message staged in memory: its bytes go in the row, durable with this transaction
      // (the WAL's fdatasync); no file is written. A blob that already has a row keeps it as it
      // is (a file or bytes) and gains a reference; one whose file may be gone (no live
      // reference left, another process deleting it) takes the bytes into its row.
      this.hasInline = true;
      if (!row) {
        this.q('INSERT INTO blobs (id, size, refs, held, structure) VALUES (?, ?, 1, ?, ?)').run(blob.id, blob.size, held ? 1 : 0, JSON.stringify(blob.structure));
        this.q('INSERT INTO blob_content (id, content) VALUES (?, ?)').run(blob.id, blob.bytes);
        return;
      }
      if (row.refs === 0 && !row.inline) this.q('INSERT INTO blob_content (id, content) VALUES (?, ?)').run(blob.id, blob.bytes);
      this.q('UPDATE blobs SET refs = refs + 1, held = held + ? WHERE id = ?').run(held ? 1 : 0, blob.id);
      return;
    }
    // A first live reference: make sure the file is there (another process may just have deleted it).
    if (!row || (row.refs === 0 && !row.inline)) this.files.ensureFileSync(blob);
    if (row) this.q('UPDATE blobs SET refs = refs + 1, held = held + ? WHERE id = ?').run(held ? 1 : 0, blob.id);
    else this.q('INSERT INTO blobs (id, size, refs, held, structure) VALUES (?, ?, 1, ?, ?)').run(blob.id, blob.size, held ? 1 : 0, JSON.stringify(blob.structure));
  }

  /** Inside a transaction: one reference less; at 0 the file is deleted after the commit. */
  private releaseBlobRef(ctx: TxContext, blobId: string, count = 1): void {
    const row = this.q('UPDATE blobs SET refs = refs - ? WHERE id = ? RETURNING refs').get(count, blobId) as { refs: number } | undefined;
    if (row && row.refs <= 0) ctx.released.add(blobId);
  }

  /** Inside a transaction: deletes every message of a mailbox (usage and blob references drop). */
  private dropMessages(ctx: TxContext, mailboxId: number): void {
    const box = this.mailboxRowById(mailboxId)!;
    const refs = this.q('SELECT blob_id, COUNT(*) AS n, SUM(size) AS bytes FROM messages WHERE mailbox_id = ? GROUP BY blob_id').all(mailboxId) as Array<{
      blob_id: string;
      n: number;
      bytes: number;
    }>;
    let total = 0;
    for (const r of refs) {
      total += r.bytes;
      this.releaseBlobRef(ctx, r.blob_id, r.n);
    }
    this.q('DELETE FROM messages WHERE mailbox_id = ?').run(mailboxId);
    if (total > 0) this.q('UPDATE accounts SET usage = usage - ? WHERE id = ?').run(total, box.account_id);
  }

  async updateFlags(
    mailboxId: number,
    uids: number[],
    update: FlagUpdate,
  ): Promise<{ changed: Array<{ uid: number; flags: string[]; modseq: number }>; failed: number[] }> {
    const delta = parseFlags(update.flags);
    const changed: Array<{ uid: number; flags: string[]; modseq: number }> = [];
    const failed: number[] = [];
    // Large sets in several transactions, so no single step holds the event loop for long.
    for (const chunk of chunks(uids)) {
      const r = await this.committer.run((ctx) => this.updateFlagsInTx(ctx, mailboxId, chunk, update, delta));
      changed.push(...r.changed);
      failed.push(...r.failed);
    }
    return { changed, failed };
  }

  private updateFlagsInTx(ctx: TxContext, mailboxId: number, sortedUids: number[], update: FlagUpdate, delta: FlagSet): { changed: Array<{ uid: number; flags: string[]; modseq: number }>; failed: number[] } {
    const box = this.mailboxRowById(mailboxId);
    if (!box) throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
    const modseq = box.highest_modseq + 1;
    const changed: Array<{ uid: number; flags: string[]; modseq: number }> = [];
    const failed: number[] = [];
    const rows = this.q('SELECT uid, sys_flags, keywords, modseq FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid').all(
      mailboxId,
      JSON.stringify(sortedUids),
    ) as Array<{ uid: number; sys_flags: number; keywords: string; modseq: number }>;
    const set = this.q('UPDATE messages SET sys_flags = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?');
    const counts: Counts = { messages: 0, unseen: 0, deleted: 0, size: 0 };
    for (const row of rows) {
      // RFC 7162 §3.1.3: UNCHANGEDSINCE fails for a message whose mod-sequence is higher.
      if (update.unchangedSince !== undefined && row.modseq > update.unchangedSince) {
        failed.push(row.uid);
        continue;
      }
      const current: FlagSet = { bits: row.sys_flags, keywords: JSON.parse(row.keywords) as string[] };
      const next = applyFlagUpdate(current, update.mode, delta);
      if (sameFlags(current, next)) continue;
      set.run(next.bits, JSON.stringify(next.keywords), modseq, mailboxId, row.uid);
      changed.push({ uid: row.uid, flags: formatFlags(next.bits, next.keywords), modseq });
      counts.unseen += (row.sys_flags & FLAG_SEEN ? 1 : 0) - (next.bits & FLAG_SEEN ? 1 : 0);
      counts.deleted += (next.bits & FLAG_DELETED ? 1 : 0) - (row.sys_flags & FLAG_DELETED ? 1 : 0);
    }
    if (changed.length > 0) {
      this.adjustCounts(mailboxId, counts);
      this.q('UPDATE mailboxes SET highest_modseq = ? WHERE id = ?').run(modseq, mailboxId);
      ctx.events.push({ type: 'flags-changed', accountId: box.account_id, mailboxId, changes: changed });
    }
    return { changed, failed };
  }

  async expunge(mailboxId: number, uids: number[]): Promise<number[]> {
    const removed: number[] = [];
    // Several transactions for large sets: an interrupted EXPUNGE can simply be repeated.
    for (const chunk of chunks(uids)) {
      removed.push(
        ...(await this.committer.run((ctx) => {
          const box = this.mailboxRowById(mailboxId);
          if (!box) throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
          return this.removeMessages(ctx, box, chunk);
        })),
      );
    }
    return removed;
  }

  /** Inside a transaction: removes messages by UID (set-based); returns the UIDs that existed. */
  private removeMessages(ctx: TxContext, box: MailboxRow, sortedUids: number[]): number[] {
    const list = JSON.stringify(sortedUids);
    const removed = (this.q('SELECT uid FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid').all(box.id, list) as Array<{ uid: number }>).map(
      (r) => r.uid,
    );
    if (removed.length === 0) return removed;
    const groups = this.q('SELECT blob_id, COUNT(*) AS n, SUM(size) AS bytes FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) GROUP BY blob_id').all(
      box.id,
      list,
    ) as Array<{ blob_id: string; n: number; bytes: number }>;
    const counts = this.countsOf(box.id, list);
    this.q('DELETE FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?))').run(box.id, list);
    this.adjustCounts(box.id, { messages: -counts.messages, unseen: -counts.unseen, deleted: -counts.deleted, size: -counts.size });
    let total = 0;
    for (const g of groups) {
      total += g.bytes;
      this.releaseBlobRef(ctx, g.blob_id, g.n);
    }
    const modseq = this.mailboxRowById(box.id)!.highest_modseq + 1;
    this.q('UPDATE mailboxes SET highest_modseq = ? WHERE id = ?').run(modseq, box.id);
    this.q('UPDATE accounts SET usage = usage - ? WHERE id = ?').run(total, box.account_id);
    // RFC 7162 §3.2.5.2: remembered for VANISHED (EARLIER) (expungedSince)
    this.q('INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) SELECT ?, value, ? FROM json_each(?)').run(box.id, modseq, JSON.stringify(removed));
    ctx.events.push({ type: 'messages-expunged', accountId: box.account_id, mailboxId: box.id, uids: removed, modseq });
    return removed;
  }

  async expungedSince(mailboxId: number, modseq: number): Promise<number[]> {
    return (this.q('SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid').all(mailboxId, modseq) as Array<{ uid: number }>).map((r) => r.uid);
  }

  async copyMessages(srcMailboxId: number, uids: number[], dstMailboxId: number): Promise<CopyResult> {
    const sorted = [...new Set(uids)].sort((a, b) => a - b);
    const r = await this.committer.run((ctx) => this.copyInTx(ctx, srcMailboxId, sorted, dstMailboxId, false));
    // ChangeFeed.observe: the observers of messages-copied (Junk verdicts) finish first.
    await this.changes.settled();
    return r;
  }

  async moveMessages(srcMailboxId: number, uids: number[], dstMailboxId: number): Promise<CopyResult> {
    const sorted = [...new Set(uids)].sort((a, b) => a - b);
    const r = await this.committer.run((ctx) => this.copyInTx(ctx, srcMailboxId, sorted, dstMailboxId, true));
    await this.changes.settled();
    return r;
  }

  /** Inside a transaction: copies (or moves) messages, set-based, under the destination's quota. */
  private copyInTx(ctx: TxContext, srcId: number, sortedUids: number[], dstId: number, move: boolean): CopyResult {
    const src = this.mailboxRowById(srcId);
    if (!src) throw new StoreError('not-found', `mailbox ${srcId} does not exist`);
    const dst = this.mailboxRowById(dstId);
    if (!dst) throw new StoreError('not-found', `mailbox ${dstId} does not exist`);
    const list = JSON.stringify(sortedUids);
    const srcUids = (this.q('SELECT uid FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid').all(srcId, list) as Array<{ uid: number }>).map(
      (r) => r.uid,
    );
    const map: Array<[number, number]> = [];
    if (srcUids.length === 0) return { uidValidity: dst.uid_validity, map };
    const groups = this.q('SELECT blob_id, COUNT(*) AS n, SUM(size) AS bytes FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) GROUP BY blob_id').all(
      srcId,
      list,
    ) as Array<{ blob_id: string; n: number; bytes: number }>;
    const bytes = groups.reduce((n, g) => n + g.bytes, 0);
    const sameAccount = src.account_id === dst.account_id;
    // A move within one account does not change its usage; a copy (or a move across accounts) does.
    if (!(move && sameAccount)) this.chargeQuota(this.requireAccount(dst.account_id), bytes);
    const first = dst.uid_next;
    const modseq = dst.highest_modseq + 1;
    // RFC 4315 §3: COPYUID pairs source and destination UIDs in the same (ascending) order.
    this.q(
      // RFC 8514 §4: a copy (and a moved message) is saved into the destination now
      `INSERT INTO messages (mailbox_id, uid, modseq, sys_flags, keywords, internal_date, size, blob_id, saved_at)
       SELECT ?, ? + ROW_NUMBER() OVER (ORDER BY uid) - 1, ?, sys_flags, keywords, internal_date, size, blob_id, ?
         FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid`,
    ).run(dstId, first, modseq, Date.now(), srcId, list);
    this.adjustCounts(dstId, this.countsOf(srcId, list));
    const ref = this.q('UPDATE blobs SET refs = refs + ? WHERE id = ?');
    for (const g of groups) ref.run(g.n, g.blob_id);
    srcUids.forEach((uid, i) => {
      map.push([uid, first + i]);
      ctx.events.push({ type: 'message-added', accountId: dst.account_id, mailboxId: dstId, uid: first + i, modseq });
    });
    ctx.events.push({ type: 'messages-copied', accountId: dst.account_id, srcMailboxId: srcId, dstMailboxId: dstId, uids: map.map(([s, d]) => [s, d]), moved: move });
    this.q('UPDATE mailboxes SET uid_next = ?, highest_modseq = ? WHERE id = ?').run(first + srcUids.length, modseq, dstId);
    if (move) {
      if (sameAccount) this.q('UPDATE accounts SET usage = usage + ? WHERE id = ?').run(bytes, src.account_id); // removeMessages subtracts it again
      this.removeMessages(ctx, this.mailboxRowById(srcId)!, srcUids);
    }
    return { uidValidity: dst.uid_validity, map };
  }

  // ---------------------------------------------------------------- maintenance

  /**
   * Consistency check (also `yubin` maintenance and the contract suite): every message's blob
   * row and file exist with the right size, reference counts equal their references, usage
   * equals the sum of sizes, UIDNEXT is above every UID. Returns one line per problem.
   */
  async verify(): Promise<{ problems: string[]; tempFiles: number }> {
    const problems: string[] = [];
    const badRefs = this.db
      .prepare(
        `SELECT b.id, b.refs, b.held, (SELECT COUNT(*) FROM messages m WHERE m.blob_id = b.id) AS n FROM blobs b
          WHERE b.refs != b.held + (SELECT COUNT(*) FROM messages m WHERE m.blob_id = b.id)`,
      )
      .all() as Array<{ id: string; refs: number; held: number; n: number }>;
    for (const b of badRefs) problems.push(`blob ${b.id}: refs ${b.refs} but ${b.n} message(s) + ${b.held} held`);
    const missingRow = this.db.prepare('SELECT m.mailbox_id, m.uid, m.blob_id FROM messages m LEFT JOIN blobs b ON b.id = m.blob_id WHERE b.id IS NULL').all() as Array<{
      mailbox_id: number;
      uid: number;
      blob_id: string;
    }>;
    for (const m of missingRow) problems.push(`message ${m.mailbox_id}/${m.uid}: blob ${m.blob_id} has no row`);
    // A small message's bytes go with their blob row, in the same transaction (commit.ts collect).
    const strayBytes = this.db.prepare('SELECT c.id FROM blob_content c LEFT JOIN blobs b ON b.id = c.id WHERE b.id IS NULL LIMIT 100').all() as Array<{ id: string }>;
    for (const c of strayBytes) problems.push(`blob ${c.id}: bytes kept in blob_content without a blob row`);
    const usage = this.db
      .prepare(
        `SELECT a.address, a.usage, COALESCE((SELECT SUM(m.size) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = a.id), 0) AS actual
           FROM accounts a WHERE a.usage != actual`,
      )
      .all() as Array<{ address: string; usage: number; actual: number }>;
    for (const u of usage) problems.push(`account ${u.address}: usage ${u.usage} but messages sum to ${u.actual}`);
    const uids = this.db
      .prepare('SELECT x.id, x.name, x.uid_next, MAX(m.uid) AS max_uid, x.highest_modseq, MAX(m.modseq) AS max_modseq FROM mailboxes x JOIN messages m ON m.mailbox_id = x.id GROUP BY x.id HAVING max_uid >= x.uid_next OR max_modseq > x.highest_modseq')
      .all() as Array<{ id: number; name: string; uid_next: number; max_uid: number; highest_modseq: number; max_modseq: number }>;
    for (const u of uids) problems.push(`mailbox ${u.id} ${u.name}: UIDNEXT ${u.uid_next} / HIGHESTMODSEQ ${u.highest_modseq} not above UID ${u.max_uid} / MODSEQ ${u.max_modseq}`);
    const counters = this.db
      .prepare(
        `SELECT x.id, x.name, x.message_count, x.unseen_count, x.deleted_count, x.total_size,
                COUNT(m.uid) AS n_messages, COALESCE(SUM((m.sys_flags & ${FLAG_SEEN}) = 0), 0) AS n_unseen,
                COALESCE(SUM((m.sys_flags & ${FLAG_DELETED}) != 0), 0) AS n_deleted, COALESCE(SUM(m.size), 0) AS n_size
           FROM mailboxes x LEFT JOIN messages m ON m.mailbox_id = x.id GROUP BY x.id
         HAVING x.message_count != n_messages OR x.unseen_count != n_unseen OR x.deleted_count != n_deleted OR x.total_size != n_size`,
      )
      .all() as Array<{ id: number; name: string; message_count: number; unseen_count: number; deleted_count: number; total_size: number; n_messages: number; n_unseen: number; n_deleted: number; n_size: number }>;
    for (const c of counters) {
      problems.push(
        `mailbox ${c.id} ${c.name}: counters ${c.message_count}/${c.unseen_count}/${c.deleted_count}/${c.total_size} but messages ${c.n_messages}/${c.n_unseen}/${c.n_deleted}/${c.n_size}`,
      );
    }
    // Files: every live blob's file exists with its size; no file without a row.
    let after = '';
    const page = this.db.prepare('SELECT b.id, b.size, b.refs, length(c.content) AS inline FROM blobs b LEFT JOIN blob_content c ON c.id = b.id WHERE b.id > ? ORDER BY b.id LIMIT 1000');
    const sizes = new Map<string, number>();
    /** Blobs kept in their rows: no file is expected (one left from before is harmless). */
    const inRow = new Set<string>();
    for (;;) {
      const rows = page.all(after) as Array<{ id: string; size: number; refs: number; inline: number | null }>;
      if (rows.length === 0) break;
      for (const r of rows) {
        if (r.inline === null) sizes.set(r.id, r.refs > 0 ? r.size : -1);
        else {
          inRow.add(r.id);
          if (r.inline !== r.size) problems.push(`blob ${r.id}: ${r.inline} bytes in its row, expected ${r.size}`);
        }
      }
      after = rows[rows.length - 1]!.id;
      await new Promise<void>((r) => setImmediate(r));
    }
    const seen = new Set<string>();
    for await (const f of this.files.walkCommitted()) {
      if (inRow.has(f.name)) continue;
      const want = sizes.get(f.name);
      if (want === undefined) problems.push(`file ${f.path} has no blob row (orphan)`);
      else if (want >= 0 && want !== f.size) problems.push(`file ${f.path}: ${f.size} bytes, expected ${want}`);
      seen.add(f.name);
    }
    for (const [id, size] of sizes) if (size >= 0 && !seen.has(id)) problems.push(`blob ${id}: file missing`);
    return { problems, tempFiles: (await this.files.listTemp()).length };
  }

  // ---------------------------------------------------------------- POP3

  /**
   * RFC 1939 §4: the exclusive-access lock on an account's maildrop. In-process (one server per
   * data directory; the CLI never opens a maildrop), keyed by the database file, so two stores
   * of one data directory in a process share it.
   */
  async lockMaildrop(accountId: number): Promise<(() => Promise<void>) | null> {
    const key = `${this.db.name}\0${accountId}`;
    if (maildropLocks.has(key)) return null;
    maildropLocks.add(key);
    let held = true;
    return async () => {
      if (held) maildropLocks.delete(key);
      held = false;
    };
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.changes.close();
    await this.committer.close();
    try {
      await this.onClose(this.db);
    } finally {
      await this.checkpointer?.close();
      await this.textIndex?.close();
      await this.files.close();
      this.statements.clear();
      this.db.close();
    }
  }
}

/** Maildrops locked by POP3 sessions of this process (SqliteStore.lockMaildrop). */
const maildropLocks = new Set<string>();

export function databasePath(dataDir: string): string {
  return join(dataDir, 'yubin.sqlite');
}

/** Bytes [start, end) of a blob kept in its row, clamped to its size as a file read is. */
function slice(bytes: Buffer, range?: { start?: number; end?: number }): Buffer {
  const start = Math.min(Math.max(0, range?.start ?? 0), bytes.length);
  const end = Math.min(Math.max(start, range?.end ?? bytes.length), bytes.length);
  return bytes.subarray(start, end);
}

/** Text and bytes into one buffer, each byte copied once. */
function joinParts(messages: ReadonlyArray<ReadonlyArray<string | Buffer>>): Buffer {
  let total = 0;
  for (const parts of messages) for (const p of parts) total += typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.length;
  const data = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const parts of messages) for (const p of parts) pos += typeof p === 'string' ? data.write(p, pos, 'utf8') : p.copy(data, pos);
  return data;
}

/**
 * readMany's answers when some ranges are at hand (`known`: bytes already in memory, copied) and
 * the rest are read in one call (`rest`, with their ranges in order); null for a blob that is gone.
 */
async function readSplit(
  ranges: ReadonlyArray<{ blobId: string; start: number; end: number }>,
  known: (r: { blobId: string; start: number; end: number }) => Buffer | undefined,
  rest: (ranges: Array<{ blobId: string; start: number; end: number }>) => Promise<Array<Buffer | null>>,
): Promise<Array<Buffer | null>> {
  const out = new Array<Buffer | null>(ranges.length).fill(null);
  const misses: number[] = [];
  ranges.forEach((r, i) => {
    const bytes = known(r);
    if (bytes) out[i] = Buffer.from(bytes);
    else misses.push(i);
  });
  if (misses.length) (await rest(misses.map((i) => ranges[i]!))).forEach((b, k) => (out[misses[k]!] = b));
  return out;
}
