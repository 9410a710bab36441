// The queue manager: finds due recipients (polling the database, so a `yubin queue retry` from
// another process takes effect within a poll), runs deliveries under global and per-destination
// limits, records results with back-off, gives up after give_up_after, and sends DSNs.
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/types.js';
import type { QueueBackend, QueuedMessage, QueuedRecipient, RecipientResult } from './queue.js';
import { IN_MEMORY_MAX, type RemoteDelivery } from './deliver-remote.js';
import { deliverLocal } from './deliver-local.js';
import type { Outbound } from './types.js';
import { reportFinal, reportDelay, dsnOwed } from './report.js';

/**
 * Delay before the next try after `attempts` failed tries: retry_initial, doubling each time,
 * at most retry_max.
 */
export function retryDelay(attempts: number, initial: number, max: number): number {
  const n = Math.max(1, attempts);
  return Math.min(max, initial * 2 ** Math.min(n - 1, 40));
}

export interface SchedulerDeps {
  config: Config;
  store: Store;
  logger: Logger;
  queue: QueueBackend;
  remote: RemoteDelivery;
  now: () => Date;
  /** How often the database is polled for due work (ms). */
  pollMs?: number;
  /** The queue's own enqueue, for what local deliveries send (Sieve redirects, vacation replies). */
  outbound?: Outbound;
}

interface Unit {
  key: string;
  messageId: string;
  /** Recipient domain, or "" for local delivery. */
  domain: string;
  idxs: number[];
  /** A message this process has just enqueued: its rows (and bytes) as written, read from here instead of the database. */
  carried?: CarriedCopy;
}

/** A new message as its enqueue wrote it (Scheduler.offer). */
export interface Carried {
  message: QueuedMessage;
  /** Its bytes, when the caller had them in memory (else read at the attempt). */
  content: Buffer | null;
  /**
   * The queue's copyMark() taken before the enqueue began: a change committed at any time since
   * (even while the enqueue's own commit was being synced) makes the copy unusable. Without it,
   * the mark is taken when the copy is offered.
   */
  mark?: number;
}

/** A Carried in the backlog: when it was taken, and the queue's copyMark() then (if the queue has one). */
type CarriedCopy = Carried & { at: number; mark?: number };

/**
 * Most octets of new messages' bytes the backlog holds (Carried.content) at once; beyond it new
 * messages are offered without them (their attempt reads them).
 */
const CARRIED_BYTES_MAX = 32 * 1024 * 1024;

export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private kickScheduled = false;
  private ticking = false;
  private again = false;
  private stopping = false;
  private aborted = false;
  private lastHousekeeping = 0;
  /** Units being attempted, until their results are recorded (never dispatched twice meanwhile). */
  private readonly inflight = new Map<string, Promise<void>>();
  /**
   * Units whose delivery is running (the `concurrency` limit): a unit leaves this count when its
   * delivery returns, before its results are recorded, so the next delivery starts while the
   * results wait for the queue's next shared transaction.
   */
  private slots = 0;
  private readonly perDomain = new Map<string, number>();
  private readonly messageLocks = new Map<string, Promise<unknown>>();
  private readonly localDomains = new Map<string, { asked: Promise<boolean>; value?: boolean; at: number }>();
  /**
   * Due work read from the database and not dispatched yet (oldest first), so that a finished
   * delivery starts the next one without a query: read again when it runs out, after pollMs
   * (changes from the CLI), or when new work arrived while a slot is free.
   */
  private backlog = new Map<string, Unit>();
  private backlogAt = 0;
  private newWork = true;
  /**
   * The last read of the database returned every due recipient (fewer rows than it asked for):
   * then all due work is in the backlog, in flight, or offered since, and an empty backlog needs
   * no read until new work is flagged (`newWork`), the poll interval passes (deferrals coming due,
   * changes by the CLI) or a run fails (its rows may be left due). A steady flow of new mail
   * then costs no query per message.
   */
  private complete = false;
  /** While a refill reads the database: the units offered meanwhile (kept in the new backlog). */
  private offered: Unit[] | null = null;
  /** Octets of Carried.content held by backlog units (CARRIED_BYTES_MAX). */
  private carriedBytes = 0;

  constructor(private readonly deps: SchedulerDeps) {}

  start(): void {
    if (this.timer || this.stopping) return;
    this.timer = setInterval(() => this.kick(), this.deps.pollMs ?? 1000);
    this.kick();
  }

  /**
   * Looks for due work soon: after an enqueue, a retry or a release (`newWork`: the database may
   * hold work older than the backlog's), or a finished delivery (false: a slot is free).
   */
  kick(newWork = true): void {
    if (newWork) this.newWork = true;
    if (this.kickScheduled || this.stopping || !this.timer) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      void this.tick();
    });
  }

  /**
   * A message just enqueued by this process (committed): its units go straight into the backlog,
   * so new mail starts without a query of the database (which a kick with new work would make).
   * With `carried` (one server per database: the queue's backend has no leases) the attempt
   * starts from that copy of what the enqueue wrote instead of reading the rows again, while the
   * copy is still the rows (copyValid: nothing but enqueues and deliveries changed the queue since,
   * in this process or another); else it reads them.
   */
  async offer(messageId: string, recipients: ReadonlyArray<{ idx: number; domain: string }>, carried?: Carried): Promise<void> {
    if (this.stopping || !this.timer) return;
    let first = true;
    for (const r of recipients) {
      const local = this.isLocal(r.domain);
      const domain = (typeof local === 'boolean' ? local : await local) ? '' : r.domain;
      const key = `${messageId}\0${domain}`;
      if (this.inflight.has(key)) continue;
      let u = this.backlog.get(key);
      if (!u) {
        this.backlog.set(key, (u = { key, messageId, domain, idxs: [] }));
        // the bytes are counted once per message (its units share them)
        if (carried) u.carried = this.carry(carried, first);
        first = false;
      }
      if (!u.idxs.includes(r.idx)) u.idxs.push(r.idx);
      this.offered?.push(u);
    }
    this.kick(false);
  }

  /** Takes `c` into the backlog, without its bytes when the backlog holds CARRIED_BYTES_MAX already. */
  private carry(c: Carried, withBytes: boolean): CarriedCopy {
    const n = c.content?.length ?? 0;
    const at = this.deps.now().getTime();
    const mark = c.mark ?? this.deps.queue.copyMark?.();
    if (withBytes && n && this.carriedBytes + n <= CARRIED_BYTES_MAX) {
      this.carriedBytes += n;
      return { message: c.message, content: c.content, at, mark };
    }
    return { message: c.message, content: null, at, mark };
  }

  /**
   * Whether a carried copy is still the message's rows: nothing but enqueues and this process's
   * deliveries changed the queue since it was taken (the queue's copyMark), or, with a queue
   * without that mark, it is younger than the poll interval.
   */
  private copyValid(c: CarriedCopy, now: number): boolean {
    if (c.mark !== undefined && this.deps.queue.copyMark) return this.deps.queue.copyMark() === c.mark;
    return now - c.at < (this.deps.pollMs ?? 1000);
  }

  /** A unit's carried copy leaves the backlog (to be used, or dropped): its bytes stop counting. */
  private uncarry(u: Unit): CarriedCopy | undefined {
    const c = u.carried;
    if (!c) return undefined;
    u.carried = undefined;
    this.carriedBytes -= c.content?.length ?? 0;
    return c;
  }

  get busy(): number {
    return this.inflight.size;
  }

  /**
   * Whether a domain is ours, asked of the store at most once per domain every 5 s: the question
   * itself is kept, so a burst of new mail (every enqueue of a group commit offered at once) asks
   * once, and later callers get the answer without waiting for a promise.
   */
  private isLocal(domain: string): boolean | Promise<boolean> {
    const c = this.localDomains.get(domain);
    const now = Date.now();
    if (c && now - c.at < 5_000) return c.value ?? c.asked;
    const entry: { asked: Promise<boolean>; value?: boolean; at: number } = { asked: this.deps.store.isLocalDomain(domain), at: now };
    this.localDomains.set(domain, entry);
    entry.asked.then(
      (v) => (entry.value = v),
      () => {
        // a failed question is not kept: the next caller asks again
        if (this.localDomains.get(domain) === entry) this.localDomains.delete(domain);
      },
    );
    return entry.asked;
  }

  private async tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    try {
      do {
        this.again = false;
        // housekeeping (crash leftovers, CLI changes, delay warnings) once per poll interval
        if (Date.now() - this.lastHousekeeping >= (this.deps.pollMs ?? 1000)) {
          this.lastHousekeeping = Date.now();
          await this.housekeeping();
        }
        await this.dispatch();
      } while (this.again && !this.stopping);
    } catch (err) {
      this.deps.logger.error({ err }, 'queue scheduler error');
    } finally {
      this.ticking = false;
    }
  }

  private async dispatch(): Promise<void> {
    const { config } = this.deps;
    const limit = config.queue.concurrency;
    if (this.slots >= limit) return;
    const stale = Date.now() - this.backlogAt >= (this.deps.pollMs ?? 1000);
    if ((!this.backlog.size && !this.complete) || stale) await this.refill();
    this.startUnits();
    if (this.slots < limit && this.newWork && !this.stopping) {
      // slots left over and something was enqueued since the backlog was read
      await this.refill();
      this.startUnits();
    }
  }

  /** Reads the oldest due recipients into the backlog, as units (one per message and destination). */
  private async refill(): Promise<void> {
    const limit = this.deps.config.queue.concurrency;
    this.newWork = false;
    this.backlogAt = Date.now();
    this.offered = [];
    // enough rows to fill every free slot several times over, even when the oldest are in flight
    const asked = limit * 16 + 256;
    this.complete = false;
    const due = await this.deps.queue.due(this.deps.now().getTime(), asked);
    const units = new Map<string, Unit>();
    for (const r of due) {
      const known = this.isLocal(r.domain);
      const local = typeof known === 'boolean' ? known : await known;
      const domain = local ? '' : r.domain;
      const key = `${r.messageId}\0${domain}`;
      if (this.inflight.has(key)) continue;
      let u = units.get(key);
      if (!u) units.set(key, (u = { key, messageId: r.messageId, domain, idxs: [] }));
      u.idxs.push(r.idx);
    }
    // units offered while the query ran may not be in its answer: they stay
    for (const u of this.offered ?? []) if (!units.has(u.key) && !this.inflight.has(u.key)) units.set(u.key, u);
    this.offered = null;
    // a new message's carried copy stays with its unit (not attempted yet); a unit the answer
    // left out (past its limit) stays too while its copy may be used (copyValid)
    const now = this.deps.now().getTime();
    for (const old of this.backlog.values()) {
      if (!old.carried) continue;
      const kept = units.get(old.key);
      if (kept === old) continue;
      if (kept && !kept.carried) {
        kept.carried = old.carried;
        old.carried = undefined;
      } else if (!kept && this.copyValid(old.carried, now) && !this.inflight.has(old.key)) units.set(old.key, old);
      else this.uncarry(old);
    }
    this.backlog = units;
    // only once the answer is the backlog (a failed domain lookup above leaves it unread)
    this.complete = due.length < asked;
  }

  /** Starts backlog units while slots are free (global and per destination). */
  private startUnits(): void {
    const { config } = this.deps;
    const limit = config.queue.concurrency;
    for (const u of this.backlog.values()) {
      if (this.stopping || this.slots >= limit) break;
      if (this.inflight.has(u.key)) continue;
      const dest = u.domain || '(local)';
      const n = this.perDomain.get(dest) ?? 0;
      if (u.domain && n >= config.queue.per_domain_concurrency) continue;
      this.backlog.delete(u.key);
      this.perDomain.set(dest, n + 1);
      this.slots++;
      let held = true;
      // the slot (and the destination's count) is given back once the delivery is over
      const release = (): void => {
        if (!held) return;
        held = false;
        this.slots--;
        const m = (this.perDomain.get(dest) ?? 1) - 1;
        if (m <= 0) this.perDomain.delete(dest);
        else this.perDomain.set(dest, m);
        // the next unit at once when the backlog holds one and need not be read again (no turn
        // of the event loop, tick and dispatch per delivery); else as any other kick
        if (!this.ticking && !this.stopping && this.timer && !this.newWork && this.backlog.size && Date.now() - this.backlogAt < (this.deps.pollMs ?? 1000)) this.startUnits();
        else this.kick(false);
      };
      this.inflight.set(u.key, this.runUnit(u, release));
    }
  }

  /** One unit from start to its recorded results (one promise: no catch/finally chain per unit). */
  private async runUnit(u: Unit, release: () => void): Promise<void> {
    try {
      await this.run(u, release);
    } catch (err) {
      // Its recipients may still be due: the next dispatch that finds the backlog empty reads the
      // database again (the next delivery's end, a new message, or the poll; not at once, which
      // would loop while the database fails).
      this.complete = false;
      this.deps.logger.error({ err, queueId: u.messageId }, 'queue: delivery run failed');
    } finally {
      this.inflight.delete(u.key);
      release();
    }
  }

  /** Runs fn with the message's lock held (reports and removal never race each other). */
  private withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.messageLocks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.messageLocks.set(id, tail);
    void tail.then(() => {
      if (this.messageLocks.get(id) === tail) this.messageLocks.delete(id);
    });
    return next;
  }

  /**
   * Runs fn under this node's lease on the message (docs/queue.md "Storage"): with several nodes
   * on one database, another node holding it means the work is theirs (skipped here).
   */
  private async leased(id: string, fn: () => Promise<void>): Promise<void> {
    const { queue, logger } = this.deps;
    // one server per database (SQLite): nothing to claim or give back
    if (!queue.leasing) return fn();
    if (!(await queue.lease(id))) return;
    try {
      await fn();
    } finally {
      await queue.unlease(id).catch((err: unknown) => logger.warn({ err, queueId: id }, 'queue: giving back a lease failed (it expires)'));
    }
  }

  private run(u: Unit, release: () => void): Promise<void> {
    return this.leased(u.messageId, () => this.attempt(u, release));
  }

  /** One delivery of a unit; `release` gives its slot back (called once the delivery is over). */
  private async attempt(u: Unit, release: () => void): Promise<void> {
    const { queue, logger, config } = this.deps;
    // read after the lease is taken: what another node recorded before is seen, never sent again;
    // with the bytes of a message small enough to hold for a remote delivery (one read). A
    // message this process has just enqueued is taken as written while that copy is valid
    // (offer(): no other node, and its first attempt is this one)
    const carried = this.uncarry(u);
    const got =
      carried && this.copyValid(carried, this.deps.now().getTime())
        ? { message: carried.message, content: u.domain ? carried.content : null }
        : await queue.getForDelivery(u.messageId, u.domain ? IN_MEMORY_MAX : -1);
    if (!got || got.message.held) return;
    const msg = got.message;
    // every due recipient of this message for this destination (not only those the poll saw)
    const due = this.deps.now().getTime();
    const rcpts: QueuedRecipient[] = [];
    for (const r of msg.recipients) {
      if ((r.state !== 'queued' && r.state !== 'deferred') || (r.nextAttempt > due && !u.idxs.includes(r.idx))) continue;
      // the answer is usually known (no promise to wait for)
      const local = this.isLocal(r.domain);
      if (((typeof local === 'boolean' ? local : await local) ? '' : r.domain) === u.domain) rcpts.push(r);
    }
    if (!rcpts.length) return;
    let results: Array<{ idx: number } & RecipientResult>;
    try {
      results = u.domain
        ? await this.deps.remote.deliver(msg, rcpts, u.domain, got.content)
        : await deliverLocal(this.deps.store, queue, msg, rcpts, this.deps.now().getTime(), this.deps.outbound && { config, outbound: this.deps.outbound, logger, now: this.deps.now });
    } catch (err) {
      if (this.stopping) return; // cut short by shutdown: left as it was, tried again after restart
      logger.error({ err, queueId: msg.id }, 'delivery failed unexpectedly');
      results = rcpts.map((r) => ({ idx: r.idx, state: 'deferred', status: '4.3.0', reply: `451 4.3.0 internal error: ${(err as Error).message}` }));
    }
    release();
    if (this.aborted) {
      // connections broken by the shutdown: what is not final stays as it was, due again after restart
      results = results.filter((r) => r.state !== 'deferred');
    }
    const now = this.deps.now().getTime();
    const byIdx = new Map(rcpts.map((r) => [r.idx, r] as [number, QueuedRecipient]));
    for (const r of results) {
      if (r.state !== 'deferred') continue;
      const before = byIdx.get(r.idx)!;
      if (now - msg.createdAt >= config.queue.give_up_after) {
        // given up: the last temporary reply is the reason (the DSN says "failed")
        r.state = 'bounced';
        r.reply = `${r.reply} (gave up after ${before.attempts + 1} attempts)`;
      } else {
        r.nextAttempt = now + retryDelay(before.attempts + 1, config.queue.retry_initial, config.queue.retry_max);
      }
    }
    for (const r of results) {
      // a final result that owes no DSN is reported at once; when that finishes the message, the
      // same transaction removes it (one write per delivered message, no report step after)
      const before = byIdx.get(r.idx);
      if (before && (r.state === 'delivered' || r.state === 'bounced') && !dsnOwed(msg.from, { state: r.state, dsnAction: r.dsnAction ?? null, notify: before.notify })) r.reported = true;
    }
    const gone = await queue.record(msg.id, results, now, 'attempt');
    for (const r of results) {
      logger.info({ queueId: msg.id, rcpt: byIdx.get(r.idx)?.address, state: r.state, reply: r.reply, mta: r.remoteMta ?? undefined }, 'queue delivery');
    }
    if (gone) return;
    // DSNs and removal run after the delivery slot is free (stop() waits for them)
    void this.withLock(msg.id, () => this.finish(msg.id)).catch((err: unknown) => logger.error({ err, queueId: msg.id }, 'queue: finishing a message failed'));
  }

  private reportOptions() {
    return { hostname: this.deps.config.hostname, now: this.deps.now(), giveUpAfter: this.deps.config.queue.give_up_after };
  }

  /** DSNs for final recipients, delay warnings, and removal of finished messages. */
  private async finish(id: string): Promise<void> {
    const { queue } = this.deps;
    await this.leased(id, async () => {
      const dsn = await reportFinal(queue, id, this.reportOptions());
      if (dsn) this.kick();
    });
  }

  private async housekeeping(): Promise<void> {
    const { queue, config } = this.deps;
    const busy = (id: string) => [...this.inflight.keys()].some((k) => k.startsWith(id + '\0'));
    const hk = await queue.housekeeping();
    for (const id of new Set([...hk.unreported, ...hk.finished])) {
      if (busy(id) || this.messageLocks.has(id)) continue;
      await this.withLock(id, () => this.finish(id));
    }
    if (config.queue.delay_warning > 0) {
      for (const id of await queue.delayCandidates(this.deps.now().getTime() - config.queue.delay_warning)) {
        if (this.messageLocks.has(id)) continue;
        await this.withLock(id, () =>
          this.leased(id, async () => {
            if (await reportDelay(queue, id, this.reportOptions())) this.again = true;
          }),
        );
      }
    }
  }

  /**
   * Stops taking new work; lets deliveries in flight finish for up to graceMs, then breaks their
   * connections (those recipients stay queued and are tried again after the restart).
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const all = () => Promise.allSettled([...this.inflight.values()]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all().then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      this.aborted = true;
      this.deps.remote.abortAll();
      await all();
    }
    while (this.ticking) await new Promise((r) => setTimeout(r, 10));
    await Promise.allSettled([...this.messageLocks.values()]);
    await this.deps.remote.closeIdle();
  }
}
