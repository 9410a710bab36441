// `yubin queue ...` as a user runs it (the real CLI, a config file), against a queue database
// prepared in this process, with no server running: every change waits in data_dir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/server.js';
import { QueueStore } from '../../src/queue/index.js';

let dir: string;
let config: string;
let q: QueueStore;
const ids: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'yubin-qcli-'));
  config = join(dir, 'yubin.toml');
  writeFileSync(config, `hostname = "mail.a.test"\ndata_dir = "${join(dir, 'data')}"\n`);
  q = new QueueStore(join(dir, 'data'));
  const now = Date.now();
  for (const to of ['bob@b.test', 'carol@c.test']) {
    const body = Buffer.from(`From: alice@a.test\r\nTo: ${to}\r\nSubject: cli ${to}\r\n\r\nhello\r\n`);
    ids.push(await q.enqueueBytes(body, { from: 'alice@a.test', recipients: [{ address: to, notify: ['FAILURE'] }], size: body.length, needsUtf8: false, headerFromDomain: 'a.test', envid: 'E1' }, now));
  }
  // the first one has been tried once
  await q.record(ids[0]!, [{ idx: 0, state: 'deferred', status: '4.4.1', reply: '451 4.4.1 connect to mx.b.test[192.0.2.1]:25: ECONNREFUSED', remoteMta: null, nextAttempt: now + 3_600_000 }], now);
});

after(async () => {
  await q.close();
  rmSync(dir, { recursive: true, force: true });
});

test('queue list and show', async () => {
  const list = await runCli(['queue', 'list'], { config });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^${ids[0]}  deferred  \\S+  \\S+  <alice@a\\.test>  1/1 pending  next \\S+$`, 'm'));
  assert.match(list.stdout, new RegExp(`^${ids[1]}  queued  `, 'm'));
  assert.match(list.stdout, /^2 messages$/m);
  const show = await runCli(['queue', 'show', ids[0]!], { config });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^envid: E1$/m);
  assert.match(show.stdout, /^rcpt <bob@b\.test>: deferred, 1 attempt$/m);
  assert.match(show.stdout, /^ {2}last reply: 451 4\.4\.1 connect to mx\.b\.test/m);
  assert.match(show.stdout, /^ {2}notify: FAILURE$/m);
  const missing = await runCli(['queue', 'show', 'ZZZZZZZZZZZZZZZZZZ'], { config });
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'yubin: no message ZZZZZZZZZZZZZZZZZZ in the queue\n');
});

test('hold, release, retry', async () => {
  assert.equal((await runCli(['queue', 'hold', ids[0]!], { config })).code, 0);
  assert.equal((await q.get(ids[0]!))!.held, true);
  const r = await runCli(['queue', 'retry', '--all'], { config });
  assert.equal(r.stdout, '2 recipients due now\n');
  assert.ok((await q.get(ids[0]!))!.recipients[0]!.nextAttempt <= Date.now());
  assert.equal((await q.due(Date.now(), 10)).length, 1, 'the held message is not due');
  assert.equal((await runCli(['queue', 'release', ids[0]!], { config })).code, 0);
  assert.equal((await q.due(Date.now(), 10)).length, 2);
  const bad = await runCli(['queue', 'retry'], { config });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /give a queue id or --all/);
});

test('delete --bounce: gone, and the sender gets a failure DSN (queued for delivery)', async () => {
  const r = await runCli(['queue', 'delete', ids[1]!, '--bounce'], { config });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `deleted ${ids[1]} (sender notified)\n`);
  assert.equal(await q.get(ids[1]!), null);
  const dsn = (await q.list()).find((m) => m.from === '')!;
  assert.deepEqual(dsn.recipients.map((x) => x.address), ['alice@a.test']);
  const text = (await q.readMessage(dsn.id)).toString();
  assert.match(text, /Final-Recipient: rfc822; carol@c\.test\r\nAction: failed\r\nStatus: 5\.0\.0\r\n/);
  assert.match(text, /Diagnostic-Code: smtp; 554 5\.0\.0 delivery cancelled by the administrator/);
});
