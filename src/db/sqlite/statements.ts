// Prepared statements cached by their SQL, per connection: better-sqlite3 parses and plans a
// statement at prepare(), so code that runs the same SQL often prepares it once. A cached
// statement is shared by every caller of the same SQL text (one switched to raw mode stays raw).
import type Database from 'better-sqlite3';

export class StatementCache {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /** The prepared statement for `sql`, prepared at the first call. */
  get(sql: string): Database.Statement {
    let st = this.cache.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.cache.set(sql, st);
    }
    return st;
  }

  /** Forgets every statement (before the connection closes). */
  clear(): void {
    this.cache.clear();
  }
}
