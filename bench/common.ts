// Helpers the benchmarks share: free loopback ports, waiting for a listener, filling a store,
// and stopping a daemonised peer (Dovecot) when the bench is interrupted.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { openStore } from '../src/store/index.js';
import { hashPassword } from '../src/auth/index.js';
import { silentLogger } from '../src/log/logger.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The benchmarks run the compiled server, as `npm start` does: compiles src/ into dist/ (tsc),
 * once per bench process.
 */
let built = false;
export function ensureBuilt(): void {
  if (built) return;
  execFileSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'tsconfig.json')], { stdio: 'inherit' });
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) throw new Error('npm run build did not produce dist/cli/main.js');
  built = true;
}

/** BENCH_CPU_PROF=DIR: the server runs with --cpu-prof, its profile written into DIR at exit; BENCH_NODE_ARGS: other node flags. */
export function cpuProfileArgs(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  // BENCH_NODE_ARGS: more node flags for the server (e.g. --trace-gc)
  const extra = process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ').filter(Boolean) : [];
  return [...(dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), ...extra];
}

/**
 * Starts a daemonising Dovecot (`argv`), waits until it listens on `port` and has written its pid
 * file (stopping it at once if it never does); from then on it is stopped on Ctrl-C and by a
 * watchdog if the bench dies. stop() ends it and waits (up to 10 s) for its master to exit.
 */
export async function launchDovecot(o: { argv: [string, ...string[]]; pidFile: string; port: number }): Promise<{ master: number; stop(): Promise<void> }> {
  // Dovecot daemonizes; its output goes to log_path (a pipe here would be held open by the daemon).
  execFileSync(o.argv[0], o.argv.slice(1), { stdio: 'ignore' });
  const masterPid = (): number => {
    try {
      return Number(readFileSync(o.pidFile, 'utf8').trim());
    } catch {
      return 0;
    }
  };
  const unhook = killOnInterrupt(masterPid);
  try {
    await waitForPort(o.port);
    await waitForPidFile(o.pidFile);
  } catch (err) {
    unhook();
    const pid = masterPid();
    try {
      if (pid > 0) process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
    throw err;
  }
  const master = masterPid();
  stopWhenGone(master, 'dovecot');
  return {
    master,
    async stop() {
      unhook();
      try {
        process.kill(master, 'SIGTERM');
      } catch {
        return;
      }
      for (let i = 0; i < 200; i++) {
        try {
          process.kill(master, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Waits until a daemon has written its pid file (Dovecot listens before it writes master.pid). */
export async function waitForPidFile(path: string, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (pid > 0) return pid;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) throw new Error(`no pid in ${path} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Creates a store in dataDir with one account and delivers every message into its INBOX
 * `copies` times (one blob, several rows), `batch` deliveries at a time.
 */
export async function fillStore(dataDir: string, opts: { address: string; password: string; messages: Buffer[]; copies?: number; batch?: number; mailboxes?: string[] }): Promise<void> {
  const store = await openStore(dataDir, { logger: silentLogger() });
  try {
    await store.addDomain(opts.address.split('@')[1]!);
    const account = await store.addAccount(opts.address, await hashPassword(opts.password));
    for (const name of opts.mailboxes ?? []) await store.createMailbox(account.id, name);
    const targets = Array.from({ length: opts.copies ?? 1 }, () => ({ accountId: account.id }));
    const batch = opts.batch ?? 50;
    for (let i = 0; i < opts.messages.length; i += batch) {
      await Promise.all(
        opts.messages.slice(i, i + batch).map(async (m) => {
          const staged = await store.blobs.stage(m);
          const r = await store.deliver(staged, targets);
          await store.blobs.discard(staged);
          if (!r.every((x) => x.ok)) throw new Error('delivery into the bench store failed');
        }),
      );
    }
  } finally {
    await store.close();
  }
}

/**
 * A daemonised peer (Dovecot forks away) must not outlive an interrupted bench (Ctrl-C, timeout):
 * on SIGINT/SIGTERM, kill(pid()) and exit. Returns the function that removes the handlers.
 */
export function killOnInterrupt(pid: () => number): () => void {
  const onSignal = (sig: NodeJS.Signals) => {
    try {
      // 0 or less would name a process group (this one): only a real pid is killed
      const p = pid();
      if (p > 0) process.kill(p, 'SIGTERM');
    } catch {
      // already gone
    }
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/**
 * A bench killed outright (SIGKILL, a killed process group) runs no handler: a detached watchdog
 * sends SIGTERM to the daemon `pid` (while it is still a process named `comm`) once this process
 * is gone.
 */
export function stopWhenGone(pid: number, comm: string): void {
  if (!(pid > 0)) return;
  spawn('sh', ['-c', 'while kill -0 "$0" 2>/dev/null; do sleep 1; done; [ "$(cat /proc/$1/comm 2>/dev/null)" = "$2" ] && kill -TERM "$1"', String(process.pid), String(pid), comm], {
    detached: true,
    stdio: 'ignore',
  }).unref();
}
