// The server started as a user starts it (`yubin serve --config FILE`): every listener opens,
// administration commands take effect while it runs, and SIGTERM drains and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startYubin } from '../helpers/server.js';
import { LineClient } from '../helpers/lineclient.js';

test('yubin serve: listeners, live administration, clean shutdown', async (t) => {
  const y = await startYubin({ hostname: 'mail.a.test', domains: ['a.test'], users: [{ address: 'alice@a.test', password: 'alice pw' }] });
  t.after(() => y.destroy());

  // Every listener is open and speaks its protocol.
  for (const name of ['smtp', 'submission'] as const) {
    const c = await LineClient.connect(y.port(name));
    assert.match(await c.smtpReply(), /^220 mail\.a\.test/);
    c.close();
  }
  {
    const c = await LineClient.connect(y.port('submissions'), '127.0.0.1', { tls: true });
    assert.match(await c.smtpReply(), /^220 /);
    c.close();
  }
  for (const [name, tls] of [['imap', false], ['imaps', true]] as const) {
    const c = await LineClient.connect(y.port(name), '127.0.0.1', { tls });
    assert.match(await c.waitFor(/\r\n/), /^\* OK/);
    c.close();
  }
  for (const [name, tls] of [['pop3', false], ['pop3s', true]] as const) {
    const c = await LineClient.connect(y.port(name), '127.0.0.1', { tls });
    assert.match(await c.waitFor(/\r\n/), /^\+OK/);
    c.close();
  }

  // A self-signed certificate was generated in data_dir, key private to the owner.
  const key = join(y.dataDir, 'tls', 'key.pem');
  assert.ok(existsSync(key), 'generated key in data_dir/tls');
  assert.equal(statSync(key).mode & 0o077, 0, 'key is not readable by others');

  // Administration while the server runs: a new user is known at once, with no restart.
  const smtp = await LineClient.connect(y.port('smtp'));
  await smtp.smtpReply();
  assert.match(await smtp.smtp('EHLO client.test'), /^250 /m);
  assert.match(await smtp.smtp('MAIL FROM:<someone@elsewhere.test>'), /^250 /);
  assert.match(await smtp.smtp('RCPT TO:<carol@a.test>'), /^550 5\.1\.1/);
  const added = await y.cli(['user', 'add', 'carol@a.test', '--password', 'carol pw']);
  assert.equal(added.code, 0, added.stderr);
  assert.match(await smtp.smtp('RCPT TO:<carol@a.test>'), /^250 /);
  assert.match(await smtp.smtp('DATA'), /^354 /);
  const reply = await smtp.smtp('From: Someone <someone@elsewhere.test>\r\nTo: carol@a.test\r\nSubject: hello\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@elsewhere.test>\r\n\r\nHi Carol.\r\n.');
  assert.match(reply, /^250 /);
  assert.match(await smtp.smtp('QUIT'), /^221 /);
  smtp.close();
  const shown = await y.cli(['user', 'show', 'carol@a.test']);
  assert.match(shown.stdout, /INBOX[^:]*: 1 messages/);

  // SIGTERM: drain and exit 0.
  assert.equal(await y.stop(), 0);
});
