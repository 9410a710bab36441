#!/usr/bin/env node
// Runs every test file (src/**/*.test.ts beside the code, test/**/*.test.ts) with node:test through tsx.
// On Node 20 `node --test` does not find .ts files by itself, so the files are listed here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

function walk(dir, out) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = [...walk('src', []), ...walk('test', [])].sort();
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (!files.length) { console.error('no test files found'); process.exit(1); }

// Files whose first line says "// test: serial" assert a latency (the server answers other clients
// within 1 s while one client does its worst; a change reaches another node within 1 s): they run
// after the rest, one at a time, so the figure is the server's and not the other files' load.
const serial = files.filter((f) => readFileSync(f, 'utf8').startsWith('// test: serial'));
const parallel = files.filter((f) => !serial.includes(f));

function run(list, concurrency) {
  return new Promise((resolve) => {
    if (!list.length) return resolve(0);
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=240000', ...list], { stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(signal ? 1 : code ?? 1));
  });
}

// The whole suite first typechecks everything (src, test, bench) under tsconfig.test.json: the
// tests run through tsx, which does not check types.
if (!filter.length) {
  const code = await new Promise((resolve) => {
    const tsc = spawn(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.test.json'], { stdio: 'inherit' });
    tsc.on('exit', (c, signal) => resolve(signal ? 1 : c ?? 1));
  });
  if (code !== 0) {
    console.error('typecheck failed (tsc -p tsconfig.test.json)');
    process.exit(1);
  }
}

const a = await run(parallel, 2);
const b = await run(serial, 1);
process.exit(a || b);
