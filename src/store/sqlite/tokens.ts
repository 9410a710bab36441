// Admin API bearer tokens in the SQLite store (yubin.sqlite): the token's name and the SHA-256 of
// its secret (never the secret), when it was made and last used. The table is the "api_tokens"
// module's migrations (src/db/schema/store.ts), run by the one runner after the store's own.
// A revoked token's row is deleted, so its secret no longer matches anything.
import type Database from 'better-sqlite3';
import { StoreError, type ApiToken, type ApiTokenStore } from '../types.js';
import { API_TOKEN_MIGRATIONS } from '../../db/schema/store.js';
import { registerMigrations } from './migrate.js';

registerMigrations('api_tokens', API_TOKEN_MIGRATIONS);

interface Row {
  name: string;
  created_at: number;
  last_used_at: number | null;
}

const toToken = (r: Row): ApiToken => ({ name: r.name, createdAt: new Date(r.created_at), lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at) });

export class SqliteApiTokenStore implements ApiTokenStore {
  private readonly st: Record<'exists' | 'insert' | 'list' | 'find' | 'touch' | 'remove', Database.Statement>;

  constructor(
    db: Database.Database,
    /** Runs a write in the store's group commit (durable on resolve). */
    private readonly write: <T>(fn: () => T) => Promise<T>,
  ) {
    this.st = {
      exists: db.prepare('SELECT 1 FROM api_tokens WHERE name = ?'),
      insert: db.prepare('INSERT INTO api_tokens (name, secret_hash, created_at, last_used_at) VALUES (?, ?, ?, NULL)'),
      list: db.prepare('SELECT name, created_at, last_used_at FROM api_tokens ORDER BY name'),
      find: db.prepare('SELECT name, secret_hash, created_at, last_used_at FROM api_tokens WHERE secret_hash = ?'),
      touch: db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE name = ? AND (last_used_at IS NULL OR last_used_at < ?)'),
      remove: db.prepare('DELETE FROM api_tokens WHERE name = ?'),
    };
  }

  createApiToken(name: string, secretHash: string, now: Date): Promise<ApiToken> {
    return this.write(() => {
      if (this.st.exists.get(name)) throw new StoreError('exists', `an API token named ${name} exists already`);
      this.st.insert.run(name, secretHash, now.getTime());
      return { name, createdAt: new Date(now.getTime()), lastUsedAt: null };
    });
  }

  async listApiTokens(): Promise<ApiToken[]> {
    return (this.st.list.all() as Row[]).map(toToken);
  }

  async findApiToken(secretHash: string): Promise<(ApiToken & { secretHash: string }) | null> {
    const r = this.st.find.get(secretHash) as (Row & { secret_hash: string }) | undefined;
    return r ? { ...toToken(r), secretHash: r.secret_hash } : null;
  }

  touchApiToken(name: string, now: Date): Promise<void> {
    return this.write(() => {
      this.st.touch.run(now.getTime(), name, now.getTime());
    });
  }

  revokeApiToken(name: string): Promise<void> {
    return this.write(() => {
      if (!this.st.remove.run(name).changes) throw new StoreError('not-found', `no API token named ${name}`);
    });
  }
}
