// A throwaway PostgreSQL cluster for tests (Debian's postgresql package): initdb into a temporary
// directory, listening on 127.0.0.1 on a free port with its unix socket in that directory, fsync
// on; one database per store the tests open; stopped and removed at the end. initdb refuses to run
// as root, so as root the cluster runs as the "postgres" OS user (runuser).
//
// Without the PostgreSQL binaries: in CI (YUBIN_REQUIRE_POSTGRES=1, set by .ci/run, or CI=true)
// startCluster() throws, so the PostgreSQL contract run FAILS; locally it returns null and the
// caller skips with postgresUnavailable's message.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { openPostgresStore } from '../../src/store/postgres/open.js';

const run = promisify(execFile);

/** The environment variable that carries the cluster's base URL to child processes (the crash test's writer). */
export const PG_TEST_URL_ENV = 'YUBIN_TEST_POSTGRES_URL';

export interface Cluster {
  /** postgresql://postgres@127.0.0.1:<port>/ (no database). */
  baseUrl: string;
  /** The URL of a database (created by createDatabase). */
  url(database: string): string;
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** The directory holding initdb/pg_ctl, or null. */
export function postgresBinDir(): string | null {
  const fromEnv = process.env.YUBIN_POSTGRES_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions[0]) return join(base, versions[0], 'bin');
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const path = which.stdout.trim();
  return which.status === 0 && path ? path.slice(0, -'/initdb'.length) : null;
}

export function postgresRequired(): boolean {
  return process.env.YUBIN_REQUIRE_POSTGRES === '1' || process.env.CI === 'true' || process.env.CI === '1';
}

export const postgresUnavailable = 'PostgreSQL binaries not found (apt-get install postgresql): the PostgreSQL store tests are skipped';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a cluster, or returns null when PostgreSQL is missing and not required. */
export async function startCluster(): Promise<Cluster | null> {
  const bin = postgresBinDir();
  if (!bin) {
    if (postgresRequired()) throw new Error('PostgreSQL binaries not found, but this run requires them (YUBIN_REQUIRE_POSTGRES/CI): install Debian\'s postgresql package');
    return null;
  }
  const root = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'yubin-pg-'));
  const data = join(dir, 'data');
  // As root, everything below runs as the postgres user (initdb refuses root).
  const as = async (cmd: string, args: string[]): Promise<void> => {
    if (root) await run('runuser', ['-u', 'postgres', '--', cmd, ...args]);
    else await run(cmd, args);
  };
  if (root) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gids = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (ids.status !== 0) throw new Error('running as root, but there is no "postgres" OS user to run the test cluster as');
    await chown(dir, Number(ids.stdout.trim()), Number(gids.stdout.trim()));
  }
  await as(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
  let port = 0;
  let started = false;
  for (let attempt = 0; attempt < 5 && !started; attempt++) {
    port = await freePort();
    const opts = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c fsync=on -c synchronous_commit=on -c max_connections=200 -c shared_buffers=32MB`;
    try {
      await as(join(bin, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
      started = true;
    } catch (err) {
      if (attempt === 4) throw new Error(`could not start the test PostgreSQL: ${(err as Error).message}\n${readFileSync(join(dir, 'log'), 'utf8').slice(-2000)}`);
    }
  }
  // If the test process dies without stop(), the postmaster must not outlive it.
  const killOnExit = (): void => {
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // already gone
    }
  };
  process.on('exit', killOnExit);
  const baseUrl = `postgresql://postgres@127.0.0.1:${port}/`;
  const url = (database: string): string => `${baseUrl}${encodeURIComponent(database)}`;
  let creating: Promise<unknown> = Promise.resolve();
  return {
    baseUrl,
    url,
    async createDatabase(name: string): Promise<string> {
      // One CREATE DATABASE at a time (they copy template1).
      const p = creating.then(async () => {
        const admin = new pg.Client({ connectionString: url('postgres') });
        await admin.connect();
        try {
          const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
          if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
        } finally {
          await admin.end();
        }
      });
      creating = p.catch(() => undefined);
      await p;
      return url(name);
    },
    async stop(): Promise<void> {
      process.off('exit', killOnExit);
      await as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => killOnExit());
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The database a test directory maps to: the same directory always opens the same database. */
export function databaseFor(dir: string): string {
  return `t_${basename(dir).replace(/[^a-zA-Z0-9]/g, '_').toLowerCase()}`;
}

/**
 * The contract's open(dir) for PostgreSQL: a database per directory on the cluster named by
 * PG_TEST_URL_ENV (so the crash test's child process opens the same one), blobs in the database.
 */
export async function openTestStore(dir: string): Promise<PostgresStore> {
  return openTestStoreWith(dir, 'database');
}

export async function openTestStoreFiles(dir: string): Promise<PostgresStore> {
  return openTestStoreWith(dir, 'files');
}

async function openTestStoreWith(dir: string, blobs: 'database' | 'files'): Promise<PostgresStore> {
  const base = process.env[PG_TEST_URL_ENV];
  if (!base) throw new Error(`${PG_TEST_URL_ENV} is not set (start a cluster with startCluster first)`);
  const name = databaseFor(dir);
  const admin = new pg.Client({ connectionString: `${base}postgres` });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${name}"`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // created meanwhile by another opener
    });
  } finally {
    await admin.end();
  }
  return openPostgresStore({ url: `${base}${name}`, dataDir: dir, blobs, poolSize: 8 });
}
