// Opens the PostgreSQL store (docs/store.md "PostgreSQL"): the pool, the migrations of every
// module (each node may start them; the runner applies each once), this node's staging directory
// (<dataDir>/tmp, and <dataDir>/blobs with blobs = "files", a directory every node mounts), the
// LISTEN connection of the change feed and the lock connection.
//
// Swept at open: blob rows without references (left when a node stopped before collecting them;
// deleting one is always safe, a writer reviving it inserts it again) and this machine's
// temporary files whose process is gone (other nodes' temporary files are on their own disks).
import { mkdir, unlink } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { silentLogger, type Logger } from '../../log/logger.js';
import { createMessageParser } from '../../message/parser.js';
import { AdvisoryLocks } from '../../db/postgres/locks.js';
import { runPgMigrations, SchemaTooNewError } from '../../db/postgres/migrate.js';
import { openPool, redactUrl } from '../../db/postgres/pool.js';
import { BlobFiles, isErrno } from '../blobs.js';
import { StoreError } from '../types.js';
import { PgBlobs, type BlobMode } from './blobs.js';
import { PgChangeFeed } from './feed.js';
import { PG_MIGRATIONS } from './schema.js';
import { newNodeId, PostgresStore } from './store.js';

export { PostgresStore } from './store.js';

export interface PostgresStoreOptions {
  /** postgresql://user:password@host:port/database */
  url: string;
  /** This node's local directory: staging (tmp/) and, with blobs = "files", the shared blobs/. */
  dataDir: string;
  /** Pooled connections (default 10); two more are used for LISTEN and locks. */
  poolSize?: number;
  blobs?: BlobMode;
  logger?: Logger;
}

/** Temporary files older than this are swept even if their process seems alive (a reused pid). */
const STALE_MS = 24 * 60 * 60 * 1000;

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const logger = opts.logger ?? silentLogger();
  const dir = resolve(opts.dataDir);
  await mkdir(dir, { recursive: true });
  const files = new BlobFiles(dir, createMessageParser);
  await files.init();
  const pool = openPool({ url: opts.url, max: opts.poolSize ?? 10, applicationName: 'yubin' });
  const nodeId = newNodeId();
  const feed = new PgChangeFeed(opts.url, pool, nodeId, logger);
  const locks = new AdvisoryLocks(opts.url, (err) => logger.error({ err: err.message }, 'lock connection lost: every POP3 maildrop lock of this node is released'));
  try {
    for (const spec of PG_MIGRATIONS) {
      try {
        await runPgMigrations(pool, spec, redactUrl(opts.url));
      } catch (err) {
        if (err instanceof SchemaTooNewError) throw new StoreError('schema-too-new', err.message);
        throw err;
      }
    }
    await feed.start();
  } catch (err) {
    await feed.close();
    await pool.end();
    throw err;
  }
  const store = new PostgresStore(pool, new PgBlobs(pool, files, opts.blobs ?? 'database'), feed, locks, logger, async () => undefined);
  try {
    const dead = await pool.query<{ id: string }>('SELECT id FROM blobs WHERE refs <= 0');
    if (dead.rows.length > 0) await store.blobData.collect(dead.rows.map((r) => r.id));
    const temp = await sweepTemp(files);
    if (temp + dead.rows.length > 0) logger.info({ dataDir: dir, temp, dead: dead.rows.length }, 'swept leftovers from an interrupted run');
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/** Removes temporary files of processes that are gone (names are "<pid>-<random>"). */
async function sweepTemp(files: BlobFiles): Promise<number> {
  let n = 0;
  for (const t of await files.listTemp()) {
    const pid = Number(basename(t.path).split('-')[0]);
    const orphan = !Number.isInteger(pid) || pid <= 0 || (pid !== process.pid && !isAlive(pid)) || t.mtimeMs < Date.now() - STALE_MS;
    if (!orphan) continue;
    await unlink(t.path).catch(() => undefined);
    n++;
  }
  return n;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
