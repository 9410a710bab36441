// `yubin sieve check` and `yubin sieve test`: exit codes, `line:column: message`, action lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../test/helpers/server.js';

test('yubin sieve check and test', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-sieve-cli-'));
  try {
    writeFileSync(join(dir, 'good.sieve'), 'require ["fileinto", "copy", "imap4flags"];\nif address :is "from" "boss@example.com" { fileinto :copy :flags "\\\\Flagged" "Boss"; }\nredirect :copy "a@example.net";\n');
    writeFileSync(join(dir, 'bad.sieve'), 'keep;\nif foo { keep; }\n');
    writeFileSync(join(dir, 'm.eml'), 'From: Boss <boss@example.com>\r\nTo: me@example.org\r\nSubject: hi\r\n\r\nbody\r\n');
    const ok = await runCli(['sieve', 'check', join(dir, 'good.sieve')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'ok\n');
    const bad = await runCli(['sieve', 'check', join(dir, 'bad.sieve')]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, '2:4: unknown test "foo"\n');
    const run = await runCli(['sieve', 'test', join(dir, 'good.sieve'), join(dir, 'm.eml'), '--from', 'boss@example.com', '--to', 'me@example.org']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'fileinto "Boss" :flags ["\\\\Flagged"] :copy\nredirect "a@example.net" :copy\nkeep\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
