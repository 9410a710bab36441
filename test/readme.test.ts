// README.md stays true: every config key the schema accepts is documented there, and the
// quick start names the two commands CI and users run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers/server.js';
import { configSchema } from '../src/config/schema.js';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

function objectShape(schema: unknown): Record<string, unknown> | null {
  // Unwraps zod's default/optional wrappers down to an object schema.
  let s = schema as { shape?: Record<string, unknown>; def?: { innerType?: unknown } } | undefined;
  for (let i = 0; s && i < 5; i++) {
    if (s.shape) return s.shape;
    s = s.def?.innerType as typeof s;
  }
  return null;
}

test('every config key is documented in README.md', () => {
  const missing: string[] = [];
  const top = objectShape(configSchema)!;
  for (const [section, schema] of Object.entries(top)) {
    const shape = objectShape(schema);
    if (!shape) {
      if (!new RegExp(`^${section} = `, 'm').test(readme)) missing.push(section);
      continue;
    }
    if (!readme.includes(`[${section}]`)) missing.push(`[${section}]`);
    for (const key of Object.keys(shape)) {
      if (!new RegExp(`^#? ?\\[?${section}\\.${key}\\]|^#? ?${key} +=`, 'm').test(readme)) missing.push(`${section}.${key}`);
    }
  }
  assert.deepEqual(missing, [], `README.md does not document: ${missing.join(', ')}`);
});

test('README quick start and CI run the same test command', () => {
  assert.match(readme, /npm ci && npm start/);
  assert.match(readme, /npm ci && npm test/);
  const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
  assert.match(ci, /^npm ci && npm test$/m);
});
