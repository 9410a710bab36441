// COPY and MOVE (RFC 9051 §6.4.7, RFC 6851), COPYUID (RFC 4315), quota. Junk verdicts from IMAP
// moves: test/integration/imap-junk-verdicts.test.ts (outside src/imap: it reads the checks' log).
import { test } from 'node:test';
import { useImapContext, createImapTestContext, message } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('COPY and MOVE with COPYUID; TRYCREATE', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CREATE Moved')).ok();
  (await c.cmd('SELECT INBOX')).ok();
  const u = await c.append('INBOX', message('ToMove'));
  (await c.cmd('NOOP')).ok();
  (await c.cmd(`UID COPY ${u} Nowhere`)).no('TRYCREATE');
  const cp = (await c.cmd(`UID COPY ${u} Moved`)).ok();
  cp.has(/\[COPYUID \d+ \d+ 1\]/);
  const mv = (await c.cmd(`UID MOVE ${u} Moved`)).ok();
  mv.has(/\* OK \[COPYUID \d+ \d+ 2\]/).has(/\* \d+ EXPUNGE/);
  (await c.cmd('STATUS Moved (MESSAGES)')).ok().has('MESSAGES 2');
});

test('quota: COPY over quota is refused with OVERQUOTA and nothing copied', async () => {
  const q = await createImapTestContext({ quota: 1500 });
  try {
    const c = await q.connect();
    await c.login();
    await c.append('INBOX', message('one', 'y'.repeat(900)));
    (await c.cmd('SELECT INBOX')).ok();
    (await c.cmd('COPY 1 Archive')).no('OVERQUOTA');
    (await c.cmd('STATUS Archive (MESSAGES)')).ok().has('MESSAGES 0');
  } finally {
    await q.close();
  }
});

