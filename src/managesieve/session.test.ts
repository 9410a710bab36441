// ManageSieve transcripts (RFC 5804): every command in every state, every response code, over a
// PipeTransport with a real store and the real authenticator.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createMsTestContext, plain, type MsTestContext } from '../../test/integration/managesieve-context.js';
import { SIEVE_EXTENSIONS } from '../sieve/index.js';

let c: MsTestContext;
before(async () => {
  c = await createMsTestContext({ auth: { throttle_free_failures: 1000, throttle_max_failures: 1000 }, sieve: { max_scripts: 3, max_script_size: 200, max_redirects: 5 } });
});
after(async () => {
  await c.close();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('greeting before TLS: capabilities with STARTTLS and no SASL mechanism; AUTHENTICATE needs TLS', async () => {
  const { t, greeting } = await c.connect();
  assert.deepEqual(greeting, [
    '"IMPLEMENTATION" "Yubin"',
    '"SASL" ""',
    `"SIEVE" "${SIEVE_EXTENSIONS.join(' ')}"`,
    '"STARTTLS"',
    '"MAXREDIRECTS" "5"',
    '"UNAUTHENTICATE"',
    '"VERSION" "1.0"',
    'OK "Yubin ManageSieve ready"',
  ]);
  t.send(`AUTHENTICATE "PLAIN" "${plain('alice@example.test', 'secret pw')}"`);
  await t.expect(['NO (ENCRYPT-NEEDED) "Authentication is not allowed without TLS: use STARTTLS first"']);
  t.send('LISTSCRIPTS');
  await t.expect(['NO "LISTSCRIPTS needs authentication first"']);
  t.send('LOGOUT');
  await t.expect(['OK "Logout complete"']);
  await t.expectClosed();
});

test('STARTTLS: pipelined input is dropped, capabilities are re-issued with SASL and without STARTTLS', async () => {
  const { pipe, t } = await c.connect();
  t.sendRaw('STARTTLS\r\nNOOP "injected"\r\n');
  await t.expect(['OK "Begin TLS negotiation now"']);
  await t.expect([
    '"IMPLEMENTATION" "Yubin"',
    '"SASL" "PLAIN LOGIN"',
    `"SIEVE" "${SIEVE_EXTENSIONS.join(' ')}"`,
    '"MAXREDIRECTS" "5"',
    '"UNAUTHENTICATE"',
    '"VERSION" "1.0"',
    'OK "TLS negotiation successful"',
  ]);
  assert.equal(pipe.tlsStarts, 1);
  t.send('NOOP "after"');
  await t.expect(['OK (TAG "after") "Done"']);
  t.send('STARTTLS');
  await t.expect(['NO "TLS is already active"']);
});

test('AUTHENTICATE PLAIN with SASL-IR, CAPABILITY after login (OWNER, no SASL), UNAUTHENTICATE', async () => {
  const { t } = await c.login();
  t.send('CAPABILITY');
  const caps = await t.until(/^OK/);
  assert.ok(caps.includes('"OWNER" "alice@example.test"'));
  assert.ok(caps.includes('"SASL" ""'));
  assert.ok(!caps.includes('"STARTTLS"'));
  t.send('AUTHENTICATE "PLAIN"');
  await t.expect(['NO "AUTHENTICATE is not allowed after authentication"']);
  t.send('UNAUTHENTICATE');
  await t.expect(['OK']);
  t.send('LISTSCRIPTS');
  await t.expect(['NO "LISTSCRIPTS needs authentication first"']);
  t.send('UNAUTHENTICATE');
  await t.expect(['NO "UNAUTHENTICATE needs authentication first"']);
});

test('AUTHENTICATE PLAIN without initial response, LOGIN with literals, cancel, wrong password', async () => {
  const { t } = await c.connect({ tls: true });
  t.send('AUTHENTICATE "PLAIN"');
  await t.expect(['""']);
  t.send(`"${plain('bob@example.test', 'bobpw')}"`);
  await t.expect(['OK "Logged in"']);

  const s2 = await c.connect({ tls: true });
  s2.t.send('Authenticate "login"');
  await s2.t.expect([`"${b64('Username:')}"`]);
  const user = b64('alice@example.test');
  s2.t.sendRaw(`{${user.length}+}\r\n${user}\r\n`);
  await s2.t.expect([`"${b64('Password:')}"`]);
  const pw = b64('secret pw');
  s2.t.sendRaw(`{${pw.length}}\r\n${pw}\r\n`);
  await s2.t.expect(['OK "Logged in"']);

  const s3 = await c.connect({ tls: true });
  s3.t.send('AUTHENTICATE "PLAIN"');
  await s3.t.expect(['""']);
  s3.t.send('"*"');
  await s3.t.expect(['NO "Authentication canceled"']);
  s3.t.send(`AUTHENTICATE "PLAIN" "${plain('alice@example.test', 'wrong')}"`);
  await s3.t.expect(['NO "Authentication failed"']);
  s3.t.send(`AUTHENTICATE "PLAIN" "not base64!"`);
  await s3.t.expect(['NO "Invalid base64 in authentication response"']);
  s3.t.send('AUTHENTICATE "CRAM-MD5"');
  await s3.t.expect(['NO "Unsupported authentication mechanism"']);
  s3.t.send('NOOP');
  await s3.t.expect(['OK "Done"']);
});

test('PUTSCRIPT, LISTSCRIPTS, SETACTIVE, GETSCRIPT, RENAMESCRIPT, DELETESCRIPT and their response codes', async () => {
  const { t } = await c.login(c.bob);
  t.send('LISTSCRIPTS');
  await t.expect(['OK']);
  const script = 'require "fileinto";\r\nfileinto "Lists";\r\n';
  t.sendRaw(`PUTSCRIPT "lists" {${Buffer.byteLength(script)}+}\r\n${script}\r\n`);
  await t.expect(['OK']);
  t.send('PUTSCRIPT "small" "keep;"');
  await t.expect(['OK']);
  t.send('LISTSCRIPTS');
  await t.expect(['"lists"', '"small"', 'OK']);
  t.send('SETACTIVE "lists"');
  await t.expect(['OK']);
  t.send('LISTSCRIPTS');
  await t.expect(['"lists" ACTIVE', '"small"', 'OK']);
  t.send('GETSCRIPT "lists"');
  await t.expect([`{${Buffer.byteLength(script)}}\r\n${script}`, 'OK']);
  t.send('GETSCRIPT "nope"');
  await t.expect(['NO (NONEXISTENT) "No script named \\"nope\\""']);
  t.send('SETACTIVE "nope"');
  await t.expect(['NO (NONEXISTENT) "No script named \\"nope\\""']);
  t.send('DELETESCRIPT "lists"');
  await t.expect(['NO (ACTIVE) "the active script cannot be deleted; deactivate it first"']);
  t.send('DELETESCRIPT "nope"');
  await t.expect(['NO (NONEXISTENT) "no script named \\"nope\\""']);
  t.send('RENAMESCRIPT "lists" "small"');
  await t.expect(['NO (ALREADYEXISTS) "a script named \\"small\\" already exists"']);
  t.send('RENAMESCRIPT "nope" "other"');
  await t.expect(['NO (NONEXISTENT) "no script named \\"nope\\""']);
  t.send('RENAMESCRIPT "lists" "mailing lists"');
  await t.expect(['OK']);
  t.send('LISTSCRIPTS');
  await t.expect(['"mailing lists" ACTIVE', '"small"', 'OK']);
  t.send('SETACTIVE ""');
  await t.expect(['OK']);
  t.send('LISTSCRIPTS');
  await t.expect(['"mailing lists"', '"small"', 'OK']);
  t.send('DELETESCRIPT "mailing lists"');
  await t.expect(['OK']);
  t.send('LISTSCRIPTS');
  await t.expect(['"small"', 'OK']);
  assert.equal((await c.store.sieve.getScript(c.bob.id, 'small'))!.text, 'keep;');
});

test('PUTSCRIPT and CHECKSCRIPT refuse an invalid script with line and column; nothing is stored', async () => {
  const { t } = await c.login();
  const bad = 'keep;\r\nfrobnicate "x";\r\n';
  t.sendRaw(`PUTSCRIPT "bad" {${bad.length}+}\r\n${bad}\r\n`);
  const [line] = await t.expect([/^NO "line 2, column \d+: .+"$/]);
  assert.ok(line);
  t.sendRaw(`CHECKSCRIPT {${bad.length}+}\r\n${bad}\r\n`);
  await t.expect([/^NO "line 2, column \d+: .+"$/]);
  t.send('CHECKSCRIPT "keep;"');
  await t.expect(['OK']);
  t.send('PUTSCRIPT "needs-require" "fileinto \\"x\\";"');
  await t.expect([/^NO "line 1, column \d+: .+"$/]);
  t.send('LISTSCRIPTS');
  await t.expect(['OK']);
  // Not UTF-8.
  t.sendRaw(Buffer.concat([Buffer.from('PUTSCRIPT "latin1" {5+}\r\n'), Buffer.from([0x23, 0x20, 0xe9, 0x0d, 0x0a]), Buffer.from('\r\n')]));
  await t.expect(['NO "Script is not valid UTF-8"']);
});

test('quota: HAVESPACE and PUTSCRIPT answer QUOTA/MAXSIZE and QUOTA/MAXSCRIPTS', async () => {
  const { t } = await c.login();
  t.send('HAVESPACE "a" 200');
  await t.expect(['OK']);
  t.send('HAVESPACE "a" 201');
  await t.expect(['NO (QUOTA/MAXSIZE) "Scripts are limited to 200 octets"']);
  const big = '#'.repeat(201);
  t.sendRaw(`PUTSCRIPT "big" {201+}\r\n${big}\r\n`);
  await t.expect(['NO (QUOTA/MAXSIZE) "Script is 201 octets, more than the 200 allowed"']);
  // A literal far above the limit is skipped, not buffered; the session goes on.
  t.sendRaw(`PUTSCRIPT "huge" {5000+}\r\n${'#'.repeat(5000)}\r\n`);
  await t.expect(['NO (QUOTA/MAXSIZE) "Literal of 5000 octets is too large"']);
  for (const n of ['a', 'b', 'c']) {
    t.send(`PUTSCRIPT "${n}" "keep;"`);
    await t.expect(['OK']);
  }
  t.send('HAVESPACE "d" 10');
  await t.expect(['NO (QUOTA/MAXSCRIPTS) "At most 3 scripts are allowed"']);
  t.send('HAVESPACE "a" 10');
  await t.expect(['OK']);
  t.send('PUTSCRIPT "d" "keep;"');
  await t.expect(['NO (QUOTA/MAXSCRIPTS) "already 3 scripts, the most allowed is 3"']);
  t.send('PUTSCRIPT "a" "discard;"');
  await t.expect(['OK']);
  t.send('HAVESPACE "bad\\\\name" x');
  await t.expect(['NO "HAVESPACE takes a script name and a number"']);
  t.send('PUTSCRIPT "" "keep;"');
  await t.expect(['NO "a script name cannot be empty"']);
});

test('syntax errors: unknown commands, bad strings, wrong arguments; the error budget ends the session with BYE', async () => {
  const { t } = await c.connect({ tls: true });
  t.send('FROB');
  await t.expect(['NO "Unknown command"']);
  t.send('NOOP "unterminated');
  await t.expect(['NO "Unterminated quoted string"']);
  t.send('NOOP "bad \\n escape"');
  await t.expect(['NO "Bad escape in quoted string (only \\\\\\" and \\\\\\\\ are allowed)"']);
  t.send('NOOP a b');
  await t.expect(['NO "NOOP takes 0 to 1 arguments"']);
  t.send('"quoted" verb');
  await t.expect(['NO "Unknown command"']);
  t.send('NOOP 99999999999');
  await t.expect(['NO "Number out of range"']);
  t.send(`NOOP "${'x'.repeat(1025)}"`);
  await t.expect(['NO "Quoted string longer than 1024 octets (use a literal)"']);
  t.send('');
  await t.expect(['NO "Empty command"']);
  t.send('CAPABILITY extra');
  await t.expect(['NO "CAPABILITY takes no arguments"']);
  t.send('NOOP');
  await t.expect(['OK "Done"']);
  t.send('FROB');
  await t.expect(['NO "Unknown command"', 'BYE "Too many bad commands"']);
  await t.expectClosed();
});

test('a command line over max_command_length is refused and skipped, literals included', async () => {
  const small = await createMsTestContext({ managesieve: { max_command_length: 100 } });
  try {
    const { t } = await small.connect({ tls: true });
    t.send(`NOOP "${'y'.repeat(200)}"`);
    await t.expect(['NO "Command line too long"']);
    t.sendRaw(`NOOP ${'z'.repeat(150)} {4+}\r\nNOOP\r\n`);
    await t.expect(['NO "Command line too long"']);
    t.send('NOOP "ok"');
    await t.expect(['OK (TAG "ok") "Done"']);
  } finally {
    await small.close();
  }
});

test('failed logins are throttled (TRYLATER) and count toward the error budget', async () => {
  const strict = await createMsTestContext({ auth: { throttle_free_failures: 0, throttle_max_failures: 2, throttle_delay: 0 }, managesieve: { max_bad_commands: 3 } });
  try {
    const { t } = await strict.connect({ tls: true, remoteAddress: '127.0.0.9' });
    t.send(`AUTHENTICATE "PLAIN" "${plain('alice@example.test', 'no')}"`);
    await t.expect(['NO "Authentication failed"']);
    t.send(`AUTHENTICATE "PLAIN" "${plain('alice@example.test', 'no')}"`);
    await t.expect(['NO "Authentication failed"']);
    t.send(`AUTHENTICATE "PLAIN" "${plain('alice@example.test', 'secret pw')}"`);
    await t.expect(['NO (TRYLATER) "Too many failed logins, try again later"', 'BYE "Too many bad commands"']);
    await t.expectClosed();
  } finally {
    await strict.close();
  }
});

test('idle timeout and login deadline end the session with BYE; shutdown says TRYLATER', async () => {
  const quick = await createMsTestContext({ managesieve: { idle_timeout: '50ms', login_timeout: 60 } });
  try {
    const { t } = await quick.connect({ tls: true });
    await t.expect(['BYE "Disconnected for inactivity"']);
    await t.expectClosed();
  } finally {
    await quick.close();
  }
  const slow = await createMsTestContext({ managesieve: { login_timeout: '80ms' } });
  try {
    const { t } = await slow.connect({ tls: true });
    t.send('NOOP');
    await t.expect(['OK "Done"']);
    await t.expect(['BYE "Too slow to log in"']);
    await t.expectClosed();
  } finally {
    await slow.close();
  }
  const { pipe, t } = await c.connect({ tls: true });
  await pipe.session!.shutdown();
  await t.expect(['BYE (TRYLATER) "Server shutting down"']);
});

test('a peer that half-closes after pipelining gets its answers, then the session ends', async () => {
  const { pipe, t } = await c.login(c.bob);
  t.sendRaw('PUTSCRIPT "x" "keep;"\r\nLISTSCRIPTS\r\n');
  pipe.end();
  await t.expect(['OK', '"small"', '"x"', 'OK']);
  await t.expectClosed();
});
