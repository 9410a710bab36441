// Loads and validates the TOML configuration: `--config FILE`, else $YUBIN_CONFIG, else the
// embedded defaults. Every problem is one line naming the key and what is wrong with it.
import { readFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  /** The file it came from, or null for the embedded defaults. */
  path: string | null;
}

function keyPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += (out ? '.' : '') + String(p);
  }
  return out || '(top level)';
}

/** Validates an already parsed object (also used by tests). Relative data_dir and tls paths resolve against baseDir. */
export function validateConfig(raw: unknown, baseDir: string = process.cwd(), source = 'config'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => keyPath([...issue.path, k])).join(', ');
      throw new ConfigError(`${source}: unknown key ${keys}`);
    }
    throw new ConfigError(`${source}: ${keyPath(issue.path)}: ${issue.message}`);
  }
  const config = result.data;
  config.data_dir = resolve(baseDir, config.data_dir);
  if (config.tls) {
    config.tls.cert = resolve(baseDir, config.tls.cert);
    config.tls.key = resolve(baseDir, config.tls.key);
  }
  return config;
}

export function loadConfig(file?: string | null): LoadedConfig {
  const path = file ?? process.env.YUBIN_CONFIG ?? null;
  if (!path) return { config: validateConfig({}), path: null };
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${path}: cannot read config file (${code === 'ENOENT' ? 'no such file' : code ?? String(err)})`);
  }
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    throw new ConfigError(`${path}: not valid TOML: ${msg}`);
  }
  // Relative paths in a config file are relative to the file, as a user would expect.
  return { config: validateConfig(raw, dirname(abs), path), path: abs };
}
