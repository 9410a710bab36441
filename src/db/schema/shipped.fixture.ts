// Test fixture: the migrations as they shipped before the one description (src/db/schema/), each
// engine's SQL text as the two hand-kept lists had it (shipped.json, dumped from them). Tests make
// databases "the old way" from it and check that the rendered description makes the same schema.
// Never edit shipped.json: it is what existing databases were made with.
import { readFileSync } from 'node:fs';
import type { Dialect } from './schema.js';

export interface ShippedMigration {
  version: number;
  name: string;
  sql: string;
}

const shipped = JSON.parse(readFileSync(new URL('./shipped.json', import.meta.url), 'utf8')) as Record<Dialect, Record<string, ShippedMigration[]>>;

/** The modules that shipped in one engine, each with its list. */
export function shippedModules(dialect: Dialect): Record<string, ShippedMigration[]> {
  return shipped[dialect];
}

/** One shipped migration's SQL. */
export function shippedSql(dialect: Dialect, module: string, version: number): string {
  const m = shipped[dialect][module]?.find((x) => x.version === version);
  if (!m) throw new Error(`no shipped ${dialect} migration ${module} ${version}`);
  return m.sql;
}
