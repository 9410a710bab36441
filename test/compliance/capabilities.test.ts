// docs/imap.md's capability table lists exactly what the server advertises (issue 12 "docs/imap.md
// lists every capability with its RFC and tests"): every capability of the CAPABILITY response,
// before and after login, with and without plaintext login allowed, over TLS or not, has a row;
// every row is advertised in one of these states; every test file a row names exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createImapTestContext } from '../helpers/imap-context.js';
import { REPO_ROOT } from '../helpers/server.js';

const DOC = join(REPO_ROOT, 'docs', 'imap.md');

/** `APPENDLIMIT=52428800` is documented as `APPENDLIMIT=<n>`. */
const normalize = (cap: string) => (/^APPENDLIMIT=/i.test(cap) ? 'APPENDLIMIT=<n>' : cap.toUpperCase());

/** The rows of the capability table: capability → the Tests cell. */
export function capabilityTable(md: string): Map<string, { rfc: string; tests: string }> {
  const section = md.slice(md.indexOf('## Capabilities\n'), md.indexOf('\n## ', md.indexOf('## Capabilities\n') + 1));
  const rows = new Map<string, { rfc: string; tests: string }>();
  for (const line of section.split('\n')) {
    const m = /^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|$/.exec(line);
    if (m) rows.set(normalize(m[1]!), { rfc: m[2]!.trim(), tests: m[3]!.trim() });
  }
  return rows;
}

/** The test files a Tests cell names: `path` in backticks, test/compliance/scripts/<dir>/<file> lists. */
function testFiles(cell: string): string[] {
  const out: string[] = [];
  let dir = '';
  for (const part of cell.split(/,\s*/)) {
    const p = part.replace(/\s*\(.*\)$/, '').trim();
    const tick = /^`([^`]+)`$/.exec(p);
    if (tick) {
      const f = tick[1]!;
      // A bare file name continues the directory of the previous path (`copy.test.ts`).
      if (f.includes('/')) {
        out.push(f);
        dir = f.slice(0, f.lastIndexOf('/') + 1);
      } else out.push(dir + f);
      continue;
    }
    const script = /^(test\/compliance\/scripts\/)?(rfc\d+)\/([\w*.-]+\.imap)/.exec(p);
    if (script) out.push(`test/compliance/scripts/${script[2]}/${script[3]}`);
  }
  return out;
}

async function advertised(): Promise<Set<string>> {
  const caps = new Set<string>();
  for (const allow of [true, false]) {
    const t = await createImapTestContext({ config: { auth: { allow_plaintext: allow } } });
    try {
      for (const tls of [false, true]) {
        const c = await t.connect({ tls });
        const take = (lines: string[]) => {
          for (const l of lines) if (/^\* CAPABILITY /i.test(l)) for (const cap of l.split(' ').slice(2)) caps.add(normalize(cap));
        };
        take((await c.cmd('CAPABILITY')).ok().untagged);
        if (allow || tls) {
          await c.login();
          take((await c.cmd('CAPABILITY')).ok().untagged);
        }
      }
    } finally {
      await t.close();
    }
  }
  return caps;
}

test('every advertised capability is in docs/imap.md with its RFC and tests, and nothing else is', async () => {
  const table = capabilityTable(readFileSync(DOC, 'utf8'));
  const caps = await advertised();
  assert.ok(caps.has('IMAP4REV2') && caps.has('LOGINDISABLED') && caps.has('AUTH=PLAIN') && caps.has('QRESYNC'), [...caps].join(' '));
  const missing = [...caps].filter((c) => !table.has(c));
  assert.deepEqual(missing, [], `advertised but not in the docs/imap.md capability table: ${missing.join(' ')}`);
  const extra = [...table.keys()].filter((c) => !caps.has(c));
  assert.deepEqual(extra, [], `in the docs/imap.md capability table but never advertised: ${extra.join(' ')}`);
  for (const [cap, row] of table) {
    assert.match(row.rfc, /RFC \d+|draft-/, `${cap}: no RFC`);
    const files = testFiles(row.tests);
    assert.ok(files.length > 0, `${cap}: no test file named in "${row.tests}"`);
    for (const f of files) {
      if (f.includes('*')) continue;
      assert.ok(existsSync(join(REPO_ROOT, f)), `${cap}: ${f} does not exist`);
    }
  }
});

test('the table parser finds rows and their files (a capability missing from a table is reported)', () => {
  const md = '## Capabilities\n\n| Capability | RFC | Tests |\n|---|---|---|\n| `IDLE` | RFC 2177 | test/compliance/scripts/rfc2177/idle.imap, `src/imap/commands/idle.test.ts`, `copy.test.ts` |\n\n## Commands\n| `NOT` | RFC 1 | x |\n';
  const t = capabilityTable(md);
  assert.deepEqual([...t.keys()], ['IDLE']);
  assert.deepEqual(testFiles(t.get('IDLE')!.tests), ['test/compliance/scripts/rfc2177/idle.imap', 'src/imap/commands/idle.test.ts', 'src/imap/commands/copy.test.ts']);
  assert.equal(normalize('appendlimit=10'), 'APPENDLIMIT=<n>');
});
