// Exclusive locks shared by every node on one database: PostgreSQL session-level advisory locks,
// held on one dedicated connection per process (not a pooled one, which would go back to the pool
// with the lock still held, and not one connection per lock, which would drain the pool). A lock
// is held until released or until the connection ends: a node that dies (kill -9, network loss)
// gives its locks back as soon as PostgreSQL notices the connection is gone.
//
// Advisory locks are re-entrant within one session, so this process also keeps the set it holds
// and refuses a second holder itself.
import type pg from 'pg';
import { connectClient } from './pool.js';

/** Namespaces (the first int4 of the two-key advisory lock). */
export const LOCK_SPACE = {
  /** RFC 1939 §4: the POP3 maildrop of an account. */
  maildrop: 0x504f5033,
} as const;

export class AdvisoryLocks {
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  private readonly held = new Set<string>();
  /** Serialises lock calls on the one connection. */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly onLost: (err: Error) => void = () => undefined,
  ) {}

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    this.connecting ??= connectClient(this.url, 'yubin-locks').then(
      (c) => {
        c.on('error', (err: Error) => {
          // Every lock of this session is gone with it.
          if (this.client === c) this.client = null;
          this.held.clear();
          this.onLost(err);
        });
        this.client = c;
        this.connecting = null;
        return c;
      },
      (err: unknown) => {
        this.connecting = null;
        throw err;
      },
    );
    return this.connecting;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Takes the lock (space, key) if nobody holds it, in this process or any other on the database.
   * Returns the release function (idempotent), or null when the lock is held elsewhere.
   */
  async tryLock(space: number, key: number): Promise<(() => Promise<void>) | null> {
    if (this.closed) throw new Error('locks are closed');
    const name = `${space}:${key}`;
    if (this.held.has(name)) return null;
    this.held.add(name);
    let ok = false;
    try {
      ok = await this.serial(async () => {
        const c = await this.connection();
        const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok', [space, key]);
        return r.rows[0]!.ok;
      });
    } finally {
      if (!ok) this.held.delete(name);
    }
    if (!ok) return null;
    const client = this.client;
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      this.held.delete(name);
      // A lost connection already gave the lock back.
      if (this.client !== client || !client) return;
      await this.serial(() => client.query('SELECT pg_advisory_unlock($1::int4, $2::int4)', [space, key])).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    const c = this.client ?? (await this.connecting?.catch(() => null));
    this.client = null;
    this.held.clear();
    await c?.end().catch(() => undefined);
  }
}
