// Admin API bearer tokens in the PostgreSQL store: the SQLite store's table and rules
// (src/store/sqlite/tokens.ts) in PostgreSQL, module "api_tokens" (schema.ts).
import { StoreError, type ApiToken, type ApiTokenStore } from '../types.js';
import type { Pool, PoolClient } from '../../db/postgres/pool.js';

interface Row {
  name: string;
  created_at: number;
  last_used_at: number | null;
}

const toToken = (r: Row): ApiToken => ({ name: r.name, createdAt: new Date(r.created_at), lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at) });

export class PgApiTokenStore implements ApiTokenStore {
  constructor(
    private readonly pool: Pool,
    /** Runs a write in a transaction of the store (durable on resolve). */
    private readonly write: <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>,
  ) {}

  createApiToken(name: string, secretHash: string, now: Date): Promise<ApiToken> {
    return this.write(async (c) => {
      const r = await c.query('INSERT INTO api_tokens (name, secret_hash, created_at, last_used_at) VALUES ($1, $2, $3, NULL) ON CONFLICT (name) DO NOTHING', [name, secretHash, now.getTime()]);
      if (r.rowCount === 0) throw new StoreError('exists', `an API token named ${name} exists already`);
      return { name, createdAt: new Date(now.getTime()), lastUsedAt: null };
    });
  }

  async listApiTokens(): Promise<ApiToken[]> {
    return (await this.pool.query<Row>('SELECT name, created_at, last_used_at FROM api_tokens ORDER BY name COLLATE "C"')).rows.map(toToken);
  }

  async findApiToken(secretHash: string): Promise<(ApiToken & { secretHash: string }) | null> {
    const r = (await this.pool.query<Row & { secret_hash: string }>('SELECT name, secret_hash, created_at, last_used_at FROM api_tokens WHERE secret_hash = $1', [secretHash])).rows[0];
    return r ? { ...toToken(r), secretHash: r.secret_hash } : null;
  }

  touchApiToken(name: string, now: Date): Promise<void> {
    return this.write(async (c) => {
      await c.query('UPDATE api_tokens SET last_used_at = $1 WHERE name = $2 AND (last_used_at IS NULL OR last_used_at < $1)', [now.getTime(), name]);
    });
  }

  revokeApiToken(name: string): Promise<void> {
    return this.write(async (c) => {
      if ((await c.query('DELETE FROM api_tokens WHERE name = $1', [name])).rowCount === 0) throw new StoreError('not-found', `no API token named ${name}`);
    });
  }
}
