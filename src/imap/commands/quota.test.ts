// QUOTA (RFC 9208).
import { test } from 'node:test';
import { useImapContext, createImapTestContext, message } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('quota: GETQUOTAROOT, OVERQUOTA on APPEND, SETQUOTA refused', async () => {
  const q = await createImapTestContext({ quota: 2048 });
  try {
    const c = await q.connect();
    await c.login();
    (await c.cmd('GETQUOTAROOT INBOX')).ok().has('* QUOTAROOT INBOX ""').has('* QUOTA "" (STORAGE 0 2)');
    await c.append('INBOX', message('fits'));
    const big = message('big', 'x'.repeat(3000));
    c.send(`q1 APPEND INBOX {${big.length}}\r\n`);
    await c.pipe.waitFor('+ ');
    c.send(big + '\r\n');
    (await c.reply('q1')).no('OVERQUOTA');
    (await c.cmd('SETQUOTA "" (STORAGE 100)')).no('NOPERM');
  } finally {
    await q.close();
  }
});
