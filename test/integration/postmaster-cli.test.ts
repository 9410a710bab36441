// `yubin domain add` and `yubin user add` say where postmaster@ and abuse@ of the domain go
// (RFC 5321 §4.5.1, RFC 2142 §4; docs/smtp.md "Postmaster and abuse"), run as a user runs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/server.js';

test('domain add and user add print where postmaster@ and abuse@ go', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-pm-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'yubin.toml');
  writeFileSync(config, `hostname = "mail.a.test"\ndata_dir = "data"\n`);
  const cli = async (...args: string[]): Promise<string[]> => {
    const r = await runCli(args, { config });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n');
  };

  let out = await cli('domain', 'add', 'a.test');
  assert.match(out[0]!, /^domain a\.test added/);
  assert.equal(out[1], 'postmaster@a.test and abuse@a.test will go to the first account of a.test (until there is one, mail to them is deferred with 451 4.3.5)');

  out = await cli('user', 'add', 'alice@a.test', '--password', 'pw');
  assert.deepEqual(out, ['user alice@a.test added', 'postmaster@a.test and abuse@a.test go to alice@a.test']);
  // The first account keeps them: a later one does not take over.
  out = await cli('user', 'add', 'aaron@a.test', '--password', 'pw');
  assert.deepEqual(out, ['user aaron@a.test added', 'postmaster@a.test and abuse@a.test go to alice@a.test']);

  // An explicit alias wins for its address only.
  await cli('alias', 'add', 'postmaster@a.test', 'aaron@a.test', 'ops@remote.test');
  out = await cli('user', 'add', 'carol@a.test', '--password', 'pw');
  assert.deepEqual(out, ['user carol@a.test added', 'postmaster@a.test goes to aaron@a.test, ops@remote.test; abuse@a.test goes to alice@a.test']);
});
