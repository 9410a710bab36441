#!/usr/bin/env node
// Long fuzzing runs: `npm run fuzz -- --minutes N [--protocol smtp|pop3|imap|managesieve] [--seed S]`.
// Runs the protocol fuzz targets (test/fuzz/*.ts; IMAP's at src/imap/server/fuzz-target.ts when it
// exists, or test/fuzz/imap.ts) with fresh seeds until the time is up, one child process per run, under tsx as
// scripts/run-tests.mjs does. Prints each failing seed with its minimal transcript; exits 1 if any failed.
// A given --seed runs that seed once per protocol (to replay a failure).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomInt } from 'node:crypto';

const TARGETS = {
  smtp: { module: './test/fuzz/smtp.ts', fn: 'fuzzSmtp' },
  pop3: { module: './test/fuzz/pop3.ts', fn: 'fuzzPop3' },
  // The IMAP target, wherever it lives (test/fuzz/imap.ts, or beside the session).
  imap: { module: ['./test/fuzz/imap.ts', './src/imap/server/fuzz-target.ts'].find((m) => existsSync(m)) ?? './test/fuzz/imap.ts', fn: 'fuzzImap' },
  managesieve: { module: './test/fuzz/managesieve.ts', fn: 'fuzzManageSieve' },
};

function usage(msg) {
  if (msg) console.error(msg);
  console.error('usage: npm run fuzz -- --minutes N [--protocol smtp|pop3|imap|managesieve] [--seed S] [--iterations I]');
  process.exit(2);
}

const argv = process.argv.slice(2);
const opts = { minutes: 1, protocols: [], seed: null, iterations: 200 };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = () => argv[++i] ?? usage(`${a} needs a value`);
  if (a === '--minutes') opts.minutes = Number(v());
  else if (a === '--protocol') opts.protocols.push(...v().split(','));
  else if (a === '--seed') opts.seed = Number(v());
  else if (a === '--iterations') opts.iterations = Number(v());
  else if (a === '--help' || a === '-h') usage();
  else usage(`unknown argument ${a}`);
}
if (!(opts.minutes > 0)) usage('--minutes must be a positive number');
if (opts.seed !== null && !Number.isInteger(opts.seed)) usage('--seed must be an integer');
for (const p of opts.protocols) if (!TARGETS[p]) usage(`unknown protocol ${p}`);
let protocols = opts.protocols.length ? opts.protocols : Object.keys(TARGETS);
protocols = protocols.filter((p) => {
  if (existsSync(TARGETS[p].module)) return true;
  if (opts.protocols.includes(p)) usage(`no fuzz target for ${p} yet (${TARGETS[p].module})`);
  return false;
});

/** One run of one target in a child process; resolves with its exit code and output. */
function runOnce(protocol, seed, deadline) {
  const { module, fn } = TARGETS[protocol];
  const code = `
    const m = await import(${JSON.stringify(module)});
    try {
      await m[${JSON.stringify(fn)}]({ seed: ${seed}, iterations: ${opts.iterations}, deadline: ${deadline}, log: (s) => console.error(s) });
    } catch (err) {
      console.log(err && err.stack ? String(err.message) : String(err));
      process.exit(1);
    }
    process.exit(0);`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (c, signal) => resolve({ code: signal ? 1 : (c ?? 1), out }));
  });
}

const end = Date.now() + opts.minutes * 60_000;
const failures = [];
let runs = 0;
console.log(`fuzzing ${protocols.join(', ')} for ${opts.minutes} minute(s)${opts.seed !== null ? `, seed ${opts.seed}` : ''}`);
outer: for (;;) {
  for (const protocol of protocols) {
    if (Date.now() >= end && runs > 0) break outer;
    const seed = opts.seed ?? randomInt(0, 2 ** 31);
    // A run stops starting sessions at the deadline (the last one, and shrinking, may run over).
    const r = await runOnce(protocol, seed, opts.seed !== null ? Number.MAX_SAFE_INTEGER : end);
    runs++;
    if (r.code === 0) {
      console.log(`${protocol} seed ${seed}: ok`);
    } else {
      failures.push({ protocol, seed });
      console.log(`${protocol} seed ${seed}: FAILED\n${r.out}`);
    }
  }
  if (opts.seed !== null) break;
}
console.log(`${runs} run(s), ${failures.length} failed${failures.length ? ': ' + failures.map((f) => `${f.protocol} --seed ${f.seed}`).join(', ') : ''}`);
process.exit(failures.length ? 1 : 0);
