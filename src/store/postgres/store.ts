// The Store on PostgreSQL (docs/store.md "PostgreSQL"), for several Yubin nodes on one database.
// Every write is one transaction on a pooled connection (synchronous_commit=on: it resolves only
// after COMMIT has flushed the WAL; PostgreSQL itself shares that flush between concurrent
// commits, so there is no group committer here). Correctness across nodes comes from row locks,
// always taken in one order so that two writers cannot wait on each other:
//
//   accounts (by id) → mailboxes (by id) → messages → blobs (by id, COLLATE "C")
//
// (a path may start further down the order: a flag update takes only its mailbox row). Blob rows
// come last: a transaction that changes several takes them all at once, in one pass in id order,
// before changing any (PgBlobs.lockRows: MULTIAPPEND, REPLACE, COPY, MOVE, EXPUNGE, mailbox and
// account removal), each row locked if it exists or inserted if a staged blob's row does not, since
// updating them statement by statement, or in one UPDATE ... FROM (locked in its plan's order),
// deadlocked two accounts working on the same messages in opposite orders, and so did locking the
// existing rows first and inserting the missing ones after (issue 17, deadlock.test.ts). One
// exception, safe: after its blob row a delivery to several accounts, or a MULTIAPPEND, locks the
// mailbox rows of accounts it holds; whoever else holds such a mailbox row either holds its
// account row too or (flag updates, recent claims) waits for no other row.
// Before the transaction, prepareAll() inserts the rows of new blobs with their bytes (sorted)
// and commits them in a short transaction of its own, holding no other lock: so a writing
// transaction takes every blob row in lockRows' one pass or in its one addRef, and none from
// before its account lock (a row inserted by prepare inside the transaction was held from there,
// and lockRows then went back to lower ids: issue 17). Collection locks in id order, then
// deletes. Every transaction thus takes blob rows in increasing id order, after the account and
// mailbox rows it takes (but for the exception above). Rows whose
// key stays are locked FOR NO KEY UPDATE, not FOR UPDATE: the foreign key checks of other
// writers take FOR KEY SHARE on the referenced account, mailbox and blob rows, which FOR UPDATE
// would block, putting an account or mailbox lock after a later one (issue 17: under the IMAP
// mixed load, flag updates, appends and expunges deadlocked on one mailbox). Only deletes and
// renames (a change of the UNIQUE (account_id, name) key) take FOR UPDATE. A second UPDATE of a
// row in one transaction re-runs its foreign key check, so the mailbox-only paths update their
// mailbox row once.
//
// UIDs, MODSEQs and STATUS counters are taken from the locked mailbox row and quota from the
// locked account row, so concurrent deliveries from any number of nodes get unique, consecutive
// UIDs and an exact usage. Domain, account and alias changes also take one transaction-scoped
// advisory lock (alias-loop checks see a stable graph). A deadlock or serialization failure
// (which the lock order makes rare) rolls back and runs the transaction again; nothing was
// acknowledged, and events are only published after the commit that made them true.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log/logger.js';
import type { MessageStructure } from '../../message/types.js';
import { transaction, type Pool, type PoolClient, type Queryable } from '../../db/postgres/pool.js';
import { LOCK_SPACE, type AdvisoryLocks } from '../../db/postgres/locks.js';
import { isRoleAddress } from '../recipients.js';
import {
  DEFAULT_MAILBOXES,
  StoreError,
  type Account,
  type Alias,
  type BlobStore,
  type ChangeEvent,
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
import { sortIds, type PgBlobs } from './blobs.js';
import type { PgChangeFeed } from './feed.js';
import { PgSieveStore } from './sieve.js';
import { PgMetadataStore } from './metadata.js';
import { PgApiTokenStore } from './tokens.js';
import { ACCOUNT_SELECT, PAGE, SPECIAL_USES, checkQuota, chunks, toAccount, toMailbox, toMeta, type AccountRow, type Counts, type MailboxRow, type MessageRow } from '../rows.js';

/** What a transaction leaves for after its commit. */
interface TxContext {
  events: ChangeEvent[];
  /** Blob ids whose reference count may have reached 0. */
  released: Set<string>;
}

/** pg_advisory_xact_lock key for domain, account and alias changes ("YADM"). */
const ADMIN_LOCK = 0x5941444d;
export class PostgresStore implements Store {
  readonly blobs: BlobStore;
  readonly sieve: PgSieveStore;
  readonly apiTokens: PgApiTokenStore;
  /** IMAP METADATA entries (metadata.ts). */
  readonly metadata: PgMetadataStore;
  /** Blob collections running after their commits (awaited by close). */
  private readonly collecting = new Set<Promise<void>>();
  private closed = false;
  /** Local publication order (run): tickets handed out, the next to publish, those committed and waiting. */
  private nextTicket = 0;
  private nextToPublish = 0;
  private readonly committedTickets = new Map<number, { events: ChangeEvent[]; resolve: () => void }>();

  constructor(
    readonly pool: Pool,
    readonly blobData: PgBlobs,
    readonly changes: PgChangeFeed,
    private readonly locks: AdvisoryLocks,
    private readonly logger: Logger,
    /** Runs after the last write (this node's temporary files). */
    private readonly onClose: () => Promise<void>,
  ) {
    const files = blobData.files;
    this.sieve = new PgSieveStore(pool, (fn) => this.run((c) => fn(c)));
    this.apiTokens = new PgApiTokenStore(pool, (fn) => this.run((c) => fn(c)));
    this.metadata = new PgMetadataStore(pool, (fn) => this.run((c, ctx) => fn(c, ctx.events)));
    this.blobs = {
      createWriter: (options) => files.createWriter({ memory: options?.memory === true }),
      stage: (bytes) => files.stage(bytes),
      openStaged: (staged) => files.openStaged(staged),
      open: (id, range) => {
        files.pathOf(id); // the same id check as with files: sha256 hex only
        return blobData.open(id, range);
      },
      read: (id, range) => {
        files.pathOf(id);
        return blobData.read(id, range);
      },
      readMany: (ranges) => {
        for (const r of ranges) files.pathOf(r.blobId);
        return blobData.readMany(ranges);
      },
      ...(blobData.mode === 'files' ? { assemble: (messages: Parameters<NonNullable<BlobStore['assemble']>>[0]) => files.assemble(messages) } : {}),
      discard: (staged) => files.discard(staged),
      retain: (staged) =>
        this.run(
          async (c) => {
            await this.blobData.addRef(c, staged, 1, 1);
            return staged.id;
          },
          [staged],
        ),
      release: (blobId) =>
        this.run(async (c, ctx) => {
          const r = await c.query<{ refs: number }>('UPDATE blobs SET held = held - 1, refs = refs - 1 WHERE id = $1 AND held > 0 RETURNING refs', [blobId]);
          if (!r.rows[0]) throw new StoreError('not-found', `blob ${blobId} holds no retained reference`);
          if (r.rows[0].refs <= 0) ctx.released.add(blobId);
        }),
    };
  }

  /**
   * Runs `fn` in one transaction: staged blobs are made available first (before it, holding no
   * lock: PgBlobs.prepareAll), the events go out with NOTIFY at commit, and locally right after
   * it. Resolves after COMMIT.
   */
  private async run<T>(fn: (c: PoolClient, ctx: TxContext) => Promise<T>, staged: readonly StagedBlob[] = []): Promise<T> {
    if (this.closed) throw new Error('the store is closed');
    let ctx: TxContext = { events: [], released: new Set() };
    let ticket: number | null = null;
    const dropTicket = (): void => {
      if (ticket !== null) void this.publishInOrder(ticket, []);
      ticket = null;
    };
    const blobs = uniqueBlobs(staged);
    await this.blobData.prepareAll(blobs);
    let result: T;
    try {
      result = await transaction(this.pool, async (c) => {
        dropTicket(); // a retry: the rolled-back attempt publishes nothing
        ctx = { events: [], released: new Set() };
        const r = await fn(c, ctx);
        if (blobs.length > 0) {
          // A staged blob that ended with no reference (every target failed) is collected.
          const left = await c.query<{ id: string }>('SELECT id FROM blobs WHERE id = ANY($1::text[]) AND refs <= 0', [blobs.map((b) => b.id)]);
          for (const { id } of left.rows) ctx.released.add(id);
        }
        await this.changes.notify(c, ctx.events);
        // Taken with every row lock held, just before COMMIT: a transaction that waited for this
        // one's locks gets a later ticket, so publishing in ticket order is publishing in commit order.
        ticket = this.nextTicket++;
        return r;
      });
    } catch (err) {
      dropTicket();
      // Rows prepareAll committed for these blobs have no reference if nothing else took them.
      if (blobs.length > 0) this.collect(blobs.map((b) => b.id));
      throw err;
    }
    await this.publishInOrder(ticket!, ctx.events);
    if (ctx.released.size > 0) this.collect([...ctx.released]);
    return result;
  }

  /** Publishes a committed transaction's events once every earlier ticket of this node is published. */
  private publishInOrder(ticket: number, events: ChangeEvent[]): Promise<void> {
    return new Promise((resolve) => {
      this.committedTickets.set(ticket, { events, resolve });
      for (let next = this.committedTickets.get(this.nextToPublish); next; next = this.committedTickets.get(this.nextToPublish)) {
        this.committedTickets.delete(this.nextToPublish++);
        this.changes.local.publish(next.events);
        next.resolve();
      }
    });
  }

  private collect(ids: string[]): void {
    const p = this.blobData.collect(ids).catch((err: unknown) => this.logger.warn({ err }, 'could not delete unreferenced blobs (the next start sweeps them)'));
    this.collecting.add(p);
    void p.finally(() => this.collecting.delete(p));
  }

  /** Serialises domain, account and alias changes across nodes (inside a transaction). */
  private async adminLock(c: PoolClient): Promise<void> {
    await c.query('SELECT pg_advisory_xact_lock($1)', [ADMIN_LOCK]);
  }

  // ---------------------------------------------------------------- domains

  async addDomain(name: string): Promise<Domain> {
    const domain = normalizeDomain(name);
    return this.run(async (c) => {
      await this.adminLock(c);
      if ((await c.query('SELECT 1 FROM domains WHERE name = $1', [domain])).rowCount) throw new StoreError('exists', `domain ${domain} already exists`);
      const now = Date.now();
      await c.query('INSERT INTO domains (name, created_at) VALUES ($1, $2)', [domain, now]);
      return { name: domain, createdAt: new Date(now) };
    });
  }

  async removeDomain(name: string): Promise<void> {
    const domain = normalizeDomain(name);
    return this.run(async (c) => {
      await this.adminLock(c);
      const id = await this.domainId(c, domain);
      if (id === null) throw new StoreError('not-found', `domain ${domain} does not exist`);
      const accounts = (await c.query<{ n: number }>('SELECT COUNT(*) AS n FROM accounts WHERE domain_id = $1', [id])).rows[0]!.n;
      const aliases = (await c.query<{ n: number }>('SELECT COUNT(*) AS n FROM aliases WHERE domain_id = $1', [id])).rows[0]!.n;
      if (accounts + aliases > 0) throw new StoreError('not-empty', `domain ${domain} still has ${accounts} account(s) and ${aliases} alias(es); remove them first`);
      await c.query('DELETE FROM domains WHERE id = $1', [id]);
    });
  }

  async listDomains(): Promise<Domain[]> {
    const r = await this.pool.query<{ name: string; created_at: number }>('SELECT name, created_at FROM domains ORDER BY name COLLATE "C"');
    return r.rows.map((x) => ({ name: x.name, createdAt: new Date(x.created_at) }));
  }

  async isLocalDomain(name: string): Promise<boolean> {
    let domain: string;
    try {
      domain = normalizeDomain(name);
    } catch {
      return false;
    }
    return (await this.domainId(this.pool, domain)) !== null;
  }

  private async domainId(c: Queryable, domain: string): Promise<number | null> {
    const r = await c.query<{ id: number }>('SELECT id FROM domains WHERE name = $1', [domain]);
    return r.rows[0]?.id ?? null;
  }

  // ---------------------------------------------------------------- accounts

  async addAccount(address: string, passwordHash: string, quota = 0): Promise<Account> {
    const addr = normalizeAddress(address);
    checkQuota(quota);
    if (typeof passwordHash !== 'string' || passwordHash.length === 0) throw new StoreError('invalid', 'empty password hash');
    return this.run(async (c) => {
      await this.adminLock(c);
      const domainId = await this.domainId(c, domainOf(addr));
      if (domainId === null) throw new StoreError('not-found', `domain ${domainOf(addr)} is not a local domain (add it first)`);
      if (await this.accountRow(c, addr)) throw new StoreError('exists', `account ${addr} already exists`);
      if ((await c.query('SELECT 1 FROM aliases WHERE address = $1', [addr])).rowCount) throw new StoreError('exists', `${addr} already exists as an alias`);
      const r = await c.query<{ id: number }>('INSERT INTO accounts (address, domain_id, password_hash, quota, usage, created_at) VALUES ($1, $2, $3, $4, 0, $5) RETURNING id', [
        addr,
        domainId,
        passwordHash,
        quota,
        Date.now(),
      ]);
      const id = r.rows[0]!.id;
      for (const m of DEFAULT_MAILBOXES) await this.insertMailbox(c, id, m.name, m.specialUse, true);
      return toAccount((await this.accountRowById(c, id))!);
    });
  }

  async removeAccount(address: string): Promise<void> {
    const addr = normalizeAddress(address);
    return this.run(async (c, ctx) => {
      await this.adminLock(c);
      const acc = await this.accountRow(c, addr);
      if (!acc) throw new StoreError('not-found', `account ${addr} does not exist`);
      await c.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [acc.id]);
      const boxes = await c.query<MailboxRow>('SELECT * FROM mailboxes WHERE account_id = $1 ORDER BY id FOR UPDATE', [acc.id]);
      // Every mailbox's blobs at once, in id order (each dropMessages alone would take its own set).
      const blobIds = await c.query<{ blob_id: string }>('SELECT DISTINCT blob_id FROM messages WHERE mailbox_id = ANY($1::int[])', [boxes.rows.map((b) => b.id)]);
      await this.blobData.lockRows(c, [], blobIds.rows.map((x) => x.blob_id));
      for (const b of boxes.rows) {
        await this.dropMessages(c, ctx, b);
        await c.query('DELETE FROM mailboxes WHERE id = $1', [b.id]);
        // Sessions with one of them selected (IMAP), on any node, end: the account is gone.
        ctx.events.push({ type: 'mailbox-deleted', accountId: acc.id, mailboxId: b.id, name: b.name });
      }
      // Aliases pointing at the account lose that target; an alias left with none goes.
      const aliasIds = await c.query<{ alias_id: number }>('DELETE FROM alias_targets WHERE target = $1 RETURNING alias_id', [addr]);
      for (const id of new Set(aliasIds.rows.map((x) => x.alias_id))) {
        await c.query('DELETE FROM aliases WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM alias_targets WHERE alias_id = $1)', [id]);
      }
      await c.query('DELETE FROM accounts WHERE id = $1', [acc.id]);
    });
  }

  async getAccount(address: string): Promise<Account | null> {
    let addr: string;
    try {
      addr = normalizeAddress(address);
    } catch {
      return null;
    }
    const row = await this.accountRow(this.pool, addr);
    return row ? toAccount(row) : null;
  }

  async getAccountById(id: number): Promise<Account | null> {
    const row = await this.accountRowById(this.pool, id);
    return row ? toAccount(row) : null;
  }

  async listAccounts(domain?: string): Promise<Account[]> {
    const r =
      domain === undefined
        ? await this.pool.query<AccountRow>(`${ACCOUNT_SELECT} ORDER BY a.address COLLATE "C"`)
        : await this.pool.query<AccountRow>(`${ACCOUNT_SELECT} WHERE d.name = $1 ORDER BY a.address COLLATE "C"`, [normalizeDomain(domain)]);
    return r.rows.map(toAccount);
  }

  async setPassword(address: string, passwordHash: string): Promise<void> {
    const addr = normalizeAddress(address);
    if (typeof passwordHash !== 'string' || passwordHash.length === 0) throw new StoreError('invalid', 'empty password hash');
    return this.run(async (c) => {
      if ((await c.query('UPDATE accounts SET password_hash = $1 WHERE address = $2', [passwordHash, addr])).rowCount === 0) throw new StoreError('not-found', `account ${addr} does not exist`);
    });
  }

  async setQuota(address: string, quota: number): Promise<void> {
    const addr = normalizeAddress(address);
    checkQuota(quota);
    return this.run(async (c) => {
      if ((await c.query('UPDATE accounts SET quota = $1 WHERE address = $2', [quota, addr])).rowCount === 0) throw new StoreError('not-found', `account ${addr} does not exist`);
    });
  }

  private async accountRow(c: Queryable, address: string): Promise<AccountRow | undefined> {
    return (await c.query<AccountRow>(`${ACCOUNT_SELECT} WHERE a.address = $1`, [address])).rows[0];
  }

  private async accountRowById(c: Queryable, id: number): Promise<AccountRow | undefined> {
    if (!isInt4(id)) return undefined;
    return (await c.query<AccountRow>(`${ACCOUNT_SELECT} WHERE a.id = $1`, [id])).rows[0];
  }

  // ---------------------------------------------------------------- aliases

  async addAlias(address: string, targets: string[]): Promise<Alias> {
    const addr = normalizeAddress(address, { allowCatchAll: true });
    if (!Array.isArray(targets) || targets.length === 0) throw new StoreError('invalid', `alias ${addr} needs at least one target`);
    const list = [...new Set(targets.map((t) => normalizeAddress(t)))];
    return this.run(async (c) => {
      await this.adminLock(c);
      const domainId = await this.domainId(c, domainOf(addr));
      if (domainId === null) throw new StoreError('not-found', `domain ${domainOf(addr)} is not a local domain (add it first)`);
      if ((await c.query('SELECT 1 FROM aliases WHERE address = $1', [addr])).rowCount) throw new StoreError('exists', `alias ${addr} already exists`);
      if (await this.accountRow(c, addr)) throw new StoreError('exists', `${addr} already exists as an account`);
      const id = (await c.query<{ id: number }>('INSERT INTO aliases (address, domain_id, created_at) VALUES ($1, $2, $3) RETURNING id', [addr, domainId, Date.now()])).rows[0]!.id;
      await c.query('INSERT INTO alias_targets (alias_id, position, target) SELECT $1, t.ord - 1, t.target FROM unnest($2::text[]) WITH ORDINALITY AS t(target, ord)', [id, list]);
      const loop = await this.findLoop(c, addr);
      if (loop) throw new StoreError('alias-loop', `alias ${addr} would make a loop: ${loop.join(' → ')}`);
      return { address: addr, targets: list };
    });
  }

  async removeAlias(address: string): Promise<void> {
    const addr = normalizeAddress(address, { allowCatchAll: true });
    return this.run(async (c) => {
      await this.adminLock(c);
      if ((await c.query('DELETE FROM aliases WHERE address = $1', [addr])).rowCount === 0) throw new StoreError('not-found', `alias ${addr} does not exist`);
    });
  }

  async listAliases(domain?: string): Promise<Alias[]> {
    const r =
      domain === undefined
        ? await this.pool.query<{ address: string; target: string }>('SELECT a.address, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id ORDER BY a.address COLLATE "C", t.position')
        : await this.pool.query<{ address: string; target: string }>(
            'SELECT a.address, t.target FROM aliases a JOIN domains d ON d.id = a.domain_id JOIN alias_targets t ON t.alias_id = a.id WHERE d.name = $1 ORDER BY a.address COLLATE "C", t.position',
            [normalizeDomain(domain)],
          );
    const out: Alias[] = [];
    for (const row of r.rows) {
      const last = out[out.length - 1];
      if (last && last.address === row.address) last.targets.push(row.target);
      else out.push({ address: row.address, targets: [row.target] });
    }
    return out;
  }

  private async aliasTargets(c: Queryable, address: string): Promise<string[] | null> {
    const r = await c.query<{ target: string }>('SELECT t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id WHERE a.address = $1 ORDER BY t.position', [address]);
    return r.rows.length ? r.rows.map((x) => x.target) : null;
  }

  /** One step of expansion (the same rules as the SQLite store's expandStep). */
  private async expandStep(c: Queryable, address: string): Promise<{ account?: AccountRow; next?: string[]; remote?: boolean }> {
    if (address.startsWith('@')) return { next: (await this.aliasTargets(c, address)) ?? [] };
    const acc = await this.accountRow(c, address);
    if (acc) return { account: acc };
    const targets = await this.aliasTargets(c, address);
    if (targets) return { next: targets };
    const domain = domainOf(address);
    const domainId = await this.domainId(c, domain);
    if (domainId === null) return { remote: true };
    // RFC 5321 §4.5.1 (postmaster MUST be accepted at every domain we serve), RFC 2142 §4 (abuse).
    if (isRoleAddress(address)) {
      const first = await c.query<{ address: string }>('SELECT address FROM accounts WHERE domain_id = $1 ORDER BY created_at, id LIMIT 1', [domainId]);
      if (first.rows[0]) return { next: [first.rows[0].address] };
    }
    return { next: (await this.aliasTargets(c, '@' + domain)) ? ['@' + domain] : [] };
  }

  private async findLoop(c: Queryable, start: string): Promise<string[] | null> {
    const done = new Set<string>();
    const path: string[] = [];
    const onPath = new Set<string>();
    const visit = async (addr: string): Promise<string[] | null> => {
      if (onPath.has(addr)) return [...path.slice(path.indexOf(addr)), addr];
      if (done.has(addr)) return null;
      onPath.add(addr);
      path.push(addr);
      for (const n of (await this.expandStep(c, addr)).next ?? []) {
        const loop = await visit(n);
        if (loop) return loop;
      }
      path.pop();
      onPath.delete(addr);
      done.add(addr);
      return null;
    };
    return visit(start);
  }

  private async expand(c: Queryable, address: string): Promise<{ accounts: Account[]; remote: string[] }> {
    const accounts = new Map<number, Account>();
    const remote = new Set<string>();
    const seen = new Set<string>();
    const stack = [address];
    while (stack.length) {
      const addr = stack.pop()!;
      if (seen.has(addr)) continue;
      seen.add(addr);
      const step = await this.expandStep(c, addr);
      if (step.account) accounts.set(step.account.id, toAccount(step.account));
      else if (step.remote) remote.add(addr);
      else if (step.next) for (const n of [...step.next].reverse()) stack.push(n);
    }
    return { accounts: [...accounts.values()], remote: [...remote] };
  }

  async resolveRecipient(address: string): Promise<{ accounts: Account[]; remote: string[] } | null> {
    const addr = normalizeAddress(address);
    if ((await this.domainId(this.pool, domainOf(addr))) === null) return null;
    const r = await this.expand(this.pool, addr);
    return r.accounts.length + r.remote.length > 0 ? r : null;
  }

  async sendableAddresses(accountId: number): Promise<string[]> {
    const acc = await this.accountRowById(this.pool, accountId);
    if (!acc) throw new StoreError('not-found', `account ${accountId} does not exist`);
    const candidates = new Set<string>();
    const queue = [acc.address];
    while (queue.length > 0) {
      const node = queue.pop()!;
      const parents = (await this.pool.query<{ address: string }>('SELECT a.address FROM alias_targets t JOIN aliases a ON a.id = t.alias_id WHERE t.target = $1', [node])).rows.map((r) => r.address);
      if (node.startsWith('@')) {
        // Targets in the domain that are neither accounts nor aliases fall through to its catch-all.
        const through = await this.pool.query<{ address: string }>(
          `SELECT DISTINCT a.address FROM alias_targets t JOIN aliases a ON a.id = t.alias_id
            WHERE right(t.target, length($1)) = $1
              AND t.target NOT IN (SELECT address FROM accounts) AND t.target NOT IN (SELECT address FROM aliases)`,
          [node],
        );
        parents.push(...through.rows.map((r) => r.address));
      }
      for (const p of parents) {
        if (!candidates.has(p)) {
          candidates.add(p);
          queue.push(p);
        }
      }
    }
    const out = [acc.address];
    for (const address of [...candidates].sort()) {
      if ((await this.expand(this.pool, address)).accounts.some((a) => a.id === accountId)) out.push(address);
    }
    return out;
  }

  // ---------------------------------------------------------------- mailboxes

  async listMailboxes(accountId: number): Promise<Mailbox[]> {
    const r = await this.pool.query<MailboxRow>(`SELECT * FROM mailboxes WHERE account_id = $1 ORDER BY name <> 'INBOX', name COLLATE "C"`, [accountId]);
    return r.rows.map(toMailbox);
  }

  async getMailbox(accountId: number, name: string): Promise<Mailbox | null> {
    let n: string;
    try {
      n = normalizeMailboxName(name);
    } catch {
      return null;
    }
    const row = await this.mailboxRow(this.pool, accountId, n);
    return row ? toMailbox(row) : null;
  }

  async getMailboxById(mailboxId: number): Promise<Mailbox | null> {
    const row = await this.mailboxRowById(this.pool, mailboxId);
    return row ? toMailbox(row) : null;
  }

  async createMailbox(accountId: number, name: string, opts?: { specialUse?: SpecialUse }): Promise<Mailbox> {
    // RFC 9051 §6.3.4: a trailing hierarchy delimiter means the name without it.
    const n = normalizeMailboxName(name.endsWith(DELIMITER) && name.length > 1 ? name.slice(0, -1) : name);
    const specialUse = opts?.specialUse ?? null;
    if (specialUse !== null && !SPECIAL_USES.has(specialUse)) throw new StoreError('invalid', `unknown special-use ${specialUse}`);
    return this.run(async (c, ctx) => {
      await this.lockAccount(c, accountId);
      if (await this.mailboxRow(c, accountId, n)) throw new StoreError('exists', `mailbox ${n} already exists`);
      // RFC 9051 §6.3.4: the server SHOULD create any superior hierarchical names that are needed.
      await this.createParents(c, ctx, accountId, n);
      const id = await this.insertMailbox(c, accountId, n, specialUse, false);
      ctx.events.push({ type: 'mailbox-created', accountId, mailboxId: id, name: n });
      return toMailbox((await this.mailboxRowById(c, id))!);
    });
  }

  async deleteMailbox(accountId: number, name: string): Promise<void> {
    const n = normalizeMailboxName(name);
    if (n === 'INBOX') throw new StoreError('forbidden', 'INBOX cannot be deleted');
    return this.run(async (c, ctx) => {
      await this.lockAccount(c, accountId);
      const box = await this.mailboxRow(c, accountId, n, true);
      if (!box) throw new StoreError('not-found', `mailbox ${n} does not exist`);
      await this.dropMessages(c, ctx, box);
      await c.query('DELETE FROM mailboxes WHERE id = $1', [box.id]);
      // RFC 9051 §6.3.7: the subscription outlives the mailbox.
      if (box.subscribed === 1) await c.query('INSERT INTO lost_subscriptions (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [accountId, n]);
      ctx.events.push({ type: 'mailbox-deleted', accountId, mailboxId: box.id, name: n });
    });
  }

  async renameMailbox(accountId: number, oldName: string, newName: string): Promise<void> {
    const from = normalizeMailboxName(oldName);
    const to = normalizeMailboxName(newName);
    return this.run(async (c, ctx) => {
      await this.lockAccount(c, accountId);
      const box = await this.mailboxRow(c, accountId, from, true);
      if (!box) throw new StoreError('not-found', `mailbox ${from} does not exist`);
      if (await this.mailboxRow(c, accountId, to)) throw new StoreError('exists', `mailbox ${to} already exists`);
      if (from === 'INBOX') {
        // RFC 9051 §6.3.6: renaming INBOX moves its messages into a new mailbox and leaves INBOX empty.
        await this.createParents(c, ctx, accountId, to);
        const newId = await this.insertMailbox(c, accountId, to, null, false);
        ctx.events.push({ type: 'mailbox-created', accountId, mailboxId: newId, name: to });
        const uids = (await c.query<{ uid: number }>('SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid', [box.id])).rows.map((r) => r.uid);
        if (uids.length > 0) await this.copyInTx(c, ctx, box.id, uids, newId, true);
        return;
      }
      if (to.startsWith(from + DELIMITER)) throw new StoreError('invalid', `cannot rename ${from} into itself (${to})`);
      // RFC 9051 §6.3.6: inferior hierarchical names are renamed too.
      const children = (
        await c.query<MailboxRow>('SELECT * FROM mailboxes WHERE account_id = $1 AND left(name, $2) = $3 ORDER BY name COLLATE "C"', [accountId, from.length + 1, from + DELIMITER])
      ).rows;
      const moves: Array<[MailboxRow, string]> = [[box, to], ...children.map((ch): [MailboxRow, string] => [ch, to + ch.name.slice(from.length)])];
      for (const [, target] of moves.slice(1)) {
        if (await this.mailboxRow(c, accountId, target)) throw new StoreError('exists', `mailbox ${target} already exists`);
      }
      // RFC 9051 §6.3.6: superior hierarchical names of the new name are created if needed.
      await this.createParents(c, ctx, accountId, to);
      for (const [row, target] of moves) {
        await c.query('UPDATE mailboxes SET name = $1 WHERE id = $2', [target, row.id]);
        ctx.events.push({ type: 'mailbox-renamed', accountId, mailboxId: row.id, name: target, oldName: row.name });
      }
    });
  }

  private async createParents(c: PoolClient, ctx: TxContext, accountId: number, name: string): Promise<void> {
    for (const parent of parentNames(name)) {
      if (!(await this.mailboxRow(c, accountId, parent))) {
        const id = await this.insertMailbox(c, accountId, parent, null, false);
        ctx.events.push({ type: 'mailbox-created', accountId, mailboxId: id, name: parent });
      }
    }
  }

  async setSubscribed(accountId: number, name: string, subscribed: boolean): Promise<void> {
    const n = normalizeMailboxName(name);
    return this.run(async (c, ctx) => {
      if (!subscribed) await c.query('DELETE FROM lost_subscriptions WHERE account_id = $1 AND name = $2', [accountId, n]);
      const r = await c.query<{ id: number }>('UPDATE mailboxes SET subscribed = $1 WHERE account_id = $2 AND name = $3 RETURNING id', [subscribed ? 1 : 0, accountId, n]);
      if (!r.rows[0] && !subscribed) return; // RFC 9051 §6.3.8: a name whose mailbox is gone can be unsubscribed
      if (!r.rows[0]) throw new StoreError('not-found', `mailbox ${n} does not exist`);
      ctx.events.push({ type: 'mailbox-subscription', accountId, mailboxId: r.rows[0].id, subscribed });
    });
  }

  async listLostSubscriptions(accountId: number): Promise<string[]> {
    const r = await this.pool.query<{ name: string }>('SELECT name FROM lost_subscriptions WHERE account_id = $1 ORDER BY name', [accountId]);
    return r.rows.map((x) => x.name);
  }

  async mailboxStatus(mailboxId: number): Promise<MailboxStatus> {
    // One statement: the counters and the recent count from one snapshot.
    const r = await this.pool.query<MailboxRow & { recent: number }>(
      'SELECT x.*, (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = x.id AND m.uid > x.recent_uid) AS recent FROM mailboxes x WHERE x.id = $1',
      [mailboxId],
    );
    const box = r.rows[0];
    if (!box) throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
    return {
      messages: box.message_count,
      unseen: box.unseen_count,
      recent: box.recent,
      uidNext: box.uid_next,
      uidValidity: box.uid_validity,
      highestModSeq: box.highest_modseq,
      size: box.total_size,
      deleted: box.deleted_count,
    };
  }

  async claimRecent(mailboxId: number): Promise<number> {
    return this.run(async (c) => {
      const box = await this.mailboxRowById(c, mailboxId, true);
      if (!box) throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
      await c.query('UPDATE mailboxes SET recent_uid = uid_next - 1 WHERE id = $1', [mailboxId]);
      return box.recent_uid;
    });
  }

  private async adjustCounts(c: PoolClient, mailboxId: number, d: Counts): Promise<void> {
    await c.query('UPDATE mailboxes SET message_count = message_count + $1, unseen_count = unseen_count + $2, deleted_count = deleted_count + $3, total_size = total_size + $4 WHERE id = $5', [
      d.messages,
      d.unseen,
      d.deleted,
      d.size,
      mailboxId,
    ]);
  }

  private async mailboxRow(c: Queryable, accountId: number, name: string, lock = false): Promise<MailboxRow | undefined> {
    return (await c.query<MailboxRow>(`SELECT * FROM mailboxes WHERE account_id = $1 AND name = $2${lock ? ' FOR UPDATE' : ''}`, [accountId, name])).rows[0];
  }

  private async mailboxRowById(c: Queryable, id: number, lock = false): Promise<MailboxRow | undefined> {
    if (!isInt4(id)) return undefined;
    return (await c.query<MailboxRow>(`SELECT * FROM mailboxes WHERE id = $1${lock ? ' FOR NO KEY UPDATE' : ''}`, [id])).rows[0];
  }

  private async insertMailbox(c: PoolClient, accountId: number, name: string, specialUse: SpecialUse | null, subscribed: boolean): Promise<number> {
    const validity = await this.nextUidValidity(c);
    const r = await c.query<{ id: number }>('INSERT INTO mailboxes (account_id, name, uid_validity, special_use, subscribed) VALUES ($1, $2, $3, $4, $5) RETURNING id', [
      accountId,
      name,
      validity,
      specialUse,
      subscribed ? 1 : 0,
    ]);
    return r.rows[0]!.id;
  }

  /**
   * RFC 9051 §2.3.1.1: a mailbox name that is deleted and created again must get a new
   * UIDVALIDITY: the current time in seconds, or one more than the last one handed out (one
   * atomic statement on the shared counter row, so two nodes never hand out the same).
   */
  private async nextUidValidity(c: PoolClient): Promise<number> {
    const r = await c.query<{ value: number }>(
      `INSERT INTO meta (key, value) VALUES ('uidvalidity', $1) ON CONFLICT (key) DO UPDATE SET value = GREATEST(excluded.value, meta.value + 1) RETURNING value`,
      [Math.floor(Date.now() / 1000)],
    );
    return r.rows[0]!.value;
  }

  /** Locks the account row (first in the lock order); not-found when it does not exist. */
  private async lockAccount(c: PoolClient, accountId: number): Promise<void> {
    if ((await c.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId])).rowCount === 0) throw new StoreError('not-found', `account ${accountId} does not exist`);
  }

  // ---------------------------------------------------------------- messages

  async listMessages(mailboxId: number, opts?: { fromUid?: number; toUid?: number; limit?: number }): Promise<MessageMeta[]> {
    let from = Math.max(1, opts?.fromUid ?? 1);
    const to = opts?.toUid ?? Number.MAX_SAFE_INTEGER;
    const limit = opts?.limit ?? Infinity;
    const out: MessageMeta[] = [];
    while (out.length < limit) {
      const n = Math.min(PAGE, limit - out.length);
      const r = await this.pool.query<MessageRow>('SELECT * FROM messages WHERE mailbox_id = $1 AND uid >= $2 AND uid <= $3 ORDER BY uid LIMIT $4', [mailboxId, from, to, n]);
      for (const row of r.rows) out.push(toMeta(row));
      if (r.rows.length < n) break;
      from = r.rows[r.rows.length - 1]!.uid + 1;
    }
    return out;
  }

  async listIndexRows(mailboxId: number, afterUid: number, limit: number): Promise<IndexRow[]> {
    // Array rows (rowMode 'array'), the index's columns only, keyed by UID (no OFFSET).
    const r = await this.pool.query<IndexRow>({
      text: "SELECT uid, sys_flags, modseq, size, internal_date, CASE keywords WHEN '[]' THEN NULL ELSE keywords END FROM messages WHERE mailbox_id = $1 AND uid > $2 ORDER BY uid LIMIT $3",
      values: [mailboxId, Math.max(0, afterUid), Math.max(0, limit)],
      rowMode: 'array',
    });
    return r.rows;
  }

  async getMessages(mailboxId: number, uids: number[]): Promise<MessageMeta[]> {
    const out: MessageMeta[] = [];
    for (const chunk of chunks(uids)) {
      const r = await this.pool.query<MessageRow>('SELECT * FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid', [mailboxId, chunk]);
      for (const row of r.rows) out.push(toMeta(row));
    }
    return out;
  }

  async getStructure(mailboxId: number, uid: number): Promise<MessageStructure | null> {
    const r = await this.pool.query<{ structure: string }>('SELECT b.structure FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.mailbox_id = $1 AND m.uid = $2', [mailboxId, uid]);
    return r.rows[0] ? (JSON.parse(r.rows[0].structure) as MessageStructure) : null;
  }

  async getStructures(mailboxId: number, uids: number[]): Promise<Map<number, MessageStructure>> {
    const out = new Map<number, MessageStructure>();
    for (const chunk of chunks(uids)) {
      const r = await this.pool.query<{ uid: string | number; structure: string }>(
        'SELECT m.uid, b.structure FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.mailbox_id = $1 AND m.uid = ANY($2::bigint[])',
        [mailboxId, chunk],
      );
      for (const row of r.rows) out.set(Number(row.uid), JSON.parse(row.structure) as MessageStructure);
    }
    return out;
  }

  async getPreviews(blobIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const ids = [...new Set(blobIds)];
    for (let i = 0; i < ids.length; i += PAGE) {
      const chunk = ids.slice(i, i + PAGE);
      const r = await this.pool.query<{ id: string; preview: string }>('SELECT id, preview FROM blobs WHERE id = ANY($1::text[]) AND preview IS NOT NULL', [chunk]);
      for (const row of r.rows) out.set(row.id, row.preview);
    }
    return out;
  }

  async setPreview(blobId: string, preview: string): Promise<void> {
    await this.pool.query('UPDATE blobs SET preview = $1 WHERE id = $2 AND preview IS NULL', [preview, blobId]);
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
    return this.run(
      async (c, ctx) => {
        // Lock order: every target account first, by id.
        const ids = [...new Set(targets.map((t) => t.accountId))].filter(isInt4).sort((a, b) => a - b);
        await c.query('SELECT id FROM accounts WHERE id = ANY($1::int[]) ORDER BY id FOR NO KEY UPDATE', [ids]);
        const results: DeliveryResult[] = [];
        for (const [i, t] of targets.entries()) {
          const f = flags[i]!;
          if (f instanceof StoreError) {
            results.push({ ok: false, accountId: t.accountId, error: f.code, message: f.message });
            continue;
          }
          // Each target in its own savepoint: one account over quota does not undo the others.
          await c.query('SAVEPOINT target');
          const local: TxContext = { events: [], released: new Set() };
          try {
            const r = await this.addMessage(c, local, blob, t.accountId, t.mailbox ?? 'INBOX', true, f, new Date());
            await c.query('RELEASE SAVEPOINT target');
            ctx.events.push(...local.events);
            results.push({ ok: true, accountId: t.accountId, mailboxId: r.mailboxId, uid: r.uid });
          } catch (err) {
            if (!(err instanceof StoreError)) throw err;
            await c.query('ROLLBACK TO SAVEPOINT target');
            await c.query('RELEASE SAVEPOINT target');
            results.push({ ok: false, accountId: t.accountId, error: err.code, message: err.message });
          }
        }
        return results;
      },
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
    return this.run(async (c, ctx) => {
      await this.lockAccount(c, accountId);
      return this.addMessage(c, ctx, blob, accountId, mailbox, false, flags, date);
    }, [blob]);
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
    // One transaction: every message or none.
    return this.run(async (c, ctx) => {
      await this.lockAccount(c, accountId);
      const old = expunge && expunge.uids.length ? [...new Set(expunge.uids)].sort((a, b) => a - b) : [];
      const box = expunge && old.length ? await this.mailboxRowById(c, expunge.mailboxId, true) : undefined;
      if (expunge && old.length && (!box || box.account_id !== accountId)) throw new StoreError('not-found', `mailbox ${expunge.mailboxId} does not exist`);
      // The blob rows this transaction changes, the expunged messages' and the appended ones', at once in id order.
      const released = box ? await c.query<{ blob_id: string }>('SELECT blob_id FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])', [box.id, old]) : { rows: [] };
      await this.blobData.lockRows(
        c,
        prepared.map((p) => p.blob),
        released.rows.map((x) => x.blob_id),
      );
      if (box) await this.removeMessages(c, ctx, box, old);
      const uids: number[] = [];
      let last: { uidValidity: number; mailboxId: number } | null = null;
      for (const p of prepared) {
        const r = await this.addMessage(c, ctx, p.blob, accountId, mailbox, false, p.flags, p.date);
        uids.push(r.uid);
        last = r;
      }
      return { uids, uidValidity: last!.uidValidity, mailboxId: last!.mailboxId };
    }, prepared.map((p) => p.blob));
  }

  /** Inside a transaction, the account row locked: one new message, under the account's quota. */
  private async addMessage(
    c: PoolClient,
    ctx: TxContext,
    blob: StagedBlob,
    accountId: number,
    mailbox: string,
    fallbackToInbox: boolean,
    flags: FlagSet,
    date: Date,
  ): Promise<{ uid: number; uidValidity: number; mailboxId: number }> {
    const acc = await this.accountRowById(c, accountId);
    if (!acc) throw new StoreError('not-found', `account ${accountId} does not exist`);
    let name: string | null = null;
    try {
      name = normalizeMailboxName(mailbox);
    } catch (err) {
      if (!fallbackToInbox) throw err;
    }
    let box = name === null ? undefined : await this.mailboxRow(c, accountId, name);
    if (!box && fallbackToInbox) box = await this.mailboxRow(c, accountId, 'INBOX');
    if (!box) throw new StoreError('not-found', `mailbox ${mailbox} does not exist`);
    await this.chargeQuota(c, acc, blob.size);
    // The mailbox row lock: UID and MODSEQ come from it, one writer at a time on every node.
    const r = await c.query<{ uid: number; modseq: number; uid_validity: number }>(
      `UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1,
              message_count = message_count + 1, unseen_count = unseen_count + $2, deleted_count = deleted_count + $3, total_size = total_size + $4
        WHERE id = $1 RETURNING uid_next - 1 AS uid, highest_modseq AS modseq, uid_validity`,
      [box.id, flags.bits & FLAG_SEEN ? 0 : 1, flags.bits & FLAG_DELETED ? 1 : 0, blob.size],
    );
    const { uid, modseq, uid_validity } = r.rows[0]!;
    await this.blobData.addRef(c, blob, 1, 0);
    // RFC 8514 §4: saved now
    await c.query('INSERT INTO messages (mailbox_id, uid, modseq, sys_flags, keywords, internal_date, size, blob_id, saved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
      box.id,
      uid,
      modseq,
      flags.bits,
      JSON.stringify(flags.keywords),
      date.getTime(),
      blob.size,
      blob.id,
      Date.now(),
    ]);
    ctx.events.push({ type: 'message-added', accountId, mailboxId: box.id, uid, modseq });
    return { uid, uidValidity: uid_validity, mailboxId: box.id };
  }

  /** Inside a transaction: adds `bytes` to the account's usage, refusing to go over its quota (one atomic statement). */
  private async chargeQuota(c: PoolClient, acc: AccountRow, bytes: number): Promise<void> {
    const r = await c.query('UPDATE accounts SET usage = usage + $2 WHERE id = $1 AND (quota = 0 OR usage + $2 <= quota)', [acc.id, bytes]);
    if (r.rowCount === 1) return;
    const now = (await c.query<{ usage: number; quota: number }>('SELECT usage, quota FROM accounts WHERE id = $1', [acc.id])).rows[0];
    if (!now) throw new StoreError('not-found', `account ${acc.id} does not exist`);
    throw new StoreError('over-quota', `${acc.address} is over quota (${now.usage} of ${now.quota} bytes used, ${bytes} more needed)`);
  }

  /**
   * Inside a transaction: reference counts drop by the messages' blobs. Their rows are locked
   * first in id order (the UPDATE ... FROM alone locks them in its plan's order); a transaction
   * that changes other blob rows too has locked them all before (lockRows), and this waits for none.
   */
  private async releaseBlobs(c: PoolClient, ctx: TxContext, blobIds: readonly string[]): Promise<void> {
    const counts = new Map<string, number>();
    for (const id of blobIds) counts.set(id, (counts.get(id) ?? 0) + 1);
    const ids = sortIds(counts.keys());
    await this.blobData.lockRows(c, [], ids);
    const r = await c.query<{ id: string; refs: number }>(
      `UPDATE blobs b SET refs = b.refs - d.n FROM (SELECT * FROM unnest($1::text[], $2::int[]) AS u(id, n)) d
        WHERE b.id = d.id RETURNING b.id, b.refs`,
      [ids, ids.map((id) => counts.get(id)!)],
    );
    for (const row of r.rows) if (row.refs <= 0) ctx.released.add(row.id);
  }

  /** Inside a transaction, account and mailbox rows locked: deletes every message of a mailbox. */
  private async dropMessages(c: PoolClient, ctx: TxContext, box: MailboxRow): Promise<void> {
    const r = await c.query<{ blob_id: string; size: number }>('DELETE FROM messages WHERE mailbox_id = $1 RETURNING blob_id, size', [box.id]);
    if (r.rows.length === 0) return;
    await this.releaseBlobs(
      c,
      ctx,
      r.rows.map((x) => x.blob_id),
    );
    const total = r.rows.reduce((n, x) => n + x.size, 0);
    await c.query('UPDATE accounts SET usage = usage - $1 WHERE id = $2', [total, box.account_id]);
  }

  async updateFlags(
    mailboxId: number,
    uids: number[],
    update: FlagUpdate,
  ): Promise<{ changed: Array<{ uid: number; flags: string[]; modseq: number }>; failed: number[] }> {
    const delta = parseFlags(update.flags);
    const changed: Array<{ uid: number; flags: string[]; modseq: number }> = [];
    const failed: number[] = [];
    for (const chunk of chunks(uids)) {
      const r = await this.run(async (c, ctx) => {
        const box = await this.mailboxRowById(c, mailboxId, true);
        if (!box) throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
        const modseq = box.highest_modseq + 1;
        const out = { changed: [] as Array<{ uid: number; flags: string[]; modseq: number }>, failed: [] as number[] };
        const rows = await c.query<{ uid: number; sys_flags: number; keywords: string; modseq: number }>(
          'SELECT uid, sys_flags, keywords, modseq FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid',
          [mailboxId, chunk],
        );
        const counts: Counts = { messages: 0, unseen: 0, deleted: 0, size: 0 };
        const upd = { uids: [] as number[], bits: [] as number[], keywords: [] as string[] };
        for (const row of rows.rows) {
          // RFC 7162 §3.1.3: UNCHANGEDSINCE fails for a message whose mod-sequence is higher.
          if (update.unchangedSince !== undefined && row.modseq > update.unchangedSince) {
            out.failed.push(row.uid);
            continue;
          }
          const current: FlagSet = { bits: row.sys_flags, keywords: JSON.parse(row.keywords) as string[] };
          const next = applyFlagUpdate(current, update.mode, delta);
          if (sameFlags(current, next)) continue;
          upd.uids.push(row.uid);
          upd.bits.push(next.bits);
          upd.keywords.push(JSON.stringify(next.keywords));
          out.changed.push({ uid: row.uid, flags: formatFlags(next.bits, next.keywords), modseq });
          counts.unseen += (row.sys_flags & FLAG_SEEN ? 1 : 0) - (next.bits & FLAG_SEEN ? 1 : 0);
          counts.deleted += (next.bits & FLAG_DELETED ? 1 : 0) - (row.sys_flags & FLAG_DELETED ? 1 : 0);
        }
        if (out.changed.length > 0) {
          await c.query(
            `UPDATE messages m SET sys_flags = u.bits, keywords = u.keywords, modseq = $2
               FROM (SELECT * FROM unnest($3::bigint[], $4::int[], $5::text[]) AS x(uid, bits, keywords)) u
              WHERE m.mailbox_id = $1 AND m.uid = u.uid`,
            [mailboxId, modseq, upd.uids, upd.bits, upd.keywords],
          );
          // One UPDATE of the mailbox row, not two: a second UPDATE of a row this transaction has
          // already updated re-runs the foreign key check on account_id (FOR KEY SHARE on the
          // account row), a lock this path would otherwise take after the mailbox's.
          await c.query(
            'UPDATE mailboxes SET unseen_count = unseen_count + $1, deleted_count = deleted_count + $2, highest_modseq = $3 WHERE id = $4',
            [counts.unseen, counts.deleted, modseq, mailboxId],
          );
          ctx.events.push({ type: 'flags-changed', accountId: box.account_id, mailboxId, changes: out.changed });
        }
        return out;
      });
      changed.push(...r.changed);
      failed.push(...r.failed);
    }
    return { changed, failed };
  }

  async expunge(mailboxId: number, uids: number[]): Promise<number[]> {
    const removed: number[] = [];
    for (const chunk of chunks(uids)) {
      removed.push(
        ...(await this.run(async (c, ctx) => {
          const box = await this.lockMailboxWithAccount(c, mailboxId);
          return this.removeMessages(c, ctx, box, chunk);
        })),
      );
    }
    return removed;
  }

  /** Locks a mailbox's account row, then the mailbox row (the lock order). */
  private async lockMailboxWithAccount(c: PoolClient, mailboxId: number): Promise<MailboxRow> {
    const peek = await this.mailboxRowById(c, mailboxId);
    if (!peek) throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
    await c.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [peek.account_id]);
    const box = await this.mailboxRowById(c, mailboxId, true);
    if (!box) throw new StoreError('not-found', `mailbox ${mailboxId} does not exist`);
    return box;
  }

  /** Inside a transaction, account and mailbox locked: removes messages by UID; returns the UIDs that existed. */
  private async removeMessages(c: PoolClient, ctx: TxContext, box: MailboxRow, sortedUids: number[]): Promise<number[]> {
    const r = await c.query<{ uid: number; size: number; sys_flags: number; blob_id: string }>(
      'DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) RETURNING uid, size, sys_flags, blob_id',
      [box.id, sortedUids],
    );
    if (r.rows.length === 0) return [];
    const rows = r.rows.sort((a, b) => a.uid - b.uid);
    const counts: Counts = { messages: 0, unseen: 0, deleted: 0, size: 0 };
    for (const m of rows) {
      counts.messages--;
      counts.size -= m.size;
      if (!(m.sys_flags & FLAG_SEEN)) counts.unseen--;
      if (m.sys_flags & FLAG_DELETED) counts.deleted--;
    }
    await this.adjustCounts(c, box.id, counts);
    const modseq = (await c.query<{ modseq: number }>('UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1 RETURNING highest_modseq AS modseq', [box.id])).rows[0]!.modseq;
    await c.query('UPDATE accounts SET usage = usage + $1 WHERE id = $2', [counts.size, box.account_id]);
    await this.releaseBlobs(
      c,
      ctx,
      rows.map((m) => m.blob_id),
    );
    const removed = rows.map((m) => m.uid);
    // RFC 7162 §3.2.5.2: remembered for VANISHED (EARLIER) (expungedSince)
    await c.query(
      `INSERT INTO expunged (mailbox_id, uid, modseq) SELECT $1, u, $2 FROM unnest($3::bigint[]) AS u
       ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq`,
      [box.id, modseq, removed],
    );
    ctx.events.push({ type: 'messages-expunged', accountId: box.account_id, mailboxId: box.id, uids: removed, modseq });
    return removed;
  }

  async expungedSince(mailboxId: number, modseq: number): Promise<number[]> {
    const r = await this.pool.query<{ uid: string | number }>('SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid', [mailboxId, modseq]);
    return r.rows.map((row) => Number(row.uid));
  }

  async copyMessages(srcMailboxId: number, uids: number[], dstMailboxId: number): Promise<CopyResult> {
    const sorted = [...new Set(uids)].sort((a, b) => a - b);
    const r = await this.run((c, ctx) => this.copyLocked(c, ctx, srcMailboxId, sorted, dstMailboxId, false));
    // ChangeFeed.observe: the observers of messages-copied (Junk verdicts) finish first.
    await this.changes.local.settled();
    return r;
  }

  async moveMessages(srcMailboxId: number, uids: number[], dstMailboxId: number): Promise<CopyResult> {
    const sorted = [...new Set(uids)].sort((a, b) => a - b);
    const r = await this.run((c, ctx) => this.copyLocked(c, ctx, srcMailboxId, sorted, dstMailboxId, true));
    await this.changes.local.settled();
    return r;
  }

  /** Takes the locks of a copy in order (both accounts, then both mailboxes, by id), then copies. */
  private async copyLocked(c: PoolClient, ctx: TxContext, srcId: number, sortedUids: number[], dstId: number, move: boolean): Promise<CopyResult> {
    const boxes = await c.query<{ id: number; account_id: number }>('SELECT id, account_id FROM mailboxes WHERE id = ANY($1::int[])', [[srcId, dstId]]);
    const src = boxes.rows.find((b) => b.id === srcId);
    if (!src) throw new StoreError('not-found', `mailbox ${srcId} does not exist`);
    const dst = boxes.rows.find((b) => b.id === dstId);
    if (!dst) throw new StoreError('not-found', `mailbox ${dstId} does not exist`);
    await c.query('SELECT id FROM accounts WHERE id = ANY($1::int[]) ORDER BY id FOR NO KEY UPDATE', [[src.account_id, dst.account_id]]);
    await c.query('SELECT id FROM mailboxes WHERE id = ANY($1::int[]) ORDER BY id FOR NO KEY UPDATE', [[srcId, dstId]]);
    return this.copyInTx(c, ctx, srcId, sortedUids, dstId, move);
  }

  /** Inside a transaction, locks held: copies (or moves) messages, set-based, under the destination's quota. */
  private async copyInTx(c: PoolClient, ctx: TxContext, srcId: number, sortedUids: number[], dstId: number, move: boolean): Promise<CopyResult> {
    const src = (await this.mailboxRowById(c, srcId))!;
    const dst = await this.mailboxRowById(c, dstId);
    if (!dst) throw new StoreError('not-found', `mailbox ${dstId} does not exist`);
    const rows = (
      await c.query<{ uid: number; size: number; sys_flags: number; blob_id: string }>('SELECT uid, size, sys_flags, blob_id FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid', [
        srcId,
        sortedUids,
      ])
    ).rows;
    const map: Array<[number, number]> = [];
    if (rows.length === 0) return { uidValidity: dst.uid_validity, map };
    const counts: Counts = { messages: rows.length, unseen: 0, deleted: 0, size: 0 };
    for (const m of rows) {
      counts.size += m.size;
      if (!(m.sys_flags & FLAG_SEEN)) counts.unseen++;
      if (m.sys_flags & FLAG_DELETED) counts.deleted++;
    }
    const sameAccount = src.account_id === dst.account_id;
    // A move within one account does not change its usage; a copy (or a move across accounts) does.
    if (!(move && sameAccount)) {
      const acc = await this.accountRowById(c, dst.account_id);
      if (!acc) throw new StoreError('not-found', `account ${dst.account_id} does not exist`);
      await this.chargeQuota(c, acc, counts.size);
    }
    const refs = new Map<string, number>();
    for (const m of rows) refs.set(m.blob_id, (refs.get(m.blob_id) ?? 0) + 1);
    const ids = sortIds(refs.keys());
    // Before the INSERT (whose foreign key check takes the rows FOR KEY SHARE) and the UPDATE: all at once, in id order.
    await this.blobData.lockRows(c, [], ids);
    const first = dst.uid_next;
    const modseq = dst.highest_modseq + 1;
    const srcUids = rows.map((m) => m.uid);
    // RFC 4315 §3: COPYUID pairs source and destination UIDs in the same (ascending) order.
    await c.query(
      // RFC 8514 §4: a copy (and a moved message) is saved into the destination now
      `INSERT INTO messages (mailbox_id, uid, modseq, sys_flags, keywords, internal_date, size, blob_id, saved_at)
       SELECT $1, $2 + ROW_NUMBER() OVER (ORDER BY uid) - 1, $3, sys_flags, keywords, internal_date, size, blob_id, $6
         FROM messages WHERE mailbox_id = $4 AND uid = ANY($5::bigint[])`,
      [dstId, first, modseq, srcId, srcUids, Date.now()],
    );
    await this.adjustCounts(c, dstId, counts);
    await c.query('UPDATE blobs b SET refs = b.refs + d.n FROM (SELECT * FROM unnest($1::text[], $2::int[]) AS u(id, n)) d WHERE b.id = d.id', [ids, ids.map((id) => refs.get(id)!)]);
    await c.query('UPDATE mailboxes SET uid_next = $1, highest_modseq = $2 WHERE id = $3', [first + srcUids.length, modseq, dstId]);
    srcUids.forEach((uid, i) => {
      map.push([uid, first + i]);
      ctx.events.push({ type: 'message-added', accountId: dst.account_id, mailboxId: dstId, uid: first + i, modseq });
    });
    ctx.events.push({ type: 'messages-copied', accountId: dst.account_id, srcMailboxId: srcId, dstMailboxId: dstId, uids: map.map(([s, d]) => [s, d]), moved: move });
    if (move) {
      if (sameAccount) await c.query('UPDATE accounts SET usage = usage + $1 WHERE id = $2', [counts.size, src.account_id]); // removeMessages subtracts it again
      await this.removeMessages(c, ctx, (await this.mailboxRowById(c, srcId))!, srcUids);
    }
    return { uidValidity: dst.uid_validity, map };
  }

  // ---------------------------------------------------------------- POP3

  /**
   * RFC 1939 §4: the exclusive-access lock on an account's maildrop, for every node on the
   * database (an advisory lock held on this node's lock connection). null when held elsewhere.
   */
  lockMaildrop(accountId: number): Promise<(() => Promise<void>) | null> {
    return this.locks.tryLock(LOCK_SPACE.maildrop, accountId);
  }

  // ---------------------------------------------------------------- maintenance

  /** Consistency check: the SQLite store's checks, plus every blob's bytes present with its size. */
  async verify(): Promise<{ problems: string[]; tempFiles: number }> {
    const problems: string[] = [];
    const q = <T extends object>(sql: string): Promise<T[]> => this.pool.query<T>(sql).then((r) => r.rows);
    for (const b of await q<{ id: string; refs: number; held: number; n: number }>(
      `SELECT b.id, b.refs, b.held, (SELECT COUNT(*) FROM messages m WHERE m.blob_id = b.id) AS n FROM blobs b
        WHERE b.refs <> b.held + (SELECT COUNT(*) FROM messages m WHERE m.blob_id = b.id)`,
    )) {
      problems.push(`blob ${b.id}: refs ${b.refs} but ${b.n} message(s) + ${b.held} held`);
    }
    for (const u of await q<{ address: string; usage: number; actual: number }>(
      `SELECT * FROM (SELECT a.address, a.usage, COALESCE((SELECT SUM(m.size) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = a.id), 0) AS actual FROM accounts a) t
        WHERE usage <> actual`,
    )) {
      problems.push(`account ${u.address}: usage ${u.usage} but messages sum to ${u.actual}`);
    }
    for (const u of await q<{ id: number; name: string; uid_next: number; max_uid: number; highest_modseq: number; max_modseq: number }>(
      `SELECT x.id, x.name, x.uid_next, MAX(m.uid) AS max_uid, x.highest_modseq, MAX(m.modseq) AS max_modseq FROM mailboxes x JOIN messages m ON m.mailbox_id = x.id
        GROUP BY x.id HAVING MAX(m.uid) >= x.uid_next OR MAX(m.modseq) > x.highest_modseq`,
    )) {
      problems.push(`mailbox ${u.id} ${u.name}: UIDNEXT ${u.uid_next} / HIGHESTMODSEQ ${u.highest_modseq} not above UID ${u.max_uid} / MODSEQ ${u.max_modseq}`);
    }
    for (const x of await q<{ id: number; name: string; mc: number; uc: number; dc: number; ts: number; n: number; nu: number; nd: number; ns: number }>(
      `SELECT x.id, x.name, x.message_count AS mc, x.unseen_count AS uc, x.deleted_count AS dc, x.total_size AS ts,
              COUNT(m.uid) AS n, COUNT(m.uid) FILTER (WHERE (m.sys_flags & ${FLAG_SEEN}) = 0) AS nu,
              COUNT(m.uid) FILTER (WHERE (m.sys_flags & ${FLAG_DELETED}) <> 0) AS nd, COALESCE(SUM(m.size), 0) AS ns
         FROM mailboxes x LEFT JOIN messages m ON m.mailbox_id = x.id GROUP BY x.id
       HAVING x.message_count <> COUNT(m.uid) OR x.unseen_count <> COUNT(m.uid) FILTER (WHERE (m.sys_flags & ${FLAG_SEEN}) = 0)
           OR x.deleted_count <> COUNT(m.uid) FILTER (WHERE (m.sys_flags & ${FLAG_DELETED}) <> 0) OR x.total_size <> COALESCE(SUM(m.size), 0)`,
    )) {
      problems.push(`mailbox ${x.id} ${x.name}: counters ${x.mc}/${x.uc}/${x.dc}/${x.ts} but messages ${x.n}/${x.nu}/${x.nd}/${x.ns}`);
    }
    if (this.blobData.mode === 'database') {
      for (const b of await q<{ id: string; size: number; stored: number; chunks: number; last: number | null }>(
        `SELECT b.id, b.size, COALESCE(SUM(octet_length(c.data)), 0) AS stored, COUNT(c.seq) AS chunks, MAX(c.seq) AS last
           FROM blobs b LEFT JOIN blob_chunks c ON c.blob_id = b.id WHERE b.refs > 0 GROUP BY b.id
         HAVING COALESCE(SUM(octet_length(c.data)), 0) <> b.size OR COUNT(c.seq) <> COALESCE(MAX(c.seq) + 1, 0)`,
      )) {
        problems.push(`blob ${b.id}: ${b.stored} bytes in ${b.chunks} chunk(s), expected ${b.size}`);
      }
    } else {
      const sizes = new Map<string, number>();
      for (const r of await q<{ id: string; size: number; refs: number }>('SELECT id, size, refs FROM blobs')) sizes.set(r.id, r.refs > 0 ? r.size : -1);
      const seen = new Set<string>();
      for await (const f of this.blobData.files.walkCommitted()) {
        const want = sizes.get(f.name);
        if (want === undefined) problems.push(`file ${f.path} has no blob row (orphan)`);
        else if (want >= 0 && want !== f.size) problems.push(`file ${f.path}: ${f.size} bytes, expected ${want}`);
        seen.add(f.name);
      }
      for (const [id, size] of sizes) if (size >= 0 && !seen.has(id)) problems.push(`blob ${id}: file missing`);
    }
    return { problems, tempFiles: (await this.blobData.files.listTemp()).length };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.collecting.size) await Promise.all([...this.collecting]);
    await this.changes.local.settled();
    try {
      await this.onClose();
    } finally {
      await this.changes.close();
      await this.locks.close();
      await this.blobData.files.close();
      await this.pool.end();
    }
  }
}

/** A node id for the change feed: unique per open store. */
export function newNodeId(): string {
  return randomBytes(8).toString('hex');
}

/** Ids are INTEGER columns: anything else matches no row (and must not make PostgreSQL fail the statement). */
function isInt4(n: number): boolean {
  return Number.isInteger(n) && n >= -2147483648 && n <= 2147483647;
}

/** Distinct staged blobs in id order: prepareAll inserts new rows in the blob lock order. */
function uniqueBlobs(staged: readonly StagedBlob[]): StagedBlob[] {
  const seen = new Map<string, StagedBlob>();
  for (const s of staged) if (!seen.has(s.id)) seen.set(s.id, s);
  return sortIds(seen.keys()).map((id) => seen.get(id)!);
}

