// The one way Yubin connects to PostgreSQL (DESIGN.md "Scale-out"): a pg.Pool whose connections
// commit durably (synchronous_commit=on: COMMIT returns only once the WAL is flushed, and on a
// synchronous standby if the cluster has one), bigint and numeric read as JavaScript numbers (every
// counter Yubin keeps stays far below 2^53), and a transaction helper that retries what
// PostgreSQL asks to be retried (deadlock, serialization failure).
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = pg.Pool | pg.PoolClient | pg.Client;

const INT8 = 20;
const NUMERIC = 1700;

/** bigint and numeric as numbers: counters, sizes and ms timestamps are all below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PoolOptions {
  /** postgresql://user:password@host:port/database (libpq form; ?host=/socket/dir works too). */
  url: string;
  /** Connections kept at most (default 10). */
  max?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
}

/** The client configuration every Yubin connection uses (pool, listener, lock holder). */
export function clientConfig(url: string, applicationName = 'yubin'): pg.ClientConfig {
  return {
    connectionString: url,
    application_name: applicationName,
    // Durability: nothing is acknowledged before COMMIT has flushed the WAL.
    options: '-c synchronous_commit=on -c client_min_messages=warning',
    types,
  };
}

export function openPool(opts: PoolOptions): Pool {
  const pool = new pg.Pool({ ...clientConfig(opts.url, opts.applicationName), max: opts.max ?? 10 });
  // An idle client that loses its connection emits 'error' on the pool; without a handler that
  // would crash the process. The pool drops it and connects again when needed.
  pool.on('error', () => undefined);
  return pool;
}

/** A single connection outside the pool (LISTEN, session-level advisory locks). */
export async function connectClient(url: string, applicationName = 'yubin'): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(url, applicationName));
  await client.connect();
  return client;
}

/** SQLSTATEs after which the whole transaction may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);

export function sqlState(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
}

/**
 * Runs `fn` in a transaction on one pooled connection; resolves after COMMIT (durable). A
 * deadlock or serialization failure rolls back and runs `fn` again (up to `retries` times), so
 * `fn` must keep its side effects inside the transaction or redo them idempotently.
 */
export async function transaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>, opts: { retries?: number } = {}): Promise<T> {
  const retries = opts.retries ?? 5;
  for (let attempt = 0; ; attempt++) {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (e) {
        broken = e instanceof Error ? e : new Error(String(e)); // the connection is gone: do not reuse it
      }
      if (attempt < retries && RETRYABLE.has(sqlState(err) ?? '')) continue;
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

/** A URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgresql://(unparsable url)';
  }
}
