// Test fixture: what a database's schema is, engine by engine, as comparable data (tables with their
// columns, keys, foreign keys, checks and indexes), so two databases made different ways can be
// compared with deepEqual.
import type Database from 'better-sqlite3';
import type { Queryable } from '../postgres/pool.js';

/** SQL text with its spacing and case evened out (CREATE INDEX x ON t (a) = ... ON t(a)). */
export const normalSql = (s: string): string =>
  s
    .replace(/--[^\n]*/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(/\s*([(),=])\s*/g, '$1')
    .trim()
    .toLowerCase();

interface Named {
  name: string;
}

export function sqliteSchema(db: Database.Database): Record<string, unknown> {
  const objects = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name").all() as Array<{ type: string; name: string; tbl_name: string; sql: string | null }>;
  const out: Record<string, unknown> = {};
  for (const o of objects) {
    if (o.type !== 'table') continue;
    const quoted = `"${o.name}"`;
    const sql = o.sql ?? '';
    const indexes = (db.prepare(`PRAGMA index_list(${quoted})`).all() as Array<Named & { unique: number; origin: string; partial: number }>).map((i) => ({
      name: i.name,
      unique: i.unique,
      origin: i.origin,
      partial: i.partial,
      keys: (db.prepare(`PRAGMA index_xinfo("${i.name}")`).all() as Array<{ cid: number; name: string | null; desc: number; coll: string; key: number }>).filter((k) => k.key),
      // An index made by CREATE INDEX: its text (expressions, WHERE); autoindexes have none.
      sql: normalSql((objects.find((x) => x.type === 'index' && x.name === i.name)?.sql ?? '').replace(/ON\s+(\w+)\s*\(/i, 'ON $1(')),
    }));
    indexes.sort((a, b) => a.name.localeCompare(b.name));
    out[o.name] = {
      columns: db.prepare(`PRAGMA table_info(${quoted})`).all(),
      withoutRowid: /\)\s*WITHOUT\s+ROWID\s*$/i.test(sql),
      autoincrement: /AUTOINCREMENT/i.test(sql),
      virtual: /^CREATE VIRTUAL/i.test(sql),
      checks: [...normalSql(sql).matchAll(/check\(((?:[^()]|\([^()]*\))*)\)/g)].map((m) => m[1]),
      foreignKeys: db.prepare(`PRAGMA foreign_key_list(${quoted})`).all(),
      indexes,
    };
  }
  return out;
}

export async function postgresSchema(db: Queryable): Promise<Record<string, unknown>> {
  const out: Record<string, { columns: unknown[]; constraints: unknown[]; indexes: unknown[] }> = {};
  const get = (t: string) => (out[t] ??= { columns: [], constraints: [], indexes: [] });
  const columns = await db.query<{ table_name: string }>(
    `SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default, is_identity, identity_generation
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY table_name, ordinal_position`,
  );
  for (const c of columns.rows) get(c.table_name).columns.push(c);
  const constraints = await db.query<{ table_name: string }>(
    `SELECT conrelid::regclass::text AS table_name, conname, contype, pg_get_constraintdef(oid) AS def
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'schema_migrations' ORDER BY 1, 2`,
  );
  for (const c of constraints.rows) get(c.table_name).constraints.push(c);
  const indexes = await db.query<{ tablename: string }>(`SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY 1, 2`);
  for (const i of indexes.rows) get(i.tablename).indexes.push(i);
  return out;
}
