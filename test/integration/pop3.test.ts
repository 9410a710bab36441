// POP3 over loopback with independent real clients: Python's poplib (pop3s and STLS), curl
// (pop3s:// and --ssl-reqd on pop3://), node-pop3, and raw sockets. The server runs as a user
// runs it (`yubin serve`, test/helpers/server.ts); the mailboxes are filled through the store
// before it starts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pop3Command from 'node-pop3';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { openStore } from '../../src/store/index.js';
import { hashPassword } from '../../src/auth/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { LineClient } from '../helpers/lineclient.js';

const PW = 'correct horse';

function message(i: number, extra = ''): Buffer {
  return Buffer.from(
    `From: sender${i}@example.net\r\nTo: alice@example.test\r\nSubject: message ${i}\r\nMessage-ID: <m${i}@example.net>\r\n\r\nBody of message ${i}.\r\n.a line with a leading dot\r\n..and two\r\n${extra}end\r\n`,
    'utf8',
  );
}

/** alice: 3 messages; bob: 2 (curl, node-pop3); carol: 2 (drop test); dave: 1 (IMAP test); erin: none (SMTP test). */
const seeded: Record<string, Buffer[]> = {
  alice: [message(1), message(2, 'caf\u00e9 8-bit \u00fcml\u00e4uts\r\n'), message(3)],
  bob: [message(4), message(5)],
  carol: [message(6), message(7)],
  dave: [message(8)],
  erin: [],
};
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

let y: YubinInstance;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-pop3-it-'));
  const store = await openStore(join(dir, 'data'), { logger: silentLogger() });
  await store.addDomain('example.test');
  for (const [name, msgs] of Object.entries(seeded)) {
    const acc = await store.addAccount(`${name}@example.test`, await hashPassword(PW));
    for (const m of msgs) {
      const staged = await store.blobs.stage(m);
      const [r] = await store.deliver(staged, [{ accountId: acc.id }]);
      await store.blobs.discard(staged);
      assert.ok(r?.ok);
    }
  }
  await store.close();
  y = await startYubin({ dir });
});

after(async () => {
  await y?.destroy();
});

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { encoding: 'buffer', timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr: stderr.toString() });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

async function python(script: string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await run(PYTHON, ['-c', script, ...args]);
  assert.equal(r.code, 0, `python failed: ${r.stderr}`);
  return JSON.parse(r.stdout.toString()) as Record<string, unknown>;
}

const POPLIB_DOWNLOAD = `
import base64, json, poplib, ssl, sys
host, port, mode, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl._create_unverified_context()
out = {}
if mode == 'ssl':
    p = poplib.POP3_SSL(host, port, context=ctx, timeout=20)
else:
    p = poplib.POP3(host, port, timeout=20)
    out['capa_before'] = sorted(p.capa().keys())
    try:
        p.user(user)
        out['user_before_tls'] = 'accepted'
    except poplib.error_proto as e:
        out['user_before_tls'] = e.args[0].decode()
    p.stls(context=ctx)
out['capa'] = sorted(p.capa().keys())
p.user(user)
p.pass_(pw)
count, size = p.stat()
out['stat'] = [count, size]
out['list'] = [x.decode() for x in p.list()[1]]
out['uidl'] = [x.decode() for x in p.uidl()[1]]
msgs = []
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    msgs.append(base64.b64encode(b'\\r\\n'.join(lines) + b'\\r\\n').decode())
out['messages'] = msgs
resp, lines, octets = p.top(1, 0)
out['top'] = base64.b64encode(b'\\r\\n'.join(lines) + b'\\r\\n').decode()
out['quit'] = p.quit().decode()
print(json.dumps(out))
`;

test("Python's poplib over pop3s: every message byte for byte, sizes and UIDL", async () => {
  const out = await python(POPLIB_DOWNLOAD, '127.0.0.1', String(y.port('pop3s')), 'ssl', 'alice@example.test', PW);
  const msgs = seeded.alice!;
  assert.deepEqual(out.stat, [msgs.length, msgs.reduce((a, m) => a + m.length, 0)]);
  assert.deepEqual(out.list, msgs.map((m, i) => `${i + 1} ${m.length}`));
  const uidl = out.uidl as string[];
  assert.equal(new Set(uidl.map((l) => l.split(' ')[1])).size, msgs.length);
  assert.deepEqual((out.messages as string[]).map((b) => Buffer.from(b, 'base64')), msgs);
  const top = Buffer.from(out.top as string, 'base64').toString();
  assert.equal(top, msgs[0]!.toString().slice(0, msgs[0]!.indexOf('\r\n\r\n') + 4));
  assert.match(out.quit as string, /^\+OK/);
  assert.ok((out.capa as string[]).includes('USER'));
});

test("Python's poplib with STLS: login refused before TLS, works after", async () => {
  const out = await python(POPLIB_DOWNLOAD, '127.0.0.1', String(y.port('pop3')), 'stls', 'alice@example.test', PW);
  assert.ok((out.capa_before as string[]).includes('STLS'));
  assert.ok(!(out.capa_before as string[]).includes('USER'));
  assert.match(out.user_before_tls as string, /^-ERR \[SYS\/PERM\]/);
  assert.ok(!(out.capa as string[]).includes('STLS'));
  assert.deepEqual((out.messages as string[]).map((b) => Buffer.from(b, 'base64')), seeded.alice);
  // A second session sees the same UIDLs (nothing was deleted).
  const again = await python(POPLIB_DOWNLOAD, '127.0.0.1', String(y.port('pop3s')), 'ssl', 'alice@example.test', PW);
  assert.deepEqual(again.uidl, out.uidl);
});

test('curl: pop3s:// lists and retrieves; --ssl-reqd on pop3:// upgrades with STLS', async () => {
  const user = `bob@example.test:${PW}`;
  const list = await run('curl', ['-sS', '-k', '--user', user, `pop3s://127.0.0.1:${y.port('pop3s')}/`]);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stdout.toString(), seeded.bob!.map((m, i) => `${i + 1} ${m.length}\r\n`).join(''));
  const retr = await run('curl', ['-sS', '-k', '--user', user, `pop3s://127.0.0.1:${y.port('pop3s')}/2`]);
  assert.equal(retr.code, 0, retr.stderr);
  assert.deepEqual(retr.stdout, seeded.bob![1]);
  const stls = await run('curl', ['-sS', '-k', '--ssl-reqd', '--user', user, `pop3://127.0.0.1:${y.port('pop3')}/1`]);
  assert.equal(stls.code, 0, stls.stderr);
  assert.deepEqual(stls.stdout, seeded.bob![0]);
  // Without TLS, curl cannot log in: the server offers no plaintext login.
  const plain = await run('curl', ['-sS', '--user', user, `pop3://127.0.0.1:${y.port('pop3')}/1`]);
  assert.notEqual(plain.code, 0);
});

test('node-pop3 over implicit TLS: UIDL, LIST, RETR, TOP', async () => {
  const pop = new Pop3Command({ user: 'bob@example.test', password: PW, host: '127.0.0.1', port: y.port('pop3s'), tls: true, tlsOptions: { rejectUnauthorized: false }, timeout: 20_000 });
  try {
    const uidl = (await pop.UIDL()) as string[][];
    assert.equal(uidl.length, 2);
    const list = (await pop.LIST()) as string[][];
    assert.deepEqual(list, seeded.bob!.map((m, i) => [String(i + 1), String(m.length)]));
    // node-pop3 0.11 hands back the response body as sent, still dot-stuffed, and keeps or drops
    // the last line's CRLF depending on whether the final "." arrived in the same TCP read.
    const text = (await pop.RETR(1)).replace(/(\r\n)?$/, '\r\n');
    assert.ok(text.includes('\r\n..a line with a leading dot\r\n'));
    assert.equal(text.replace(/(^|\r\n)\./g, '$1'), seeded.bob![0]!.toString());
    const top = await pop.TOP(2, 1);
    assert.match(top, /^From: sender5@example\.net\r\n[\s\S]*\r\n\r\nBody of message 5\.(\r\n)?$/);
  } finally {
    await pop.QUIT();
  }
});

async function login(port: number, user: string): Promise<LineClient> {
  // The previous session of the same user may still be closing on the server: wait for its lock.
  for (let tries = 0; ; tries++) {
    const c = await LineClient.connect(port, '127.0.0.1', { tls: true });
    await c.waitFor(/^\+OK.*\r\n$/);
    c.write(`USER ${user}\r\n`);
    await c.waitFor(/^\+OK.*\r\n$/);
    c.write(`PASS ${PW}\r\n`);
    const r = await c.waitFor(/\r\n$/);
    if (r.startsWith('+OK')) return c;
    c.close();
    if (!r.includes('[IN-USE]') || tries > 50) throw new Error(`login failed: ${r}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function line(c: LineClient, cmd: string): Promise<string> {
  c.write(cmd + '\r\n');
  return (await c.waitFor(/\r\n$/)).trimEnd();
}

test('DELE then a dropped connection keeps the mail; DELE then QUIT removes it', async () => {
  const port = y.port('pop3s');
  let c = await login(port, 'carol@example.test');
  assert.equal(await line(c, 'STAT'), `+OK 2 ${seeded.carol![0]!.length + seeded.carol![1]!.length}`);
  assert.match(await line(c, 'DELE 1'), /^\+OK/);
  assert.match(await line(c, 'DELE 2'), /^\+OK/);
  c.close(); // dropped: no QUIT

  c = await login(port, 'carol@example.test');
  assert.equal(await line(c, 'STAT'), `+OK 2 ${seeded.carol![0]!.length + seeded.carol![1]!.length}`);
  assert.match(await line(c, 'DELE 1'), /^\+OK/);
  assert.match(await line(c, 'QUIT'), /^\+OK .*\(1 message deleted\)/);
  await c.waitClosed();

  c = await login(port, 'carol@example.test');
  assert.equal(await line(c, 'STAT'), `+OK 1 ${seeded.carol![1]!.length}`);
  c.write('RETR 1\r\n');
  const r = await c.waitFor(/\r\n\.\r\n$/);
  assert.ok(r.includes('Subject: message 7'));
  await line(c, 'QUIT');
});

test('a second POP3 login to the same maildrop gets [IN-USE]', async () => {
  const port = y.port('pop3s');
  const first = await login(port, 'bob@example.test');
  const second = await LineClient.connect(port, '127.0.0.1', { tls: true });
  await second.waitFor(/^\+OK.*\r\n$/);
  await line(second, 'USER bob@example.test');
  assert.match(await line(second, `PASS ${PW}`), /^-ERR \[IN-USE\]/);
  await line(first, 'QUIT');
  second.close();
});

test('pipelined STLS: commands sent with it in the same packet are discarded', async () => {
  const c = await LineClient.connect(y.port('pop3'));
  await c.waitFor(/^\+OK.*\r\n$/);
  c.write('STLS\r\nCAPA\r\n');
  assert.equal(await c.waitFor(/\r\n$/), '+OK Begin TLS negotiation\r\n');
  await c.startTls();
  // The first reply after the handshake answers this NOOP-less CAPA, not the pipelined one.
  c.write('CAPA\r\n');
  const caps = await c.waitFor(/\r\n\.\r\n$/);
  assert.match(caps, /^\+OK Capability list follows\r\n/);
  assert.equal(caps.match(/\+OK Capability/g)!.length, 1);
  c.write('QUIT\r\n');
  await c.waitClosed();
});

test('a message submitted over SMTP is retrieved over POP3 byte for byte', async () => {
  const raw = Buffer.from(
    'From: alice@example.test\r\nTo: erin@example.test\r\nSubject: via SMTP\r\nMessage-ID: <smtp-1@example.test>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
      'Hello Erin,\r\n.a line that SMTP and POP3 both dot-stuff\r\n..\r\n.\r\nGr\u00fc\u00dfe\r\n',
    'utf8',
  );
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: y.port('submission'),
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'alice@example.test', pass: PW },
  });
  try {
    await transport.sendMail({ envelope: { from: 'alice@example.test', to: ['erin@example.test'] }, raw });
  } finally {
    transport.close();
  }
  // Local delivery is durable when the 250 is sent, or shortly after through the queue: wait for it.
  let got: Buffer | null = null;
  for (let i = 0; i < 100 && !got; i++) {
    const c = await login(y.port('pop3s'), 'erin@example.test');
    const stat = await line(c, 'STAT');
    if (stat.startsWith('+OK 1 ')) {
      c.write('RETR 1\r\n');
      const r = await c.waitFor(/\r\n\.\r\n$/);
      const body = r.slice(r.indexOf('\r\n') + 2, -3).replace(/(^|\r\n)\./g, '$1');
      got = Buffer.from(body, 'binary');
      assert.equal(r.slice(0, r.indexOf('\r\n')), `+OK ${got.length} octets`);
    }
    await line(c, 'QUIT');
    if (!got) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(got, 'the message arrived');
  // The server adds trace fields (Return-Path, Received) at the top; the rest is exactly what was sent.
  assert.deepEqual(got.subarray(got.length - raw.length), raw);
  const added = got.subarray(0, got.length - raw.length).toString('binary');
  assert.match(added, /(^|\r\n)Received: from /);
  for (const l of added.split('\r\n').slice(0, -1)) assert.match(l, /^([A-Za-z0-9-]+: |[ \t])/, `a header line: ${l}`);
});

test('a POP3 delete reaches an IMAP session of the same account at once (EXPUNGE during IDLE)', async () => {
  const imap = new ImapFlow({
    host: '127.0.0.1',
    port: y.port('imaps'),
    secure: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'dave@example.test', pass: PW },
    logger: false,
    disableAutoIdle: true,
  });
  await imap.connect();
  try {
    const box = await imap.mailboxOpen('INBOX');
    assert.equal(box.exists, 1);
    const expunged = new Promise<{ seq: number }>((resolve) => imap.on('expunge', (e: { seq: number }) => resolve(e)));
    const idling = imap.idle();
    const c = await login(y.port('pop3s'), 'dave@example.test');
    assert.match(await line(c, 'DELE 1'), /^\+OK/);
    assert.match(await line(c, 'QUIT'), /^\+OK .*\(1 message deleted\)/);
    const ev = await Promise.race([expunged, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no EXPUNGE within 10 s')), 10_000))]);
    assert.equal(ev.seq, 1);
    assert.equal(imap.mailbox && typeof imap.mailbox === 'object' ? imap.mailbox.exists : -1, 0);
    await imap.noop();
    await idling.catch(() => {});
  } finally {
    await imap.logout().catch(() => {});
  }
});

test('SIGTERM: an idle session is told -ERR [SYS/TEMP], and its DELE marks delete nothing', async () => {
  const c = await login(y.port('pop3s'), 'alice@example.test');
  assert.match(await line(c, 'DELE 1'), /^\+OK/);
  const stopped = y.stop();
  assert.equal(await c.waitFor(/\r\n$/), '-ERR [SYS/TEMP] Server shutting down, try again later\r\n');
  await c.waitClosed();
  assert.equal(await stopped, 0);
  y = await y.restart();
  const again = await login(y.port('pop3s'), 'alice@example.test');
  assert.equal(await line(again, 'STAT'), `+OK 3 ${seeded.alice!.reduce((a, m) => a + m.length, 0)}`);
  await line(again, 'QUIT');
});

test('a client that half-closes without QUIT can log in again at once (no [IN-USE] grace)', async () => {
  const first = await login(y.port('pop3s'), 'alice@example.test');
  assert.match(await line(first, 'STAT'), /^\+OK/);
  // FIN without QUIT, and at once a new connection (the old server held the lock for a 2 s grace).
  first.socket.end();
  const c = await LineClient.connect(y.port('pop3s'), '127.0.0.1', { tls: true });
  await c.waitFor(/^\+OK.*\r\n$/);
  c.write('USER alice@example.test\r\n');
  await c.waitFor(/^\+OK.*\r\n$/);
  c.write(`PASS ${PW}\r\n`);
  assert.match(await c.waitFor(/\r\n$/), /^\+OK Logged in/);
  await line(c, 'QUIT');
});
