// `yubin store copy --to URL`: moves the SQLite store of data_dir into an empty PostgreSQL
// database (src/store/copy.ts), with a progress bar on a terminal and plain progress lines
// otherwise; then set [store] backend = "postgresql" and start the nodes (docs/store.md).
import type { Command } from 'commander';
import { action, configOf, say, UsageError } from './common.js';
import { copyToPostgres, type CopyProgress } from '../store/copy.js';
import { redactUrl } from '../db/postgres/pool.js';

/** A bar redrawn in place on a terminal; otherwise a line per table and per 10% of a long one. */
export function progressPrinter(out: NodeJS.WriteStream): { update(p: CopyProgress): void; end(): void } {
  const tty = !!out.isTTY;
  let lastLine = '';
  let drawn = false;
  return {
    update(p) {
      if (tty) {
        const width = 30;
        const frac = p.allTotal ? p.allDone / p.allTotal : 1;
        const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
        out.write(`\r[${bar}] ${String(Math.floor(frac * 100)).padStart(3)}% ${p.phase === 'verify' ? 'verifying blobs' : p.table} ${p.done}/${p.total}\x1b[K`);
        drawn = true;
        return;
      }
      const step = p.total ? Math.floor((p.done / p.total) * 10) : 10;
      const line = p.done === p.total ? `${p.phase === 'verify' ? 'verified blobs' : p.table}: ${p.done}/${p.total}` : `${p.phase === 'verify' ? 'verifying blobs' : p.table}: ${step * 10}%`;
      if (line !== lastLine && (p.done === p.total || p.done > 0)) out.write(`${line}\n`);
      lastLine = line;
    },
    end() {
      if (tty && drawn) out.write('\n');
    },
  };
}

export function register(program: Command): void {
  const store = program.command('store').description('the mail store');
  store
    .command('copy')
    .description('copy the SQLite store of data_dir into an empty PostgreSQL database, then verify row counts and blob hashes')
    .requiredOption('--to <url>', 'postgresql://user:password@host:port/database (an empty database)')
    .option('--blobs <mode>', 'database (message bytes in PostgreSQL) or files (a blobs/ directory every node mounts)', 'database')
    .action(
      action(async (opts: { to: string; blobs: string }, cmd: Command) => {
        const config = configOf(cmd);
        if (opts.blobs !== 'database' && opts.blobs !== 'files') throw new UsageError(`--blobs must be database or files, not ${opts.blobs}`);
        if (!/^postgres(ql)?:\/\//.test(opts.to)) throw new UsageError('--to must be a postgresql:// URL');
        const printer = progressPrinter(process.stderr);
        let report;
        try {
          report = await copyToPostgres({ dataDir: config.data_dir, url: opts.to, blobs: opts.blobs, progress: (p) => printer.update(p) });
        } finally {
          printer.end();
        }
        for (const t of report.tables) say(`${t.table}: ${t.rows} rows`);
        say(`copied ${config.data_dir} to ${redactUrl(opts.to)}: ${report.blobs} blobs${opts.blobs === 'database' ? ` (${report.blobBytes} bytes)` : ''}; row counts and blob hashes verified`);
        say('next: set [store] backend = "postgresql" and url (or YUBIN_DATABASE_URL), blobs = "' + opts.blobs + '"');
      }),
    );
}
