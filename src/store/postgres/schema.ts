// The store's tables in PostgreSQL: the modules of src/db/schema/store.ts, the one description of
// both engines' tables (docs/store.md "Migrations"), in the order they run.
import type { ModuleMigrations } from '../../db/schema/schema.js';
import { API_TOKEN_MODULE, METADATA_MODULE, SIEVE_MODULE, STORE_MODULE } from '../../db/schema/store.js';

export { CHUNK_SIZE } from '../../db/schema/store.js';

/** Every module's migrations, in the order they run. */
export const PG_MIGRATIONS: readonly ModuleMigrations[] = [STORE_MODULE, SIEVE_MODULE, API_TOKEN_MODULE, METADATA_MODULE];
