// Integration harness: starts Yubin exactly as a user does — the `yubin` CLI with a config
// file — with every listener on port 0 (or on addresses the test names), waits for the
// "ready" log line, and reports the bound ports. Domains and users are added with the CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import type { HttpListenerName, ListenerName as MailListenerName } from '../../src/config/schema.js';

/** Mail and HTTP listeners (every one is started on port 0 unless the test names addresses). */
type ListenerName = MailListenerName | HttpListenerName;

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(REPO_ROOT, 'src', 'cli', 'main.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `yubin ARGS` (through tsx, from the source tree) and collects its output. */
export function runCli(args: string[], opts: { config?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolveP, reject) => {
    const full = [...args, ...(opts.config ? ['--config', opts.config] : [])];
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...full], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`yubin ${full.join(' ')} timed out; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveP({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface StartOptions {
  hostname?: string;
  /** Reuse an instance directory (restart); default a new temporary one. */
  dir?: string;
  /** IP every listener binds to (port 0); default 127.0.0.1. Ignored for listeners given in `listen`. */
  host?: string;
  /** Explicit listener addresses, e.g. { smtp: ['127.0.0.2:25'] }; others get host:0. */
  listen?: Partial<Record<ListenerName, string[]>>;
  /** Extra config sections/keys merged into the file, e.g. { auth: { allow_plaintext: true } }. */
  config?: Record<string, unknown>;
  domains?: string[];
  users?: Array<{ address: string; password: string; quota?: string }>;
  aliases?: Array<{ address: string; targets: string[] }>;
  /** Extra environment for the server process. */
  env?: NodeJS.ProcessEnv;
  /**
   * Runs the server from compiled JS (dist/cli/main.js, `npm run build` first) with these node
   * flags (e.g. --cpu-prof) instead of from source through tsx (benchmarks: what users run).
   */
  compiled?: { nodeArgs?: string[] };
}

export interface YubinInstance {
  dir: string;
  dataDir: string;
  configPath: string;
  hostname: string;
  addresses: Record<ListenerName, string[]>;
  /** The first bound port of a listener. */
  port(name: ListenerName): number;
  /** The first bound host of a listener. */
  host(name: ListenerName): string;
  /** Runs a CLI command against this instance's config. */
  cli(args: string[], input?: string): Promise<CliResult>;
  /** Everything the server printed so far (stdout JSON logs + stderr). */
  output(): string;
  /** SIGTERM and wait for a clean exit; resolves with the exit code. Keeps the directory. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash). */
  kill(): Promise<void>;
  /** Stops (if running) and removes the directory. */
  destroy(): Promise<void>;
  /** Starts the server again on the same directory and config (after stop/kill). */
  restart(): Promise<YubinInstance>;
  process: ChildProcess;
}

const ALL: ListenerName[] = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'managesieve', 'http', 'https', 'admin'];

export async function startYubin(opts: StartOptions = {}): Promise<YubinInstance> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'yubin-it-'));
  mkdirSync(dir, { recursive: true });
  const hostname = opts.hostname ?? 'mail.example.test';
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'yubin.toml');
  const host = opts.host ?? '127.0.0.1';
  const listen: Record<string, string[]> = {};
  for (const name of ALL) listen[name] = opts.listen?.[name] ?? [`${host}:0`];
  const cfg: Record<string, unknown> = { hostname, data_dir: dataDir, listen, log: { level: 'info' }, ...opts.config };
  writeFileSync(configPath, stringify(cfg));

  const cli = (args: string[], input?: string) => runCli(args, { config: configPath, input });
  for (const d of opts.domains ?? []) {
    const r = await cli(['domain', 'add', d]);
    if (r.code !== 0) throw new Error(`domain add ${d}: ${r.stderr}`);
  }
  for (const u of opts.users ?? []) {
    const r = await cli(['user', 'add', u.address, '--password-stdin', ...(u.quota ? ['--quota', u.quota] : [])], u.password + '\n');
    if (r.code !== 0) throw new Error(`user add ${u.address}: ${r.stderr}`);
  }
  for (const a of opts.aliases ?? []) {
    const r = await cli(['alias', 'add', a.address, ...a.targets]);
    if (r.code !== 0) throw new Error(`alias add ${a.address}: ${r.stderr}`);
  }
  return launch({ dir, dataDir, configPath, hostname, env: opts.env, compiled: opts.compiled });
}

/**
 * Every server a test file starts, until it exits. A test file that ends without stopping one (a
 * failed before() that started several with Promise.all, a timeout) must not leave it running
 * and holding its ports for the next file: they are killed when the test process exits.
 */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

async function launch(p: { dir: string; dataDir: string; configPath: string; hostname: string; env?: NodeJS.ProcessEnv; compiled?: { nodeArgs?: string[] } }): Promise<YubinInstance> {
  const entry = p.compiled ? [...(p.compiled.nodeArgs ?? []), join(REPO_ROOT, 'dist', 'cli', 'main.js')] : ['--import', 'tsx', MAIN];
  const child = spawn(process.execPath, [...entry, 'serve', '--config', p.configPath], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...p.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  // A running server does not keep the test process alive (its pipes neither): when the file's
  // tests are done the process exits, and the exit hook above stops what is still running.
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  let out = '';
  let exited: number | null | undefined;
  const exitWaiters: Array<(code: number | null) => void> = [];
  child.on('exit', (code) => {
    exited = code;
    for (const w of exitWaiters.splice(0)) w(code);
  });
  const waitExit = () => new Promise<number | null>((r) => (exited !== undefined ? r(exited) : exitWaiters.push(r)));

  const addresses = await new Promise<Record<ListenerName, string[]>>((resolveP, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`yubin serve did not become ready in 30 s; output:\n${out}`));
    }, 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const j = JSON.parse(line) as { msg?: string; listeners?: Record<ListenerName, string[]> };
          if (j.msg === 'ready' && j.listeners) {
            clearTimeout(timer);
            resolveP(j.listeners);
          }
        } catch {
          // not a JSON log line
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`yubin serve exited with ${code} before ready; output:\n${out}`));
    });
  });

  const split = (a: string) => {
    const m = /^\[?(.*?)\]?:(\d+)$/.exec(a)!;
    return { host: m[1]!, port: Number(m[2]) };
  };
  const inst: YubinInstance = {
    ...p,
    addresses,
    process: child,
    port: (name) => {
      const a = addresses[name]?.[0];
      if (!a) throw new Error(`listener ${name} is not running`);
      return split(a).port;
    },
    host: (name) => {
      const a = addresses[name]?.[0];
      if (!a) throw new Error(`listener ${name} is not running`);
      return split(a).host;
    },
    cli: (args, input) => runCli(args, { config: p.configPath, input }),
    output: () => out,
    async stop() {
      if (exited !== undefined) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await waitExit();
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (exited !== undefined) return;
      child.kill('SIGKILL');
      await waitExit();
    },
    async destroy() {
      await inst.stop();
      rmSync(p.dir, { recursive: true, force: true });
    },
    async restart() {
      await inst.stop();
      return launch(p);
    },
  };
  return inst;
}
