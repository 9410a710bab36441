// Helpers every `yubin` subcommand shares: config loading, opening the store, one-line errors.
import type { Command } from 'commander';
import { loadConfig, ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Store } from '../store/types.js';
import { StoreError } from '../store/types.js';

/** Prints one line on stderr and exits non-zero. */
export function fail(message: string): never {
  process.stderr.write(`yubin: ${message.replace(/[\r\n]+/g, ' ')}\n`);
  process.exit(1);
}

/** Prints a result line on stdout. */
export function say(message: string): void {
  process.stdout.write(message + '\n');
}

/** Loads the config named by --config (or $YUBIN_CONFIG, or the defaults); a bad config is one line and exit 1. */
export function loadCliConfig(opts: { config?: string }): Config {
  try {
    return loadConfig(opts.config ?? null).config;
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
}

/** The config for a subcommand: reads the --config option wherever it was given on the command line. */
export function configOf(cmd: Command): Config {
  return loadCliConfig(cmd.optsWithGlobals() as { config?: string });
}

/** Opens the store in config.data_dir, runs fn, closes the store (also on error). */
export async function withStore<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const { openStore } = await import('../store/index.js');
  const store = await openStore(config.data_dir, { config: config.store });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Known errors become one line and exit 1; anything else is a bug and shows its stack. */
export function reportError(err: unknown): never {
  if (err instanceof StoreError || err instanceof ConfigError) fail(err.message);
  if (err instanceof Error && (err as Error & { userFacing?: boolean }).userFacing) fail(err.message);
  process.stderr.write(`yubin: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
}

/** An error whose message is meant for the user as it is (bad argument etc.). */
export class UsageError extends Error {
  readonly userFacing = true;
}

/** Wraps an async commander action so that errors become one clear line. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      reportError(err);
    }
  };
}

/** Lower-cases and checks an address "local@domain"; throws UsageError naming the problem. */
export function parseAddress(input: string, what = 'address'): string {
  const a = input.trim().toLowerCase();
  // RFC 5321 §4.1.2 Mailbox = Local-part "@" ( Domain / address-literal ); we accept dot-atom local parts.
  if (!/^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*$/.test(a) || a.length > 254) {
    throw new UsageError(`malformed ${what}: ${JSON.stringify(input)} (expected local@domain)`);
  }
  return a;
}

export function parseDomain(input: string): string {
  const d = input.trim().toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))+$/.test(d) || d.length > 253) {
    throw new UsageError(`malformed domain: ${JSON.stringify(input)} (expected a name like example.com)`);
  }
  return d;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)}G`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)}M`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)}K`;
  return `${n}B`;
}
