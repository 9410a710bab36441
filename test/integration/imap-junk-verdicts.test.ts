// IMAP COPY/MOVE into and out of Junk record the user's verdict in the checks' log (the store's
// messages-copied events, observed by the checks). Kept outside src/imap: IMAP never imports the checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useImapContext, message, USER } from '../helpers/imap-context.js';
import { openSpamPrefs } from '../../src/checks/index.js';

const t = useImapContext();

test('moving mail into and out of Junk is remembered as the user\'s verdict', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('SELECT INBOX')).ok();
  const u = await c.append('INBOX', message('Verdict'));
  (await c.cmd('NOOP')).ok();
  const mv = (await c.cmd(`UID MOVE ${u} Junk`)).ok();
  const junkUid = Number(/COPYUID \d+ \d+ (\d+)/.exec(mv.text)![1]);
  const prefs = openSpamPrefs(t.ctx.config.data_dir);
  const [blob] = (await t.store.getMessages((await t.store.getMailbox(t.accountId, 'Junk'))!.id, [junkUid])).map((m) => m.blobId);
  assert.deepEqual(prefs.listVerdicts(USER).map((v) => [v.blobId, v.verdict]), [[blob, 'spam']]);
  (await c.cmd('SELECT Junk')).ok();
  (await c.cmd(`UID COPY ${junkUid} Archive`)).ok();
  assert.deepEqual(prefs.listVerdicts(USER).map((v) => v.verdict).sort(), ['ham', 'spam']);
  (await c.cmd(`UID COPY ${junkUid} Trash`)).ok();
  assert.equal(prefs.listVerdicts(USER).length, 2, 'into Trash says nothing');
});
