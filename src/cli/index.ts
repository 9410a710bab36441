// `yubin index rebuild [ADDRESS]`: fills the full-text index (src/search, docs/store.md) anew for
// every mailbox, or those of one account: after an upgrade, a restore, or deleting search.sqlite.
// Works while the server runs. A progress bar on a terminal, plain lines otherwise.
import type { Command } from 'commander';
import { action, configOf, parseAddress, say, withStore, UsageError } from './common.js';
import { rebuildIndex } from '../search/indexer.js';

/** The progress display: a bar redrawn in place on a TTY, a line per 10% otherwise. */
export function progressPrinter(out: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): unknown }): { update(done: number, total: number): void; end(): void } {
  let lastTenth = -1;
  let drawn = false;
  return {
    update(done, total) {
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      if (out.isTTY) {
        const width = 30;
        const filled = Math.round(frac * width);
        out.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${done}/${total} messages`);
        drawn = true;
        return;
      }
      const tenth = Math.floor(frac * 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        out.write(`indexed ${done}/${total} messages (${tenth * 10}%)\n`);
      }
    },
    end() {
      if (drawn) out.write('\n');
    },
  };
}

export function register(program: Command): void {
  const index = program.command('index').description('the full-text search index');
  index
    .command('rebuild')
    .argument('[address]', 'only this account’s mailboxes')
    .description('index every message again (all accounts, or one)')
    .action(
      action(async (address: string | undefined, _opts: unknown, cmd: Command) => {
        const config = configOf(cmd);
        await withStore(config, async (store) => {
          if (!store.textIndex) throw new UsageError(`the ${config.store.backend} store has no full-text index; IMAP SEARCH reads the messages`);
          let accountId: number | undefined;
          if (address !== undefined) {
            const a = await store.getAccount(parseAddress(address));
            if (!a) throw new UsageError(`no account ${address}`);
            accountId = a.id;
          }
          const bar = progressPrinter(process.stderr);
          const t0 = Date.now();
          const r = await rebuildIndex(store, store.textIndex, { accountId, onProgress: (d, t) => bar.update(d, t) });
          bar.end();
          say(`indexed ${r.messages} messages in ${r.mailboxes} mailboxes in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        });
      }),
    );
}
