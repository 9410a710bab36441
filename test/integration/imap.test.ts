// IMAP over loopback with independent real clients, the server started as a user starts it:
// imapflow (IMAP4rev2-aware JavaScript client), Python's imaplib (an IMAP4rev1 client:
// STARTTLS, literal APPEND, modified UTF-7 names) and curl (imaps://).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { ImapFlow } from 'imapflow';
import { startYubin, type YubinInstance } from '../helpers/server.js';

let y: YubinInstance;
const USER = 'alice@a.test';
const PASS = 'correct horse battery';

function msg(subject: string, body = 'Hello from the test.\r\n'): string {
  return `From: Bob <bob@b.test>\r\nTo: Alice <alice@a.test>\r\nSubject: ${subject}\r\nDate: Tue, 3 Feb 2026 09:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@b.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`;
}

function client(opts: { secure?: boolean } = {}): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port: opts.secure ? y.port('imaps') : y.port('imap'),
    secure: !!opts.secure,
    auth: { user: USER, pass: PASS },
    logger: false,
    tls: { rejectUnauthorized: false },
  });
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    c.stdin.end(input ?? '');
  });
}

before(async () => {
  y = await startYubin({ domains: ['a.test'], users: [{ address: USER, password: PASS, quota: '10M' }] });
});
after(async () => {
  await y?.destroy();
});

test('imapflow: STARTTLS login, LIST special-use, APPEND, FETCH, flags, SEARCH, COPY/MOVE, STATUS, QUOTA', async () => {
  const c = client();
  await c.connect();
  try {
    const boxes = await c.list();
    const byUse = new Map(boxes.map((b) => [b.specialUse, b.path]));
    assert.equal(byUse.get('\\Sent'), 'Sent');
    assert.equal(byUse.get('\\Trash'), 'Trash');
    assert.ok(boxes.some((b) => b.path === 'INBOX'));

    const raw = msg('imapflow one', 'First body line.\r\n');
    const app = await c.append('INBOX', raw, ['\\Seen']);
    assert.ok(app && app.uid, 'APPENDUID');
    await c.append('INBOX', msg('imapflow two'));

    const lock = await c.getMailboxLock('INBOX');
    try {
      const seen: Array<{ uid: number; subject?: string; flags?: Set<string> }> = [];
      for await (const m of c.fetch('1:*', { uid: true, envelope: true, flags: true, bodyStructure: true, size: true })) {
        seen.push({ uid: m.uid, subject: m.envelope?.subject, flags: m.flags });
        assert.equal(m.bodyStructure?.type, 'text/plain');
      }
      assert.deepEqual(
        seen.map((s) => s.subject),
        ['imapflow one', 'imapflow two'],
      );
      assert.ok(seen[0]!.flags?.has('\\Seen'));
      const one = await c.fetchOne(String(app!.uid), { source: true }, { uid: true });
      assert.ok(one);
      assert.equal(one.source?.toString('utf8'), raw, 'byte for byte');

      await c.messageFlagsAdd({ uid: String(app!.uid) }, ['\\Flagged'], { uid: true });
      const flagged = await c.search({ flagged: true }, { uid: true });
      assert.deepEqual(flagged, [app!.uid]);
      const bySubject = await c.search({ subject: 'two' });
      assert.deepEqual(bySubject, [2]);
      const byBody = await c.search({ body: 'first body' });
      assert.deepEqual(byBody, [1]);

      const copied = await c.messageCopy('1', 'Archive');
      assert.ok(copied && copied.uidMap && copied.uidMap.size === 1);
      const moved = await c.messageMove('2', 'Trash');
      assert.ok(moved && moved.uidMap && moved.uidMap.size === 1);
      assert.equal(c.mailbox && typeof c.mailbox === 'object' ? c.mailbox.exists : -1, 1);
    } finally {
      lock.release();
    }
    const st = await c.status('Trash', { messages: true, unseen: true, uidNext: true });
    assert.ok(st && st.messages === 1);
    const q = await c.getQuota('INBOX');
    assert.ok(q && q.storage && q.storage.limit === 10 * 1024 * 1024);

    await c.mailboxCreate('Projects/Yubin');
    await c.mailboxRename('Projects/Yubin', 'Projects/Mail');
    const again = await c.list();
    assert.ok(again.some((b) => b.path === 'Projects/Mail'));
    await c.mailboxDelete('Projects/Mail');
  } finally {
    await c.logout();
  }
});

test('imapflow: IDLE gets a message appended by another connection', async () => {
  const watcher = client({ secure: true });
  const writer = client({ secure: true });
  await watcher.connect();
  await writer.connect();
  try {
    await watcher.mailboxOpen('Junk');
    const got = new Promise<number>((resolve) => watcher.on('exists', (d: { count: number }) => resolve(d.count)));
    const idling = watcher.idle();
    await writer.append('Junk', msg('pushed'));
    const count = await Promise.race([got, new Promise<number>((_, rej) => setTimeout(() => rej(new Error('no EXISTS within 5 s')), 5000))]);
    assert.equal(count, 1);
    await watcher.noop();
    await idling;
  } finally {
    await watcher.logout();
    await writer.logout();
  }
});

const python = spawnSync('python3', ['--version']).status === 0;

test('Python imaplib: rev1 client, STARTTLS, literal APPEND, modified UTF-7 names', { skip: !python && 'python3 not installed' }, async () => {
  const script = `
import imaplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
print('caps', ' '.join(m.capabilities))
m.starttls(ssl_context=ctx)
print(m.login(sys.argv[2], sys.argv[3])[0])
print('create', m.create('"Entw&APw-rfe"')[0])
typ, data = m.list('""', '*')
print('list', b'|'.join(data).decode())
msg = b'From: py@b.test\\r\\nSubject: from python\\r\\n\\r\\nline one\\r\\n'
print('append', m.append('"Entw&APw-rfe"', '(\\\\Seen)', None, msg)[0])
typ, data = m.select('"Entw&APw-rfe"')
print('select', typ, data[0].decode())
typ, data = m.fetch('1', '(RFC822)')
print('fetched', data[0][1] == msg)
typ, data = m.search(None, 'SUBJECT', '"python"')
print('search', data[0].decode())
print('logout', m.logout()[0])
`;
  const r = await run('python3', ['-c', script, String(y.port('imap')), USER, PASS]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /caps .*STARTTLS/);
  assert.match(r.stdout, /^OK$/m);
  assert.match(r.stdout, /create OK/);
  assert.match(r.stdout, /"\/" Entw&APw-rfe/);
  assert.match(r.stdout, /append OK/);
  assert.match(r.stdout, /select OK 1/);
  assert.match(r.stdout, /fetched True/);
  assert.match(r.stdout, /search 1/);
  assert.match(r.stdout, /logout BYE/);
});

const curl = spawnSync('curl', ['--version']).status === 0;

test('curl: imaps:// lists a mailbox and fetches a message', { skip: !curl && 'curl not installed' }, async () => {
  const c = client({ secure: true });
  await c.connect();
  const body = msg('for curl', 'Fetched by curl.\r\n');
  const app = await c.append('Drafts', body);
  await c.logout();
  assert.ok(app);
  const base = `imaps://127.0.0.1:${y.port('imaps')}`;
  const list = await run('curl', ['-sS', '-k', '--max-time', '20', '-u', `${USER}:${PASS}`, `${base}/`]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /LIST .*Drafts/);
  const one = await run('curl', ['-sS', '-k', '--max-time', '20', '-u', `${USER}:${PASS}`, `${base}/Drafts;UID=${app.uid}`]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout, body);
});

test('a message submitted over SMTP is fetched back byte for byte', async () => {
  const nodemailer = await import('nodemailer');
  const raw = msg('over smtp', 'Line one.\r\n\r\n.Dot-started line, trailing spaces   \r\nUTF-8: Grüße\r\n').replace('From: Bob <bob@b.test>', `From: Alice <${USER}>`);
  const tr = nodemailer.createTransport({
    host: '127.0.0.1',
    port: y.port('submission'),
    secure: false,
    auth: { user: USER, pass: PASS },
    tls: { rejectUnauthorized: false },
  });
  await tr.sendMail({ envelope: { from: USER, to: [USER] }, raw });
  tr.close();
  const c = client({ secure: true });
  await c.connect();
  try {
    const lock = await c.getMailboxLock('INBOX');
    try {
      const box: { found: Buffer | null } = { found: null };
      const deadline = Date.now() + 15_000;
      while (!box.found && Date.now() < deadline) {
        for await (const m of c.fetch('1:*', { source: true, size: true })) {
          if (m.source && m.source.toString('utf8').includes('Subject: over smtp')) {
            assert.equal(m.size, m.source.length);
            box.found = m.source;
          }
        }
        if (!box.found) await c.noop();
      }
      const found = box.found;
      assert.ok(found, 'delivered');
      // the server prepends trace fields (Received, Return-Path, DKIM-Signature); the rest is as sent
      assert.ok(found.toString('utf8').endsWith(raw), found.toString('utf8'));
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }
});
