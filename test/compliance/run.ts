// Runs the compliance scripts against `yubin serve` and Debian's Dovecot (the reference) and
// prints pass/fail counts for both:
//   node --import tsx test/compliance/run.ts [--only yubin|dovecot] [substring ...]
// Exit status 1 when Yubin fails a command.
import { scriptFiles } from './files.js';
import { report, runAll, summary } from './runner.js';
import { startDovecotServer, startYubinServer, type RunningServer } from './servers.js';

const args = process.argv.slice(2);
let only: string | null = null;
const filters: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--only') only = args[++i] ?? null;
  else filters.push(args[i]!);
}
const files = scriptFiles().filter((f) => !filters.length || filters.some((x) => f.includes(x)));
let yubinFailed = 0;
for (const name of ['yubin', 'dovecot']) {
  if (only && only !== name) continue;
  const s: RunningServer | string = name === 'yubin' ? await startYubinServer() : await startDovecotServer();
  if (typeof s === 'string') {
    console.log(`${name}: not run (${s})`);
    continue;
  }
  try {
    const results = await runAll(files, s.target);
    console.log(report(name, results));
    if (name === 'yubin') yubinFailed = summary(results).failed;
  } finally {
    await s.stop();
  }
}
process.exit(yubinFailed ? 1 : 0);
