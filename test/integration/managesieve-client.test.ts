// A real ManageSieve client against `yubin serve` (started as a user starts it): Debian's
// sieve-connect uploads, lists, activates, downloads, deactivates and deletes a script over
// STARTTLS (the self-signed certificate is not verified: --notlsverify) with AUTHENTICATE PLAIN.
// Skips, saying so, when sieve-connect is not installed (apt-get install sieve-connect; .ci/run does).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startYubin, type YubinInstance } from '../helpers/server.js';

const HAVE = spawnSync('sieve-connect', ['--help'], { stdio: 'ignore' }).error === undefined;
const SKIP = HAVE ? false : 'sieve-connect is not installed (apt-get install sieve-connect)';

let y: YubinInstance;
before(async () => {
  if (!HAVE) return;
  y = await startYubin({ domains: ['a.test'], users: [{ address: 'dora@a.test', password: 'dora secret' }] });
});
after(async () => {
  await y?.stop();
});

/** Runs sieve-connect with ARGS against the managesieve listener; the password goes in on fd 3. */
function sieveConnect(args: string[], password = 'dora secret'): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'sieve-connect',
      ['--server', y.host('managesieve'), '--port', String(y.port('managesieve')), '--user', 'dora@a.test', '--authmech', 'PLAIN', '--notlsverify', '--passwordfd', '3', ...args],
      { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    (child.stdio[3] as NodeJS.WritableStream).end(password + '\n');
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sieve-connect ${args.join(' ')} timed out: ${stderr}`));
    }, 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

const SCRIPT = 'require ["fileinto", "vacation"];\r\nif header :contains "subject" "[list]" {\r\n  fileinto "Lists";\r\n}\r\nvacation :days 2 "Away until Monday.";\r\n';

test('sieve-connect: upload, list, activate, download, deactivate, delete over STARTTLS with PLAIN', { skip: SKIP }, async () => {
  const local = join(y.dir, 'office.sieve');
  writeFileSync(local, SCRIPT);
  const up = await sieveConnect(['--upload', '--localsieve', local, '--remotesieve', 'office']);
  assert.equal(up.code, 0, up.stderr);
  assert.equal((await y.cli(['sieve', 'get', 'dora@a.test', 'office'])).stdout, SCRIPT);

  let list = await sieveConnect(['--list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^"office"$/m, list.stdout);
  assert.doesNotMatch(list.stdout, /active/i);

  const act = await sieveConnect(['--activate', '--remotesieve', 'office']);
  assert.equal(act.code, 0, act.stderr);
  list = await sieveConnect(['--list']);
  assert.match(list.stdout, /^"office" ACTIVE$/m, list.stdout);
  assert.equal((await y.cli(['sieve', 'list', 'dora@a.test'])).stdout, 'office (active)\n');

  const copy = join(y.dir, 'downloaded.sieve');
  const down = await sieveConnect(['--download', '--remotesieve', 'office', '--localsieve', copy]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(readFileSync(copy, 'utf8'), SCRIPT);

  // A script the interpreter refuses is refused at upload, with the line of the error.
  const badFile = join(y.dir, 'bad.sieve');
  writeFileSync(badFile, 'require "nope";\r\nkeep;\r\n');
  const bad = await sieveConnect(['--upload', '--localsieve', badFile, '--remotesieve', 'bad']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, /line 1/);

  // RFC 5804 §2.10: the active script cannot be deleted; deactivated, it can.
  const refused = await sieveConnect(['--delete', '--remotesieve', 'office']);
  assert.notEqual(refused.code, 0);
  assert.equal((await sieveConnect(['--deactivate'])).code, 0);
  const del = await sieveConnect(['--delete', '--remotesieve', 'office']);
  assert.equal(del.code, 0, del.stderr);
  assert.equal((await y.cli(['sieve', 'list', 'dora@a.test'])).stdout, '');

  // A wrong password is refused.
  const wrong = await sieveConnect(['--list'], 'not the password');
  assert.notEqual(wrong.code, 0);
});
