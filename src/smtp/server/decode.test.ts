// Decoding client input (issue 10 item 6): every encoded parameter that does not decode is the
// client's syntax error (501 5.5.4, counted toward smtp.max_errors), never "451 Internal error"
// with an error-level log line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { PipeTransport } from '../../../test/helpers/pipe.js';
import { createLogger } from '../../log/logger.js';
import { createTestEnv, type TestEnv } from '../../../test/helpers/smtp-context.js';
import { cmd } from '../../../test/helpers/smtp-transcript.js';

let env: TestEnv;
/** Log records at level error (50) or above, as JSON lines. */
const errors: string[] = [];
before(async () => {
  env = await createTestEnv({ smtp: { max_errors: 4 } });
  await env.store.addDomain('a.test');
  await env.store.addAccount('alice@a.test', 'x');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line && (JSON.parse(line) as { level: number }).level >= 50) errors.push(line);
      done();
    },
  });
  env.ctx.logger = createLogger('info', sink);
});
after(() => env.close());

async function open(): Promise<PipeTransport> {
  const t = new PipeTransport('smtp');
  t.attach(env.factory);
  await t.waitFor(/^220 .*\r\n/);
  assert.match(await cmd(t, 'EHLO c.b.test'), /^250[ -]/);
  assert.match(await cmd(t, 'MAIL FROM:<x@b.test> SMTPUTF8'), /^250 /);
  return t;
}

test('ORCPT=utf-8 with an escape that is no Unicode scalar value: 501 5.5.4, counted, no error log', async () => {
  const t = await open();
  for (const hex of ['110000', 'D800', 'FFFFFF']) {
    assert.match(await cmd(t, `RCPT TO:<alice@a.test> ORCPT=utf-8;\\x{${hex}}`), /^501 5\.5\.4 /, hex);
  }
  // A good escape still works in the same transaction
  assert.match(await cmd(t, 'RCPT TO:<alice@a.test> ORCPT=utf-8;j\\x{F6}ran@b.test'), /^250 /);
  // The fourth error reaches smtp.max_errors: 501, then 421 and the connection closes
  t.send('RCPT TO:<alice@a.test> ORCPT=utf-8;\\x{110000}\r\n');
  assert.match(await t.waitFor(/421 4\.7\.0 .*\r\n/), /^501 5\.5\.4 .*\r\n421 4\.7\.0 .*Too many errors/);
  assert.ok(t.closed);
  assert.deepEqual(errors, []);
});

test('other encoded parameters that do not decode: ORCPT xtext, ENVID, AUTH= are 501 5.5.4', async () => {
  const t = await open();
  assert.match(await cmd(t, 'RCPT TO:<alice@a.test> ORCPT=rfc822;a+FFb@b.test'), /^501 5\.5\.4 /);
  assert.match(await cmd(t, 'RCPT TO:<alice@a.test> ORCPT=rfc822;a+0Gb@b.test'), /^501 5\.5\.4 /);
  assert.match(await cmd(t, 'RSET'), /^250 /);
  assert.match(await cmd(t, 'MAIL FROM:<x@b.test> ENVID=a+C3+28'), /^501 5\.5\.4 /);
  assert.equal(t.closed, false);
  // A new connection: smtp.max_errors is 4 here
  const u = await open();
  assert.match(await cmd(u, 'RSET'), /^250 /);
  assert.match(await cmd(u, 'MAIL FROM:<x@b.test> AUTH=a+0Gb@b.test'), /^501 5\.5\.4 /);
  assert.match(await cmd(u, 'MAIL FROM:<x@b.test> AUTH=a+E2+82@b.test'), /^501 5\.5\.4 /);
  assert.equal(u.closed, false);
  assert.deepEqual(errors, []);
});
