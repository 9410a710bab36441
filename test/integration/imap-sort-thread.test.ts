// SORT and THREAD (RFC 5256) with Python's imaplib against `yubin serve`, and imapflow reading
// OBJECTID's EMAILID/THREADID (RFC 8474), also after a COPY.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { ImapFlow } from 'imapflow';
import { startYubin, type YubinInstance } from '../helpers/server.js';

let y: YubinInstance;
const USER = 'alice@a.test';
const PASS = 'correct horse battery';

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
  });
}

function msg(subject: string, date: string, id: string, refs = ''): string {
  const r = refs ? `In-Reply-To: <${refs.split(' ').at(-1)}>\r\nReferences: ${refs.split(' ').map((x) => `<${x}>`).join(' ')}\r\n` : '';
  return `From: Bob <bob@b.test>\r\nTo: Alice <alice@a.test>\r\nSubject: ${subject}\r\nDate: ${date}\r\nMessage-ID: <${id}>\r\n${r}\r\nBody of ${subject}.\r\n`;
}

before(async () => {
  y = await startYubin({ domains: ['a.test'], users: [{ address: USER, password: PASS, quota: '10M' }] });
  const c = new ImapFlow({ host: '127.0.0.1', port: y.port('imap'), secure: false, auth: { user: USER, pass: PASS }, logger: false, tls: { rejectUnauthorized: false } });
  await c.connect();
  try {
    // 1 "beta" (root), 2 "alpha", 3 "Re: beta" (reply to 1), 4 "gamma", 5 "Re: Re: beta" (reply to 3)
    await c.append('INBOX', msg('beta', 'Mon, 2 Feb 2026 10:00:00 +0000', 'b1@b.test'));
    await c.append('INBOX', msg('alpha', 'Mon, 2 Feb 2026 09:00:00 +0000', 'a1@b.test'));
    await c.append('INBOX', msg('Re: beta', 'Mon, 2 Feb 2026 11:00:00 +0000', 'b2@b.test', 'b1@b.test'));
    await c.append('INBOX', msg('gamma', 'Sun, 1 Feb 2026 08:00:00 +0000', 'g1@b.test'));
    await c.append('INBOX', msg('Re: Re: beta', 'Mon, 2 Feb 2026 12:00:00 +0000', 'b3@b.test', 'b1@b.test b2@b.test'));
  } finally {
    await c.logout();
  }
});
after(async () => {
  await y?.destroy();
});

const python = spawnSync('python3', ['--version']).status === 0;

test('Python imaplib: SORT and THREAD', { skip: !python && 'python3 not installed' }, async () => {
  const script = `
import imaplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.starttls(ssl_context=ctx)
m.login(sys.argv[2], sys.argv[3])
print('caps', ' '.join(m.capabilities))
m.select('INBOX')
for crit in ['(SUBJECT)', '(DATE)', '(REVERSE DATE)', '(ARRIVAL)', '(SUBJECT REVERSE DATE)']:
    typ, data = m.sort(crit, 'UTF-8', 'ALL')
    print('sort', crit, typ, data[0].decode())
for alg in ['ORDEREDSUBJECT', 'REFERENCES']:
    typ, data = m.thread(alg, 'UTF-8', 'ALL')
    print('thread', alg, typ, data[0].decode())
typ, data = m.uid('SORT', '(SUBJECT)', 'UTF-8', 'NOT', 'SUBJECT', 'gamma')
print('uidsort', typ, data[0].decode())
m.logout()
`;
  const r = await run('python3', ['-c', script, String(y.port('imap')), USER, PASS]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.split('\n');
  assert.match(out[0]!, /caps .*\bSORT\b.*THREAD=ORDEREDSUBJECT.*THREAD=REFERENCES/);
  // base subjects: alpha(2) beta(1,3,5) gamma(4); ties by sequence number
  assert.ok(out.includes('sort (SUBJECT) OK 2 1 3 5 4'), r.stdout);
  assert.ok(out.includes('sort (DATE) OK 4 2 1 3 5'), r.stdout);
  assert.ok(out.includes('sort (REVERSE DATE) OK 5 3 1 2 4'), r.stdout);
  assert.ok(out.includes('sort (ARRIVAL) OK 1 2 3 4 5'), r.stdout);
  assert.ok(out.includes('sort (SUBJECT REVERSE DATE) OK 2 5 3 1 4'), r.stdout);
  // ORDEREDSUBJECT (RFC 5256 §3): threads by base subject, ordered by their first message's sent
  // date; the later messages of a subject are children of its first, as siblings
  assert.ok(out.includes('thread ORDEREDSUBJECT OK (4)(2)(1 (3)(5))'), r.stdout);
  // REFERENCES: 1 <- 3 <- 5 nested by References
  assert.ok(out.includes('thread REFERENCES OK (4)(2)(1 3 5)'), r.stdout);
  assert.ok(out.includes('uidsort OK 2 1 3 5'), r.stdout);
});

test('imapflow: EMAILID and THREADID (OBJECTID)', async () => {
  const c = new ImapFlow({ host: '127.0.0.1', port: y.port('imap'), secure: false, auth: { user: USER, pass: PASS }, logger: false, tls: { rejectUnauthorized: false } });
  await c.connect();
  try {
    assert.ok(c.capabilities.has('OBJECTID'));
    const lock = await c.getMailboxLock('INBOX');
    try {
      const got = new Map<number, { emailId?: string; threadId?: string }>();
      for await (const m of c.fetch('1:*', { uid: true, emailId: true, threadId: true })) got.set(m.seq, { emailId: m.emailId, threadId: m.threadId });
      assert.equal(got.size, 5);
      const ids = [...got.values()];
      assert.ok(ids.every((x) => /^E[0-9a-f]{32}$/.test(x.emailId ?? '') && /^T[0-9a-f]{24}$/.test(x.threadId ?? '')), JSON.stringify(ids));
      assert.equal(new Set(ids.map((x) => x.emailId)).size, 5);
      // 1, 3, 5 are one thread; 2 and 4 their own
      assert.equal(got.get(1)!.threadId, got.get(3)!.threadId);
      assert.equal(got.get(1)!.threadId, got.get(5)!.threadId);
      assert.equal(new Set(ids.map((x) => x.threadId)).size, 3);
      // a copy keeps its EMAILID
      const copied = await c.messageCopy('1', 'Archive');
      assert.ok(copied);
    } finally {
      lock.release();
    }
    const lock2 = await c.getMailboxLock('Archive');
    try {
      const first = await c.fetchOne('*', { emailId: true, threadId: true });
      assert.ok(first && /^E[0-9a-f]{32}$/.test(first.emailId ?? ''));
    } finally {
      lock2.release();
    }
  } finally {
    await c.logout();
  }
});
