// Sieve at delivery over SMTP (inbound listener, a real store, a recording outbound queue): every
// action (keep with flags, fileinto, missing folder, :create, discard, reject at SMTP time and as a
// DSN, redirect with SRS, limits and loops), vacation and each of its rules, and run-time errors.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PipeTransport } from '../../test/helpers/pipe.js';
import { createTestEnv, type TestEnv } from '../../test/helpers/smtp-context.js';
import { cmd } from '../../test/helpers/smtp-transcript.js';
import { hashPassword } from '../auth/index.js';
import { REDIRECT_HEADER } from './sieve.js';

let env: TestEnv;
let seq = 0;

async function open(): Promise<PipeTransport> {
  const t = new PipeTransport('smtp');
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  await cmd(t, 'EHLO client.b.test');
  return t;
}

/** Sends one message; returns the final reply. */
async function send(from: string, rcpts: string[], headers: string, body = 'Hello\r\n'): Promise<string> {
  const t = await open();
  assert.match(await cmd(t, `MAIL FROM:<${from}>`), /^250 /);
  for (const r of rcpts) assert.match(await cmd(t, `RCPT TO:<${r}>`), /^250 /, r);
  assert.match(await cmd(t, 'DATA'), /^354 /);
  const id = `<m${++seq}@b.test>`;
  const msg = `From: ${from || 'daemon@b.test'}\r\nTo: ${rcpts.join(', ')}\r\nMessage-ID: ${id}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n${headers}\r\n${body}`;
  const r = await cmd(t, msg + '.');
  await cmd(t, 'QUIT');
  return r;
}

async function script(address: string, text: string): Promise<void> {
  const acc = (await env.store.getAccount(address))!;
  await env.store.sieve.putScript(acc.id, 'test', text, { maxScripts: 0, maxBytes: 0 });
  await env.store.sieve.setActive(acc.id, 'test');
}

async function flagsIn(address: string, mailbox: string): Promise<string[][]> {
  const acc = (await env.store.getAccount(address))!;
  const box = await env.store.getMailbox(acc.id, mailbox);
  if (!box) return [];
  return (await env.store.listMessages(box.id)).map((m) => m.flags);
}

const count = async (address: string, mailbox: string) => (await flagsIn(address, mailbox)).length;
const outCount = async () => (await env.outbound.list()).length;

before(async () => {
  env = await createTestEnv({ checksConfig: { srs_secret: 'sieve-test-secret' } });
  await env.store.addDomain('a.test');
  const hash = await hashPassword('secret');
  for (const u of ['keep', 'file', 'disc', 'rej', 'rej2', 'redir', 'vac', 'err', 'edit']) await env.store.addAccount(`${u}@a.test`, hash);
  await env.store.addAlias('vacalias@a.test', ['vac@a.test']);
});
after(() => env.close());

describe('sieve actions at delivery', () => {
  test('keep with imap4flags flags; no script: plain INBOX', async () => {
    assert.match(await send('x@b.test', ['keep@a.test'], 'Subject: one\r\n'), /^250 /);
    assert.deepEqual(await flagsIn('keep@a.test', 'INBOX'), [[]]);
    await script('keep@a.test', 'require ["imap4flags"];\r\naddflag "\\\\Flagged";\r\nkeep;\r\n');
    assert.match(await send('x@b.test', ['keep@a.test'], 'Subject: two\r\n'), /^250 /);
    assert.deepEqual((await flagsIn('keep@a.test', 'INBOX'))[1], ['\\Flagged']);
  });

  test('fileinto an existing folder, a missing one (INBOX), and with :create', async () => {
    await script('file@a.test', 'require ["fileinto", "mailbox"];\r\nif header :contains "subject" "archive" { fileinto "Archive"; }\r\nelsif header :contains "subject" "missing" { fileinto "Nope"; }\r\nelse { fileinto :create "Lists/New"; }\r\n');
    await send('x@b.test', ['file@a.test'], 'Subject: archive me\r\n');
    assert.equal(await count('file@a.test', 'Archive'), 1);
    await send('x@b.test', ['file@a.test'], 'Subject: missing\r\n');
    assert.equal(await count('file@a.test', 'INBOX'), 1);
    assert.equal(await count('file@a.test', 'Nope'), 0);
    await send('x@b.test', ['file@a.test'], 'Subject: other\r\n');
    assert.equal(await count('file@a.test', 'Lists/New'), 1);
  });

  test('discard stores nothing and still answers 250', async () => {
    await script('disc@a.test', 'discard;\r\n');
    assert.match(await send('x@b.test', ['disc@a.test'], 'Subject: bye\r\n'), /^250 /);
    assert.equal(await count('disc@a.test', 'INBOX'), 0);
  });

  test('reject: 550 at SMTP time when every recipient rejects, otherwise a DSN to the sender', async () => {
    await script('rej@a.test', 'require "reject";\r\nreject "I do not want this";\r\n');
    assert.match(await send('x@b.test', ['rej@a.test'], 'Subject: no\r\n'), /^550 5\.7\.1 I do not want this/);
    assert.equal(await count('rej@a.test', 'INBOX'), 0);
    const before = await outCount();
    assert.match(await send('x@b.test', ['rej@a.test', 'keep@a.test'], 'Subject: mixed\r\n'), /^250 /);
    const out = (await env.outbound.list()).slice(before);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.from, '');
    assert.deepEqual(out[0]!.recipients.map((r) => r.address), ['x@b.test']);
    assert.match(out[0]!.bytes.toString(), /Status: 5\.7\.1/);
    assert.match(out[0]!.bytes.toString(), /I do not want this/);
    // No DSN to the null sender.
    const n = await outCount();
    await send('', ['rej@a.test', 'keep@a.test'], 'Subject: bounce\r\n');
    assert.equal(await outCount(), n);
  });

  test('redirect through the queue with SRS and the loop header; a looped message is kept', async () => {
    await script('redir@a.test', 'redirect "friend@remote.test";\r\n');
    const before = await outCount();
    assert.match(await send('x@b.test', ['redir@a.test'], 'Subject: fwd\r\n'), /^250 /);
    const out = (await env.outbound.list()).slice(before);
    assert.equal(out.length, 1);
    assert.match(out[0]!.from, /^SRS0[=+-]/i);
    assert.deepEqual(out[0]!.recipients.map((r) => r.address), ['friend@remote.test']);
    assert.match(out[0]!.bytes.toString(), new RegExp(`^${REDIRECT_HEADER}: redir@a\\.test\\r\\n`));
    assert.doesNotMatch(out[0]!.bytes.toString(), /^Return-Path:/m);
    assert.equal(await count('redir@a.test', 'INBOX'), 0, 'redirect cancels the implicit keep');
    // The same message coming back: not redirected again, kept.
    const n = await outCount();
    await send('x@b.test', ['redir@a.test'], `${REDIRECT_HEADER}: redir@a.test\r\nSubject: loop\r\n`);
    assert.equal(await outCount(), n);
    assert.equal(await count('redir@a.test', 'INBOX'), 1);
  });

  test('editheader: the stored copy is the edited message', async () => {
    await script('edit@a.test', 'require "editheader";\r\naddheader "X-Filtered" "yes";\r\n');
    await send('x@b.test', ['edit@a.test'], 'Subject: edit\r\n');
    const [m] = await env.mailbox('edit@a.test');
    assert.match(m!.toString(), /X-Filtered: yes\r\n/);
  });

  test('a run-time error keeps the message in INBOX and leaves one note per script version', async () => {
    await script('err@a.test', 'require "fileinto";\r\nfileinto "INBOX";\r\nfileinto "Archive";\r\n'.replace(/fileinto "Archive";/, 'fileinto "Archive"; redirect "a@remote.test"; redirect "b@remote.test"; redirect "c@remote.test"; redirect "d@remote.test"; redirect "e@remote.test";'));
    await send('x@b.test', ['err@a.test'], 'Subject: e1\r\n');
    await send('x@b.test', ['err@a.test'], 'Subject: e2\r\n');
    const inbox = (await env.mailbox('err@a.test')).map((b) => b.toString());
    assert.equal(inbox.filter((m) => /Subject: e[12]\r\n/.test(m)).length, 2, 'both messages kept in INBOX');
    assert.equal(inbox.filter((m) => /Subject: Your Sieve filter "test" failed/.test(m)).length, 1, 'one note per script version');
    assert.equal(await count('err@a.test', 'Archive'), 0, 'no action of the failed run was taken');
  });
});

describe('vacation (RFC 5230, RFC 3834)', () => {
  const VAC = 'require ["vacation"];\r\nvacation :days 1 :subject "Away" "I am away.";\r\n';
  before(async () => script('vac@a.test', VAC));

  async function replies(from: string, rcpts: string[], headers: string): Promise<Array<{ from: string; to: string[]; text: string }>> {
    const before = await outCount();
    assert.match(await send(from, rcpts, headers), /^250 /);
    return (await env.outbound.list()).slice(before).map((o) => ({ from: o.from, to: o.recipients.map((r) => r.address), text: o.bytes.toString() }));
  }

  test('replies once per sender within :days, with Auto-Submitted, In-Reply-To and References, from <>', async () => {
    const r = await replies('carol@b.test', ['vac@a.test'], 'Subject: hi\r\nReferences: <older@b.test>\r\n');
    assert.equal(r.length, 1);
    assert.equal(r[0]!.from, '');
    assert.deepEqual(r[0]!.to, ['carol@b.test']);
    assert.match(r[0]!.text, /^From: vac@a\.test\r\n/m);
    assert.match(r[0]!.text, /^Subject: Away\r\n/m);
    assert.match(r[0]!.text, /^Auto-Submitted: auto-replied/m);
    assert.match(r[0]!.text, new RegExp(`^In-Reply-To: <m${seq}@b\\.test>\\r\\n`, 'm'));
    assert.match(r[0]!.text, new RegExp(`^References: <older@b\\.test> <m${seq}@b\\.test>\\r\\n`, 'm'));
    assert.match(r[0]!.text, /\r\n\r\nI am away\.\r\n$/);
    assert.equal(await count('vac@a.test', 'INBOX'), 1, 'the message is kept too');
    assert.deepEqual(await replies('carol@b.test', ['vac@a.test'], 'Subject: again\r\n'), [], 'one reply per period');
  });

  test('the period is remembered durably: the store says no to a second reply', async () => {
    const acc = (await env.store.getAccount('vac@a.test'))!;
    const now = new Date();
    assert.equal(await env.store.sieve.vacationReserve(acc.id, 'carol@b.test', 'x', now, now), true);
    assert.deepEqual(await replies('carol@b.test', ['vac@a.test'], 'Subject: third\r\n'), []);
  });

  for (const [name, from, headers] of [
    ['a mailing list (List-Id)', 'dave@b.test', 'List-Id: <list.b.test>\r\nSubject: l\r\n'],
    ['bulk mail (Precedence: bulk)', 'erin@b.test', 'Precedence: bulk\r\nSubject: b\r\n'],
    ['an automatic message (Auto-Submitted)', 'fred@b.test', 'Auto-Submitted: auto-generated\r\nSubject: a\r\n'],
    ['the null sender <>', '', 'Subject: n\r\n'],
    ['owner-* senders', 'owner-list@b.test', 'Subject: o\r\n'],
    ['*-request senders', 'list-request@b.test', 'Subject: r\r\n'],
  ] as const) {
    test(`no reply to ${name}`, async () => {
      assert.deepEqual(await replies(from, ['vac@a.test'], headers), []);
    });
  }

  test('no reply when the user is not a direct recipient (To/Cc), unless :addresses names the address', async () => {
    // Delivered through an alias, the header names only the alias address.
    const before = await outCount();
    const t = await open();
    await cmd(t, 'MAIL FROM:<gina@b.test>');
    await cmd(t, 'RCPT TO:<vac@a.test>');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, 'From: gina@b.test\r\nTo: someone@else.test\r\nSubject: bcc\r\nMessage-ID: <bcc1@b.test>\r\n\r\nHi\r\n.'), /^250 /);
    assert.equal(await outCount(), before, 'not a direct recipient: no reply');
    await script('vac@a.test', 'require ["vacation"];\r\nvacation :days 1 :addresses ["someone@else.test"] "Away.";\r\n');
    await cmd(t, 'MAIL FROM:<gina@b.test>');
    await cmd(t, 'RCPT TO:<vac@a.test>');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, 'From: gina@b.test\r\nTo: someone@else.test\r\nSubject: bcc\r\nMessage-ID: <bcc2@b.test>\r\n\r\nHi\r\n.'), /^250 /);
    assert.equal(await outCount(), before + 1, ':addresses makes it a direct recipient');
    await script('vac@a.test', VAC);
  });
});
