// `yubin serve`: runs the mail server in the foreground until SIGTERM/SIGINT.
// SIGHUP re-reads the TLS certificate. On start it prints a banner naming every listener, and a
// JSON log line {"msg":"ready","listeners":{...}} that scripts and tests wait for.
import type { Command } from 'commander';
import { action, configOf } from './common.js';
import { createLogger } from '../log/logger.js';
import { HTTP_LISTENER_NAMES, LISTENER_NAMES } from '../config/schema.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the mail server (listeners, queue, store) in the foreground')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (overrides [log] level)')
    .action(
      action(async (opts: { logLevel?: string }, cmd: Command) => {
        const config = configOf(cmd);
        const level = opts.logLevel ?? config.log.level;
        const logger = createLogger(level);
        const { startServer } = await import('../server.js');
        const server = await startServer(config, logger).catch((err: unknown): never => {
          const e = err as NodeJS.ErrnoException;
          const hint = e.code === 'EADDRINUSE' ? ' (another program is using that port)' : e.code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : '';
          process.stderr.write(`yubin: cannot start: ${e.message}${hint}\n`);
          process.exit(1);
        });
        const lines = [...LISTENER_NAMES, ...HTTP_LISTENER_NAMES].filter((n) => server.addresses[n]?.length).map((n) => `  ${n.padEnd(12)} ${server.addresses[n].join(' ')}`);
        process.stderr.write(`Yubin ${config.hostname} ready; data in ${config.data_dir}\n${lines.join('\n') || '  (no listeners configured)'}\n`);
        logger.info({ listeners: server.addresses, hostname: config.hostname, dataDir: config.data_dir }, 'ready');

        // SIGHUP: re-read the TLS certificate; the provider logs whether it worked (a bad file keeps the old one).
        process.on('SIGHUP', () => {
          server.reload().catch((err: unknown) => logger.error({ err }, 'TLS reload failed'));
        });
        let signals = 0;
        const stop = (sig: string) => {
          if (++signals > 1) process.exit(1);
          logger.info({ signal: sig }, 'shutting down');
          server.stop().then(
            () => {
              logger.info('stopped');
              logger.flush?.();
              process.exit(0);
            },
            (err: unknown) => {
              logger.error({ err }, 'error while stopping');
              process.exit(1);
            },
          );
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
      }),
    );
}
