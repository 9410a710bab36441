// Transcript tests: DSN parameters (RFC 3461) at MAIL and RCPT, and success notifications.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd } from '../../../test/helpers/smtp-transcript.js';
import { MSG, open, setup } from '../../../test/helpers/smtp-session.js';

describe('smtp session: DSN parameters (RFC 3461)', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv();
    await setup(env);
  });
  after(() => env.close());

  test('DSN parameters are validated and kept for the queue', async () => {
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test> RET=HDRS ENVID=abc+2Bdef'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<fwd@a.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bx@b.test'), /^250/);
    assert.match(await cmd(t, 'RCPT TO:<bob@a.test> NOTIFY=NEVER,DELAY'), /^501 5\.5\.4/);
    assert.match(await cmd(t, 'RCPT TO:<bob@a.test> ORCPT=rfc822;a+0Db'), /^501 5\.5\.4/);
    assert.match(await cmd(t, 'DATA'), /^354/);
    const r = await cmd(t, MSG + '.');
    const id = /queued as (\S+)/.exec(r)![1];
    const q = (await env.outbound.list()).find((x) => x.id === id)!;
    assert.equal(q.ret, 'HDRS');
    assert.equal(q.envid, 'abc+def');
    assert.deepEqual(q.recipients, [{ address: 'carol@remote.test', notify: ['SUCCESS', 'FAILURE'], orcpt: { type: 'rfc822', address: 'orig+x@b.test' } }]);
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test> RET=ALL'), /^501/);
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test> ENVID=a+0Ab'), /^501/);
    assert.match(await cmd(t, 'MAIL FROM:<x@b.test> REQUIRETLS'), /^530 5\.7\.10/);
  });

  test('NOTIFY=SUCCESS on a local recipient: a delivered DSN goes to the sender through the queue', async () => {
    const before = (await env.outbound.list()).length;
    const t = await open(env);
    await cmd(t, 'EHLO c.test');
    await cmd(t, 'MAIL FROM:<sender@b.test> ENVID=env1');
    await cmd(t, 'RCPT TO:<alice@a.test> NOTIFY=SUCCESS ORCPT=rfc822;alice@a.test');
    await cmd(t, 'RCPT TO:<bob@a.test>');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, MSG + '.'), /^250/);
    const q = (await env.outbound.list()).slice(before);
    assert.equal(q.length, 1);
    assert.equal(q[0]!.from, '');
    assert.deepEqual(q[0]!.recipients, [{ address: 'sender@b.test', notify: ['NEVER'] }]);
    const dsn = q[0]!.bytes.toString();
    assert.match(dsn, /Action: delivered/);
    assert.match(dsn, /Original-Envelope-Id: env1/i);
    assert.equal(dsn.match(/Action:/g)!.length, 1, 'only the recipient that asked');
    // Nothing for the null sender.
    await cmd(t, 'MAIL FROM:<>');
    await cmd(t, 'RCPT TO:<alice@a.test> NOTIFY=SUCCESS');
    await cmd(t, 'DATA');
    assert.match(await cmd(t, MSG + '.'), /^250/);
    assert.equal((await env.outbound.list()).length, before + 1);
  });
});
