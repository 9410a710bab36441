#!/usr/bin/env node
// `yubin`: the server (`yubin serve`) and its administration commands. Every command takes
// --config FILE (or $YUBIN_CONFIG); without it the embedded defaults apply.
import { Command } from 'commander';
import { register as registerAdmin } from './admin.js';
import { register as registerServe } from './serve.js';
import { register as registerDkim } from './dkim.js';
import { register as registerDnsRecords } from './dns-records.js';
import { register as registerQueue } from './queue.js';
import { register as registerSieve } from './sieve.js';
import { register as registerApiToken } from './api-token.js';
import { register as registerTls } from './tls.js';
import { register as registerIndex } from './index.js';
import { register as registerStore } from './store.js';

const program = new Command();
program
  .name('yubin')
  .description('Yubin mail server: SMTP, submission, outbound queue, IMAP and POP3 in one process')
  .option('-c, --config <file>', 'configuration file (TOML); default $YUBIN_CONFIG or the embedded defaults')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str.split('\n')[0] + '\n') });

registerServe(program);
registerAdmin(program);
registerDkim(program);
registerDnsRecords(program);
registerQueue(program);
registerSieve(program);
registerApiToken(program);
registerTls(program);
registerIndex(program);
registerStore(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`yubin: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
