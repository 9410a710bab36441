// Module boundaries (issue 11, docs/design.md): a protocol folder (src/imap, src/pop3, src/smtp,
// src/managesieve) imports neither another protocol's folder nor src/checks. The checks reach the
// protocols only through the context (ctx.checks: the SMTP session runs the pipeline whose contract
// is src/pipeline/types.ts) and the store's events (Junk verdicts); forwarding (SRS, ARC sealing)
// is src/forward. Tests that need the real checks live in test/, not in a protocol folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PROTOCOLS = ['imap', 'pop3', 'smtp', 'managesieve'] as const;

/** Module specifiers a TypeScript source imports or re-exports (static, dynamic, side-effect). */
function importsOf(source: string): string[] {
  const re = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;
  return [...source.matchAll(re)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** "src/x/y.ts -> src/checks/z.ts" for every import that crosses a boundary. */
function crossings(): string[] {
  const found: string[] = [];
  for (const own of PROTOCOLS) {
    for (const file of walk(join(ROOT, 'src', own))) {
      const from = relative(ROOT, file);
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        const to = relative(ROOT, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
        const [top, folder] = to.split('/');
        if (top !== 'src') continue;
        const otherProtocol = (PROTOCOLS as readonly string[]).includes(folder!) && folder !== own;
        const checks = folder === 'checks';
        if (otherProtocol || checks) found.push(`${from} -> ${to}`);
      }
    }
  }
  return found;
}

test('the import scanner sees every form of import', () => {
  const src = `import type { A } from '../../checks/types.js';
import {
  b,
  c,
} from "../pop3/x.js";
export * from './y.js';
export { d } from '../../smtp/z.js';
import './side-effect.js';
const m = await import('../../checks/index.js');
// import nothing from 'a comment'? the scanner may see it; a false alarm is safe
`;
  assert.deepEqual(importsOf(src).slice(0, 6), ['../../checks/types.js', '../pop3/x.js', './y.js', '../../smtp/z.js', './side-effect.js', '../../checks/index.js']);
});

test('no protocol folder imports another protocol or the checks', () => {
  const found = crossings();
  assert.deepEqual(found, [], `protocol code imports across a boundary:\n${found.join('\n')}\n(go through ServerContext or the store's events instead)`);
});

// dist/ ships no test code (issue 11): what the build compiles (tsconfig.json) never imports a test
// framework or anything under test/. The store's contract suite stays in src/store (every backend
// runs it) and is excluded from the build by name.
test('the build ships no test code', () => {
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { exclude: string[] };
  const excluded = new Set(tsconfig.exclude.filter((e) => !e.includes('*')));
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) {
        const rel = relative(ROOT, p);
        if (excluded.has(rel)) continue;
        const text = readFileSync(p, 'utf8');
        if (/from '(node:test|node:assert[^']*)'|from '[^']*\/test\/(helpers|fuzz)\//.test(text)) offenders.push(rel);
      }
    }
  };
  walk(join(ROOT, 'src'));
  assert.deepEqual(offenders, [], `test code in the build: ${offenders.join(', ')}`);
});
